# syntax=docker/dockerfile:1
# The wrapped-gateway controller image. The Helm chart (helm/wrapped-gateway) runs it with
# `args: [run, ...]`: the ENTRYPOINT is `wrapped-gateway`, the default CMD `run`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: build the wheel and install it with its dependencies into a venv -------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY wrapped_gateway ./wrapped_gateway
RUN pip wheel . --no-deps --wheel-dir /wheels \
 && python -m venv --without-pip /opt/wrapped-gateway \
 && pip --python /opt/wrapped-gateway/bin/python install --compile /wheels/*.whl

# --- final: the venv on a slim Python, no pip, no compilers, non-root ----------------------
FROM ${PYTHON_IMAGE}
# The venv's interpreter links to this image's /usr/local/bin/python3.11 (same base as builder).
COPY --from=builder /opt/wrapped-gateway /opt/wrapped-gateway
# Nothing installs packages at run time: remove the base image's pip and setuptools, and add
# the non-root user (uid/gid 65532, as the chart's securityContext says).
RUN python -m pip uninstall --yes --quiet pip setuptools wheel 2>/dev/null || true \
 && groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin nonroot
ENV PATH=/opt/wrapped-gateway/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
# metrics, health (/healthz, /readyz)
EXPOSE 8080 8081
ENTRYPOINT ["wrapped-gateway"]
CMD ["run"]
