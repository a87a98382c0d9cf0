"""Container images without a Docker engine or a registry: the controller's and the pause image.

No registry is reachable from the machines this runs on, so the controller image is built from
the project's own ``Dockerfile`` with buildah (a Debian package) on a base made here: a Debian
rootfs from ``mmdebstrap`` with Python, imported as a local image and passed as the Dockerfile's
``PYTHON_IMAGE``. The pause image (every Pod's sandbox) is ``build/pause/linux/pause.c`` of the
pinned k8s.io/kubernetes module, compiled statically into a ``FROM scratch`` image.

Each image ends up as a docker-archive tarball under ``<cache>/images/``, named by a hash of
what it is built from (the Dockerfile and the files it copies, the base's mmdebstrap command,
pause.c), so a warm run builds nothing. buildah keeps its own storage and configuration under
``<cache>/containers/``: its defaults (crun, its own ulimits) do not work on this machine (see
``containers_conf``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .build import KUBERNETES_MODULE, REPO_ROOT, _file_lock, cache_dir, go_mod_download
from .reporting import ClusterError, log, run_checked, timed

# `docker build -t wrapped-gateway:<appVersion> .` names the image this (what the chart's default
# `image.repository` refers to); buildah would name it localhost/..., so the archive says so.
CONTROLLER_REPOSITORY = "docker.io/library/wrapped-gateway"
PAUSE_REPOSITORY = "localhost/local-cluster-pause"
# What the Dockerfile needs of its base: `python` (hence python-is-python3), venv and pip for
# the builder stage; useradd is in minbase. CA certificates for pip.
BASE_PACKAGES = (
    "python3.11",
    "python3-venv",
    "python3-pip",
    "python-is-python3",
    "ca-certificates",
)
BASE_SUITE = "bookworm"
# The host's CA bundle: the package registries are reached through a TLS proxy only the host
# trusts, so pip inside the build must use it (mounted read-only over the image's bundle).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEB_TOOLS = {"buildah": "buildah", "mmdebstrap": "mmdebstrap", "runc": "runc", "gcc": "gcc"}


@dataclass(frozen=True)
class BuiltImage:
    """An image as a docker-archive tarball, and the reference it carries."""

    reference: str
    archive: Path


def _images_dir() -> Path:
    return cache_dir() / "images"


def _containers_dir() -> Path:
    return cache_dir() / "containers"


def containers_conf() -> Path:
    """buildah's containers.conf: runc, and limits root may actually set here.

    crun (buildah's default) refuses cgroups in hybrid mode ("cgroups in hybrid mode not
    supported"); runc works. buildah raises RUN steps' nofile and nproc limits above what
    root without CAP_SYS_RESOURCE may set, unless told these.
    """
    path = _containers_dir() / "containers.conf"
    text = (
        "# written by hack/local-cluster (image.py)\n"
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def _buildah(*args: str, what: str, log_file: Path) -> str:
    missing = [t for t in DEB_TOOLS if shutil.which(t) is None]
    if missing:
        raise ClusterError(
            f"building images needs {', '.join(missing)} (Debian packages: "
            f"apt-get install -y {' '.join(DEB_TOOLS[t] for t in missing)})"
        )
    store = _containers_dir()
    env = {**os.environ, "CONTAINERS_CONF": str(containers_conf())}
    argv = [
        "buildah",
        f"--root={store / 'storage'}",
        f"--runroot={store / 'run'}",
        "--storage-driver=overlay",
        *args,
    ]
    return run_checked(argv, what=what, log_file=log_file, env=env).strip()


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def _build_context_files() -> list[Path]:
    """What the Dockerfile reads: itself, .dockerignore and the files it copies."""
    files = [REPO_ROOT / n for n in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md")]
    package = REPO_ROOT / "wrapped_gateway"
    files += sorted(
        p
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )
    return files


def chart_app_version() -> str:
    chart: dict[str, Any] = yaml.safe_load(
        (REPO_ROOT / "helm/wrapped-gateway/Chart.yaml").read_text()
    )
    return str(chart["appVersion"])


def _base_image(log_file: Path, timings: dict[str, float] | None) -> str:
    """The Dockerfile's PYTHON_IMAGE: a minbase Debian with Python, as a local image."""
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(BASE_PACKAGES)}",
        BASE_SUITE,
    ]
    key = _digest([" ".join(argv).encode()])
    name = f"localhost/wrapped-gateway-python-base:{key}"
    if _buildah(
        "images",
        "--quiet",
        "--filter",
        f"reference={name}",
        what="buildah images",
        log_file=log_file,
    ):
        return name
    rootfs = _images_dir() / f"python-base-{key}.tar"
    if not rootfs.exists():
        tmp = rootfs.with_name(f".{rootfs.name}.tmp-{os.getpid()}")
        with timed("mmdebstrap the image's Python base", timings):
            run_checked([*argv, str(tmp)], what="mmdebstrap", log_file=log_file)
        tmp.replace(rootfs)
    with timed("import the Python base into buildah", timings):
        container = _buildah("from", "scratch", what="buildah from scratch", log_file=log_file)
        try:
            _buildah(
                "add", container, str(rootfs), "/", what="buildah add rootfs", log_file=log_file
            )
            _buildah("commit", "--quiet", container, name, what="buildah commit", log_file=log_file)
        finally:
            _buildah("rm", container, what="buildah rm", log_file=log_file)
    return name


def _push_archive(image: str, reference: str, archive: Path, log_file: Path) -> None:
    tmp = archive.with_name(f".{archive.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    _buildah(
        "push",
        "--quiet",
        image,
        f"docker-archive:{tmp}:{reference}",
        what="buildah push docker-archive",
        log_file=log_file,
    )
    tmp.replace(archive)


def ensure_controller_image(timings: dict[str, float] | None = None) -> BuiltImage:
    """The controller image from ``Dockerfile``, tagged with the chart's appVersion.

    Cached by the content of the build context and the base's recipe: a warm run only
    hashes the files.
    """
    reference = f"{CONTROLLER_REPOSITORY}:{chart_app_version()}"
    files = _build_context_files()
    base_recipe = f"{BASE_SUITE} {' '.join(BASE_PACKAGES)}".encode()
    key = _digest(
        [
            base_recipe,
            *(str(f.relative_to(REPO_ROOT)).encode() + b"\0" + f.read_bytes() for f in files),
        ]
    )
    archive = _images_dir() / f"wrapped-gateway-{key}.tar"
    if archive.exists():
        log(f"cached: image {reference} ({archive})")
        return BuiltImage(reference, archive)
    with _file_lock(cache_dir() / "locks" / "image-wrapped-gateway.lock"):
        if archive.exists():
            return BuiltImage(reference, archive)
        _images_dir().mkdir(parents=True, exist_ok=True)
        log_file = _images_dir() / "build.log"
        log(f"building image {reference} from Dockerfile (log: {log_file})")
        base = _base_image(log_file, timings)
        local = f"localhost/wrapped-gateway:{key}"
        with timed("buildah bud Dockerfile", timings):
            _buildah(
                "bud",
                "--quiet",
                "--layers=false",
                f"--build-arg=PYTHON_IMAGE={base}",
                f"--volume={HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro",
                f"--tag={local}",
                f"--file={REPO_ROOT / 'Dockerfile'}",
                str(REPO_ROOT),
                what="buildah bud Dockerfile",
                log_file=log_file,
            )
        _push_archive(local, reference, archive, log_file)
        _buildah("rmi", local, what="buildah rmi", log_file=log_file)
    return BuiltImage(reference, archive)


def ensure_pause_image(
    versions: dict[str, Any], timings: dict[str, float] | None = None
) -> BuiltImage:
    """The Pod sandbox image: the pinned Kubernetes' pause.c, static, in a scratch image."""
    version = versions["kubernetes_node"]["version"]
    source = Path(go_mod_download(KUBERNETES_MODULE, version)["Dir"]) / "build/pause/linux/pause.c"
    key = _digest([version.encode(), source.read_bytes()])
    reference = f"{PAUSE_REPOSITORY}:{version}"
    archive = _images_dir() / f"pause-{key}.tar"
    if archive.exists():
        log(f"cached: image {reference} ({archive})")
        return BuiltImage(reference, archive)
    with _file_lock(cache_dir() / "locks" / "image-pause.lock"):
        if archive.exists():
            return BuiltImage(reference, archive)
        work = _images_dir() / f"pause-{key}"
        work.mkdir(parents=True, exist_ok=True)
        log_file = _images_dir() / "build.log"
        with timed("build the pause image", timings):
            run_checked(
                [
                    "gcc",
                    "-Os",
                    "-static",
                    "-Wall",
                    "-Werror",
                    f"-DVERSION={version}",
                    "-o",
                    str(work / "pause"),
                    str(source),
                ],
                what="gcc pause.c",
                log_file=log_file,
            )
            subprocess.run(["strip", str(work / "pause")], check=False)
            container = _buildah("from", "scratch", what="buildah from scratch", log_file=log_file)
            try:
                _buildah(
                    "copy",
                    container,
                    str(work / "pause"),
                    "/pause",
                    what="buildah copy",
                    log_file=log_file,
                )
                _buildah(
                    "config",
                    "--entrypoint",
                    '["/pause"]',
                    "--user",
                    "65535:65535",
                    container,
                    what="buildah config",
                    log_file=log_file,
                )
                local = f"localhost/local-cluster-pause:{key}"
                _buildah(
                    "commit", "--quiet", container, local, what="buildah commit", log_file=log_file
                )
            finally:
                _buildah("rm", container, what="buildah rm", log_file=log_file)
            _push_archive(local, reference, archive, log_file)
            _buildah("rmi", local, what="buildah rmi", log_file=log_file)
        shutil.rmtree(work, ignore_errors=True)
    return BuiltImage(reference, archive)
