"""Backends for real traffic: a test host in a network namespace, reachable from the Gateway.

The data plane (Traefik, started by ``hack/local-cluster up --with-data-plane``) runs as a plain
process on this machine and sends traffic to the addresses in a Service's EndpointSlices. The
API server refuses EndpointSlices that point at loopback, so the backends live on a test host of
their own: a network namespace joined to this one by a veth pair, with a private /30 out of
10.213.0.0/16 (used by this project for nothing else): 10.213.N.1 on this side, 10.213.N.2 on the
backend side. Each backend is a tiny HTTP (or HTTPS: it terminates TLS itself, for TLS
passthrough) server on a port of 10.213.N.2 that answers every request with
``backend NAME answered HOST PATH`` and logs it. Routes keep ordinary Service backendRefs; there
is no endpoint controller, so the EndpointSlice that points the Service at the test host is made
by hand (``service_manifests``).

Needs root (``ip netns``). Used by tests/e2e/test_data_plane.py and
``hack/demo.py --with-data-plane``. Run as a script, this file is the backend server:
``python3 netns_backend.py serve --name NAME --address ADDR --port PORT [--cert F --key F]``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_cluster import stop_process

NETNS_PREFIX = "wg-backends-"  # + "<pid of the creator>-<N>"
SUBNET = "10.213"
PORT_NAME = "http"  # the Service port and the EndpointSlice port share it (Traefik pairs by name)


class BackendError(RuntimeError):
    pass


def _ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackendError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def available() -> str | None:
    """None if a test host can be made here, else why not."""
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not on PATH"
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    return None


def _remove_stale_namespaces() -> None:
    """Delete the test-host namespaces of creators that died without cleaning up."""
    for line in _ip("netns", "list").splitlines():
        m = re.match(rf"{NETNS_PREFIX}(\d+)-\d+\b", line)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            with contextlib.suppress(BackendError):
                _ip("netns", "delete", line.split()[0])


@dataclass
class Backend:
    name: str
    address: str
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def requests(self) -> list[str]:
        """``HOST PATH`` of each request this backend answered."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line.removeprefix("request ") for line in lines if line.startswith("request ")]


@dataclass
class BackendHost:
    """A network namespace with an address (``address``) this machine routes to."""

    netns: str
    address: str
    work_dir: Path
    backends: dict[str, Backend] = field(default_factory=dict)

    @classmethod
    def create(cls, work_dir: Path) -> BackendHost:
        reason = available()
        if reason:
            raise BackendError(reason)
        _remove_stale_namespaces()
        used = set(re.findall(rf"\b{re.escape(SUBNET)}\.(\d+)\.", _ip("-o", "-4", "addr", "show")))
        used |= {m.group(1) for m in re.finditer(rf"{NETNS_PREFIX}\d+-(\d+)", _ip("netns", "list"))}
        free = next((n for n in range(256) if str(n) not in used), None)
        if free is None:
            raise BackendError(f"no free /30 left in {SUBNET}.0.0/16")
        netns = f"{NETNS_PREFIX}{os.getpid()}-{free}"
        outside, inside = f"wgb{free}o", f"wgb{free}i"
        host = cls(netns, f"{SUBNET}.{free}.2", work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        _ip("netns", "add", netns)
        try:
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside, "netns", netns)
            _ip("addr", "add", f"{SUBNET}.{free}.1/30", "dev", outside)
            _ip("link", "set", outside, "up")
            _ip("-n", netns, "addr", "add", f"{host.address}/30", "dev", inside)
            _ip("-n", netns, "link", "set", inside, "up")
            _ip("-n", netns, "link", "set", "lo", "up")
        except BaseException:
            host.close()
            raise
        return host

    def serve(
        self, name: str, port: int, *, tls: tuple[Path, Path] | None = None, timeout: float = 15
    ) -> Backend:
        """Start a backend on ``address:port`` inside the namespace; return once it accepts."""
        argv = [
            sys.executable, __file__, "serve",
            "--name", name, "--address", self.address, "--port", str(port),
        ]  # fmt: skip
        if tls:
            argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
        return self.run(name, argv, port, timeout=timeout)

    def run(self, name: str, argv: list[str], port: int, *, timeout: float = 15) -> Backend:
        """Start any server program inside the namespace; return once ``address:port`` accepts.

        Its output is the backend's log; the backend servers of ``serve`` log each request.
        """
        log = self.work_dir / f"backend-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        backend = Backend(name, self.address, port, log, process)
        self.backends[name] = backend
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise BackendError(f"backend {name} exited: {log.read_text(errors='replace')}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.address, port), timeout=1),
            ):
                return backend
            if time.monotonic() > deadline:
                raise BackendError(f"backend {name} is not reachable on {self.address}:{port}")
            time.sleep(0.1)

    def close(self) -> None:
        """Stop the backends this host started and delete the namespace (and the veth pair)."""
        for backend in self.backends.values():
            stop_process(backend.process, timeout=10)
        self.backends.clear()
        with contextlib.suppress(BackendError):
            _ip("netns", "delete", self.netns)  # takes the veth pair with it

    def __enter__(self) -> BackendHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def service_manifests(
    namespace: str, name: str, port: int, backend: Backend
) -> list[dict[str, Any]]:
    """A Service (port ``port``, no selector) and the EndpointSlice pointing it at ``backend``."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "ports": [
                {"name": PORT_NAME, "port": port, "targetPort": backend.port, "protocol": "TCP"}
            ]
        },
    }
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
        "endpoints": [{"addresses": [backend.address], "conditions": {"ready": True}}],
        "ports": [{"name": PORT_NAME, "port": backend.port, "protocol": "TCP"}],
    }
    return [service, endpoint_slice]


def apply_service(api_client: Any, namespace: str, name: str, port: int, backend: Backend) -> None:
    """Server-side apply ``service_manifests`` with a kubernetes.client.ApiClient."""
    from kubernetes import client  # noqa: PLC0415 - only the callers that apply need it

    service, endpoint_slice = service_manifests(namespace, name, port, backend)
    apply = {
        "field_manager": "test-host",
        "force": True,
        "_content_type": "application/apply-patch+yaml",
    }
    client.CoreV1Api(api_client).patch_namespaced_service(name, namespace, service, **apply)
    client.DiscoveryV1Api(api_client).patch_namespaced_endpoint_slice(
        endpoint_slice["metadata"]["name"], namespace, endpoint_slice, **apply
    )


# --------------------------------------------------------------------------------------
# the backend server (runs inside the namespace)


def _serve(name: str, address: str, port: int, cert: str | None, key: str | None) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            host = self.headers.get("Host", "")
            body = f"backend {name} answered {host} {self.path}\n".encode()
            print(f"request {host} {self.path}", flush=True)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, port), Handler)
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    print(f"serving {name} on {address}:{port}{' (TLS)' if cert else ''}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netns_backend")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="answer HTTP(S) requests with the backend's name")
    serve.add_argument("--name", required=True)
    serve.add_argument("--address", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--cert")
    serve.add_argument("--key")
    args = parser.parse_args(argv)
    _serve(args.name, args.address, args.port, args.cert, args.key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
