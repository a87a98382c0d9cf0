"""What the Kamaji and vCluster end-to-end tests share: their cluster, a TLS client that keeps
the server's certificate bytes, and a Service with several ports on the test host."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import local_cluster
import netns_backend
import pytest
from kubernetes import client

from tests.e2e.data_plane import cannot_run

REUSE_ENV = "WRAPPED_GATEWAY_PLATFORMS_DIR"

APPLY = {
    "field_manager": "test-host",
    "force": True,
    "_content_type": "application/apply-patch+yaml",
}


def data_plane_cluster(
    state_dir: Path, ports: tuple[int, ...], crd_dirs: tuple[Path, ...] = ()
) -> Iterator[local_cluster.State]:
    """A control plane with cert-manager and Traefik on ``ports`` of 127.0.0.1, for a module.

    ``WRAPPED_GATEWAY_PLATFORMS_DIR``: the state directory of a running
    ``hack/local-cluster up --with-cert-manager --with-data-plane --data-plane-ports PORTS
    [--crds DIR]`` to use instead.
    """
    cannot_run(netns_backend.available() or (None if shutil.which("curl") else "needs curl"))
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        yield local_cluster.State.load(Path(reuse).resolve())
        return
    taken = [port for port in ports if not _free(port)]
    if taken:
        pytest.fail(f"Traefik needs 127.0.0.1:{taken[0]}, which is taken", pytrace=False)
    try:
        state = local_cluster.up(
            state_dir,
            local_cluster.ClusterOptions(
                with_cert_manager=True,
                with_data_plane=True,
                data_plane_ports=ports,
                extra_crd_dirs=crd_dirs,
            ),
        )
    except local_cluster.ClusterError as e:
        pytest.fail(f"hack/local-cluster up --with-data-plane failed: {e}", pytrace=False)
    try:
        yield state
    finally:
        local_cluster.down(state_dir)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Reply:
    """What a TLS client with SNI ``hostname`` got from 127.0.0.1:port."""

    certificate: bytes  # the server's certificate, DER
    body: str


def tls_get(hostname: str, port: int, ca: Path) -> Reply:
    """``GET /`` over TLS to 127.0.0.1:port with SNI ``hostname``, verifying the server's
    certificate against ``ca`` for ``hostname``; keeps the certificate's bytes."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        certificate = tls.getpeercert(binary_form=True) or b""
        request = f"GET / HTTP/1.1\r\nHost: {hostname}:{port}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    _, _, body = b"".join(chunks).decode(errors="replace").partition("\r\n\r\n")
    return Reply(certificate, body)


def der(pem: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.read_text())


def apply_multi_port_service(
    api: client.ApiClient,
    namespace: str,
    name: str,
    ports: list[tuple[str, int, netns_backend.Backend]],
) -> None:
    """A Service ``name`` with the given (port name, port, backend) and its EndpointSlice to the
    test host (Traefik pairs Service and EndpointSlice ports by name)."""
    service: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ports": [
                {"name": port_name, "port": port, "targetPort": backend.port, "protocol": "TCP"}
                for port_name, port, backend in ports
            ]
        },
    }
    addresses = {backend.address for _, _, backend in ports}
    assert len(addresses) == 1, "one EndpointSlice: every backend on the same test host"
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-test-host",
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "wrapped-gateway.dev-test-host",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": sorted(addresses), "conditions": {"ready": True}}],
        "ports": [
            {"name": port_name, "port": backend.port, "protocol": "TCP"}
            for port_name, _, backend in ports
        ],
    }
    client.CoreV1Api(api).patch_namespaced_service(name, namespace, service, **APPLY)
    client.DiscoveryV1Api(api).patch_namespaced_endpoint_slice(
        endpoint_slice["metadata"]["name"], namespace, endpoint_slice, **APPLY
    )
