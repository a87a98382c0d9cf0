"""Helpers for tests that send real traffic through Traefik (``up --with-data-plane``)."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import eventually

CM = "cert-manager.io"
GW = "gateway.networking.k8s.io"
TRAEFIK = "traefik.io/gateway-controller"
ROOT_ISSUER = "data-plane-root"  # self-signed; signs only the CA below
CA_ISSUER = "data-plane-ca"  # a CA issuer: every certificate verifies against one CA
CA_NAMESPACE = "kube-system"  # cert-manager's cluster resource namespace (hack/local-cluster)
APPLY = {"field_manager": "e2e", "force": True, "_content_type": "application/apply-patch+yaml"}


# Set by .ci/run: there the data plane was built to be proven, so a machine that cannot run it
# fails instead of passing without having tried.
REQUIRE_ENV = "WRAPPED_GATEWAY_REQUIRE_DATA_PLANE"


def cannot_run(reason: str | None) -> None:
    """Skip the test when `reason` says this machine cannot run the data plane (fail in CI)."""
    if reason is None:
        return
    message = f"real traffic needs a test host: {reason}"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(message)


def _ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def ca_issuer(custom: client.CustomObjectsApi, core: client.CoreV1Api, pem: Path) -> str:
    """A self-signed root, a CA Certificate from it and a CA ClusterIssuer; writes the CA to
    ``pem`` and returns the CA issuer's name."""
    root = {"apiVersion": f"{CM}/v1", "kind": "ClusterIssuer", "metadata": {"name": ROOT_ISSUER}}
    root["spec"] = {"selfSigned": {}}
    custom.patch_cluster_custom_object(CM, "v1", "clusterissuers", ROOT_ISSUER, root, **APPLY)
    certificate = {
        "apiVersion": f"{CM}/v1",
        "kind": "Certificate",
        "metadata": {"name": CA_ISSUER, "namespace": CA_NAMESPACE},
        "spec": {
            "isCA": True,
            "commonName": "wrapped-gateway data-plane test CA",
            "secretName": CA_ISSUER,
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": ROOT_ISSUER, "kind": "ClusterIssuer", "group": CM},
        },
    }
    custom.patch_namespaced_custom_object(
        CM, "v1", CA_NAMESPACE, "certificates", CA_ISSUER, certificate, **APPLY
    )
    eventually(
        lambda: _ready(
            custom.get_namespaced_custom_object(CM, "v1", CA_NAMESPACE, "certificates", CA_ISSUER)
        ),
        timeout=60,
    )
    issuer = {
        "apiVersion": f"{CM}/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": CA_ISSUER},
        "spec": {"ca": {"secretName": CA_ISSUER}},
    }
    custom.patch_cluster_custom_object(CM, "v1", "clusterissuers", CA_ISSUER, issuer, **APPLY)
    eventually(
        lambda: _ready(custom.get_cluster_custom_object(CM, "v1", "clusterissuers", CA_ISSUER)),
        timeout=60,
    )
    secret = core.read_namespaced_secret(CA_ISSUER, CA_NAMESPACE)
    pem.write_bytes(base64.b64decode(secret.data["tls.crt"]))
    return CA_ISSUER


def issue(
    core: client.CoreV1Api, namespace: str, name: str, *, dns_name: str, directory: Path
) -> tuple[Path, Path]:
    """A certificate for ``dns_name`` from the CA issuer, as (cert, key) files."""
    custom = client.CustomObjectsApi(core.api_client)
    certificate = {
        "apiVersion": f"{CM}/v1",
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "dnsNames": [dns_name],
            "secretName": name,
            "issuerRef": {"name": CA_ISSUER, "kind": "ClusterIssuer", "group": CM},
        },
    }
    custom.patch_namespaced_custom_object(
        CM, "v1", namespace, "certificates", name, certificate, **APPLY
    )
    eventually(
        lambda: _ready(
            custom.get_namespaced_custom_object(CM, "v1", namespace, "certificates", name)
        ),
        timeout=60,
    )
    data = core.read_namespaced_secret(name, namespace).data
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(base64.b64decode(data["tls.crt"]))
    key.write_bytes(base64.b64decode(data["tls.key"]))
    key.chmod(0o600)
    return cert, key


@dataclass
class Answer:
    """What ``curl`` got: exit code, body, and the server certificate's SANs and serial."""

    returncode: int
    body: str
    sans: list[str]
    serial: str
    stderr: str


CERTS_MARK = "\n--certificates--\n"


def curl(
    hostname: str, port: int, ca: Path | None, path: str = "/", address: str = "127.0.0.1"
) -> Answer:
    """``curl --resolve hostname:port:address --cacert ca https://hostname:port/path``.

    Without ``ca``, ``--insecure``. The server certificate is read from curl's ``%{certs}``.
    """
    trust = ["--cacert", str(ca)] if ca else ["--insecure"]
    proc = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--max-time", "5",
            "--resolve", f"{hostname}:{port}:{address}", *trust,
            "--write-out", CERTS_MARK + "%{certs}", f"https://{hostname}:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    body, _, certs = proc.stdout.partition(CERTS_MARK)
    first = certs.split("-----END CERTIFICATE-----", 1)[0]
    fields = dict(
        line.split(":", 1) for line in first.splitlines() if ":" in line and not line[:1].isspace()
    )
    sans = [n.strip() for n in fields.get("X509v3 Subject Alternative Name", "").split(",") if n]
    return Answer(proc.returncode, body, sans, fields.get("Serial Number", ""), proc.stderr)


def certificate_serial(pem: Path) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-serial", "-in", str(pem)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.strip().removeprefix("serial=").lower()


def listener_status(gateway: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Listener name -> {"attachedRoutes": n, condition type: (status, reason)} for the current
    generation, as Traefik reports it."""
    generation = gateway["metadata"]["generation"]
    result: dict[str, dict[str, Any]] = {}
    for listener in (gateway.get("status") or {}).get("listeners", []):
        summary: dict[str, Any] = {"attachedRoutes": listener.get("attachedRoutes", 0)}
        for condition in listener.get("conditions", []):
            if condition.get("observedGeneration", generation) == generation:
                summary[condition["type"]] = (condition["status"], condition["reason"])
        result[listener["name"]] = summary
    return result


def traefik_route_status(route: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Condition type -> (status, reason) of Traefik's parent status of a route."""
    for parent in (route.get("status") or {}).get("parents", []):
        if parent.get("controllerName") == TRAEFIK:
            return {c["type"]: (c["status"], c["reason"]) for c in parent.get("conditions", [])}
    return {}
