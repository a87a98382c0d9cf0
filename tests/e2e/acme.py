"""ACME for real: pebble (Let's Encrypt's test ACME server), a DNS server that points every name
at this machine, and cert-manager's HTTP-01 solver Pods run as processes.

There is no kubelet in these clusters, so the solver Pods cert-manager creates never run.
``SolverPods`` plays the kubelet's part for them alone: for each solver Pod it starts
cert-manager's own solver program (``acmesolver``, built from cert-manager's Go module by
hack/local-cluster) with the Pod's arguments, on a test host of its own (a network namespace,
``hack/netns_backend.py``), and points the Pod's Service at it with an EndpointSlice, as the
endpoint controller would for a running Pod. Everything else is the real path: the solver's
HTTPRoute, the Gateway implementation (Traefik) on port 80, cert-manager's self-check and
pebble's validation, both resolving the name through the DNS server.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import local_cluster
import netns_backend
from kubernetes import client

from tests.e2e.conftest import eventually

SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
SOLVER_PORT = 8089  # the port cert-manager's solver Pod listens on, and its Service's


@dataclass
class Pebble:
    url: str  # the ACME directory
    ca: bytes  # the CA bundle of pebble's own HTTPS endpoint (not of what it issues)
    log: Path

    def validations(self) -> list[str]:
        """The names pebble validated by HTTP-01 and found valid, from its log."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if "http-01" in line.lower() and "valid" in line.lower()]


@contextmanager
def mock_dns(work: Path) -> Iterator[str]:
    """pebble-challtestsrv answering every A query with 127.0.0.1; yields its address."""
    binary = local_cluster.ensure_binaries("pebble")["pebble-challtestsrv"]
    port = local_cluster.free_port()
    log = work / "challtestsrv.log"
    argv = [
        str(binary),
        "-defaultIPv4", "127.0.0.1",
        "-defaultIPv6", "",
        "-dnsserver", f"127.0.0.1:{port}",
        "-management", f"127.0.0.1:{local_cluster.free_port()}",
        "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:

        def answering() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):  # DNS over TCP
                    return True
            except OSError:
                return False

        eventually(answering, timeout=15)
        yield f"127.0.0.1:{port}"
    finally:
        local_cluster.stop_process(process, timeout=10)


@contextmanager
def pebble(work: Path, http_port: int, dns: str | None = None) -> Iterator[Pebble]:
    """A running pebble validating HTTP-01 on `http_port` of the address `dns` (a DNS server's
    host:port; None: this machine's resolver) gives for the name."""
    binary = local_cluster.ensure_binaries("pebble")["pebble"]
    versions = local_cluster.load_versions()["pebble"]
    module = Path(local_cluster.go_mod_download(versions["module"], versions["version"])["Dir"])
    certs = module / "test" / "certs"  # pebble's own test certificate for localhost/127.0.0.1
    port = local_cluster.free_port()
    config = {
        "pebble": {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{local_cluster.free_port()}",
            "certificate": str(certs / "localhost" / "cert.pem"),
            "privateKey": str(certs / "localhost" / "key.pem"),
            "httpPort": http_port,
            "tlsPort": local_cluster.free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (work / "pebble.json").write_text(json.dumps(config))
    log = work / "pebble.log"
    ca = (certs / "pebble.minica.pem").read_bytes()
    url = f"https://127.0.0.1:{port}/dir"
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                str(binary),
                "-config",
                str(work / "pebble.json"),
                *(["-dnsserver", dns] if dns else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    context = ssl.create_default_context(cadata=ca.decode())

    def serving() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                return bool(json.load(response).get("newOrder"))
        except OSError:
            return False

    try:
        eventually(serving, timeout=30)
        yield Pebble(url, ca, log)
    finally:
        local_cluster.stop_process(process, timeout=20)


class SolverPods:
    """Runs cert-manager's HTTP-01 solver Pods of the given namespaces as processes (see the
    module's docstring), until closed."""

    def __init__(self, api: client.ApiClient, namespaces: list[str], work: Path) -> None:
        self._api = api
        self._core = client.CoreV1Api(api)
        self._namespaces = namespaces
        self._work = work
        self._binary = local_cluster.ensure_binaries("acmesolver")["acmesolver"]
        self._hosts: dict[tuple[str, str], netns_backend.BackendHost] = {}
        self.served: list[str] = []  # "namespace/pod domain" of each solver started
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for host in self._hosts.values():
            host.close()
        self._hosts.clear()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._sync()
            except Exception as error:  # reported by the test (errors), never swallowed
                self.errors.append(repr(error))

    def _sync(self) -> None:
        pods = {
            (namespace, pod.metadata.name): pod
            for namespace in self._namespaces
            for pod in self._core.list_namespaced_pod(namespace, label_selector=SOLVER_LABEL).items
        }
        for key in set(self._hosts) - set(pods):  # the challenge is over: the Pod was deleted
            self._hosts.pop(key).close()
        for key, pod in pods.items():
            if key not in self._hosts and pod.metadata.deletion_timestamp is None:
                self._start(*key, pod)

    def _start(self, namespace: str, name: str, pod: client.V1Pod) -> None:
        args = list(pod.spec.containers[0].args or ())
        service = self._service_of(namespace, pod)
        if service is None:
            return  # cert-manager creates the Service right after the Pod: next round
        service_name, service_uid = service
        host = netns_backend.BackendHost.create(self._work / f"solver-{namespace}-{name}")
        self._hosts[namespace, name] = host
        backend = host.run(f"{namespace}/{name}", [str(self._binary), *args], SOLVER_PORT)
        # The Pod's own Service keeps its selector; this EndpointSlice is what the endpoint
        # controller would write for the running Pod.
        _, endpoint_slice = netns_backend.service_manifests(
            namespace, service_name, SOLVER_PORT, backend
        )
        # gone with the Service when cert-manager cleans the challenge up
        endpoint_slice["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Service", "name": service_name, "uid": service_uid}
        ]
        client.DiscoveryV1Api(self._api).create_namespaced_endpoint_slice(namespace, endpoint_slice)
        domain = next((a.split("=", 1)[1] for a in args if a.startswith("--domain=")), "?")
        self.served.append(f"{namespace}/{name} {domain}")

    def _service_of(self, namespace: str, pod: client.V1Pod) -> tuple[str, str] | None:
        """The name and uid of the solver Pod's Service."""
        labels = pod.metadata.labels or {}
        for service in self._core.list_namespaced_service(
            namespace, label_selector=SOLVER_LABEL
        ).items:
            selector = service.spec.selector or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                return str(service.metadata.name), str(service.metadata.uid)
        return None


@contextmanager
def solver_pods(api: client.ApiClient, namespaces: list[str], work: Path) -> Iterator[SolverPods]:
    pods = SolverPods(api, namespaces, work)
    try:
        yield pods
    finally:
        pods.close()


def wait_ready(custom: client.CustomObjectsApi, namespace: str, name: str, timeout: float) -> None:
    def ready() -> bool:
        obj = custom.get_namespaced_custom_object(
            "cert-manager.io", "v1", namespace, "certificates", name
        )
        conditions = (obj.get("status") or {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    eventually(ready, timeout=timeout, interval=1)


def never_ready(custom: client.CustomObjectsApi, namespace: str, name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        obj = custom.get_namespaced_custom_object(
            "cert-manager.io", "v1", namespace, "certificates", name
        )
        conditions = (obj.get("status") or {}).get("conditions", [])
        assert not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions), obj
        time.sleep(1)


def acme_issuer(name: str, server: Pebble, parent_refs: list[dict[str, Any]]) -> dict[str, Any]:
    """An ACME ClusterIssuer of `server` whose HTTP-01 solver routes have `parent_refs`."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": name},
        "spec": {
            "acme": {
                "server": server.url,
                "caBundle": base64.b64encode(server.ca).decode(),
                "privateKeySecretRef": {"name": f"{name}-account"},
                "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": parent_refs}}}],
            }
        },
    }
