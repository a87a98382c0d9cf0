"""Real traffic, end to end, through a real Gateway implementation (issue #10).

A control plane of its own with cert-manager and Traefik (``hack/local-cluster up
--with-cert-manager --with-data-plane``; Traefik runs as a plain process beside it, with its
kubernetesGateway provider, and listens on two free ports of 127.0.0.1), a test host in a network
namespace with the backends (``hack/netns_backend.py``: the API server refuses EndpointSlices
pointing at loopback, so each Service gets a hand-made EndpointSlice to 10.213.N.2), and the
controller as a process. A WrappedGateway of GatewayClass ``traefik`` with a CA ClusterIssuer
gets routes from two namespaces; then:

- the controller generates the listeners, cert-manager issues their Secrets, and Traefik reports
  every generated listener Accepted, ResolvedRefs and Programmed with attachedRoutes >= 1;
- ``curl --resolve HOST:PORT:127.0.0.1 --cacert ca.pem https://HOST:PORT/`` reaches the right
  backend for every hostname (a wildcard one included), with a certificate whose SAN is the
  listener's hostname, verified against the issuer's CA;
- a TLSRoute with ``wrapped-gateway.dev/tls-mode: Passthrough`` reaches a backend that
  terminates TLS itself: the certificate curl verifies is the backend's own;
- a route the controller refuses (another namespace's hostname) gets no traffic: the owner's
  backend keeps answering, the intruder's backend sees no request, and Traefik does not accept
  the route either (the generated listener admits only its owner namespace);
- a removed route stops being served: its listener goes, and Traefik answers that hostname
  with its default certificate and 404.

What cannot work here, and is not faked: UDPRoute. Traefik's Gateway API provider has no UDP
support: the last test shows it reporting the generated UDP listener ``Conflicted``
(``UnsupportedProtocol``) and never reading the UDPRoute, so the controller's UDP listeners are
checked only against the API server (test_controller_experimental.py). TCPRoute
and TLSRoute are served by Traefik v3.6 only as ``v1alpha2`` (its experimentalChannel), which
is why this cluster runs the Gateway API v1.4.1 experimental CRDs (``traefik.gateway_api`` in
hack/versions.json), not the default v1.6.1 standard channel.

Needs root (network namespaces) and ``curl``; skipped otherwise. Set
``WRAPPED_GATEWAY_DATA_PLANE_DIR`` to the state directory of a running
``hack/local-cluster up --with-cert-manager --with-data-plane --dir DIR`` to reuse it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

import local_cluster
import netns_backend
import pytest
from kubernetes import client, config

from tests.e2e.conftest import eventually
from tests.e2e.controller_process import REJECTED, running_controller
from tests.e2e.data_plane import (
    Answer,
    ca_issuer,
    cannot_run,
    certificate_serial,
    curl,
    issue,
    listener_status,
    traefik_route_status,
)
from tests.e2e.test_controller import apply, gateway, status

pytestmark = pytest.mark.e2e
REUSE_ENV = "WRAPPED_GATEWAY_DATA_PLANE_DIR"
GW = "gateway.networking.k8s.io"
WEB = "app.team-a.example.com"
WILDCARD = "*.apps.team-a.example.com"
API = "api.team-b.example.com"
PASS = "pass.team-b.example.com"


@pytest.fixture(scope="module")
def cluster_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_cluster.State]:
    cannot_run(netns_backend.available() or (None if shutil.which("curl") else "needs curl"))
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        yield local_cluster.State.load(Path(reuse).resolve())
        return
    state_dir = tmp_path_factory.mktemp("data-plane-cluster")
    ports = (local_cluster.free_port(), local_cluster.free_port())
    try:
        state = local_cluster.up(
            state_dir,
            local_cluster.ClusterOptions(
                with_cert_manager=True, with_data_plane=True, data_plane_ports=ports
            ),
        )
    except local_cluster.ClusterError as e:
        pytest.fail(f"hack/local-cluster up --with-data-plane failed: {e}", pytrace=False)
    try:
        yield state
    finally:
        local_cluster.down(state_dir)


@dataclass
class Edge:
    """The WrappedGateway ``infra/edge`` and what was set up around it."""

    custom: client.CustomObjectsApi
    core: client.CoreV1Api
    infra: str
    team_a: str
    team_b: str
    https_port: int
    tls_port: int
    ca: Path
    secure_cert: Path  # the passthrough backend's own certificate
    host: netns_backend.BackendHost
    traefik_log: Path
    routes: dict[str, dict[str, Any]]

    def gateway(self) -> dict[str, Any]:
        return gateway(self.custom, self.infra, "edge")

    def requests(self, backend: str) -> list[str]:
        return self.host.backends[backend].requests()


class EdgeRouteFields(TypedDict):
    """Where a test route attaches (the Gateway `edge` in `gateway_namespace`, on `port` if
    given) and which backend (name, port) serves it."""

    gateway_namespace: str
    backend: tuple[str, int]
    annotations: NotRequired[dict[str, str]]
    port: NotRequired[int]


def route(
    kind: str, namespace: str, name: str, hostnames: list[str], **fields: Unpack[EdgeRouteFields]
) -> dict[str, Any]:
    version = "v1" if kind == "HTTPRoute" else "v1alpha2"  # Traefik v3.6 reads TLSRoute v1alpha2
    parent_ref: dict[str, Any] = {"name": "edge", "namespace": fields["gateway_namespace"]}
    if "port" in fields:
        parent_ref["port"] = fields["port"]
    backend_name, backend_port = fields["backend"]
    return {
        "apiVersion": f"{GW}/{version}",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": fields.get("annotations") or {},
        },
        "spec": {
            "parentRefs": [parent_ref],
            "hostnames": hostnames,
            "rules": [{"backendRefs": [{"name": backend_name, "port": backend_port}]}],
        },
    }


@pytest.fixture(scope="module")
def edge(
    cluster_state: local_cluster.State, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Edge]:
    data_plane = cluster_state.data_plane
    assert data_plane, f"{cluster_state.dir} was started without --with-data-plane"
    assert data_plane["experimental_channel"], "TLSRoute needs the experimental channel"
    https_port, tls_port = data_plane["ports"][:2]
    work = tmp_path_factory.mktemp("data-plane")
    configuration = client.Configuration()
    config.load_kube_config(str(cluster_state.kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration)
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    ca = work / "ca.pem"
    issuer = ca_issuer(custom, core, ca)

    namespaces = {}
    for role in ("infra", "team-a", "team-b"):
        body = client.V1Namespace(metadata=client.V1ObjectMeta(generate_name=f"e2e-{role}-"))
        namespaces[role] = core.create_namespace(body).metadata.name
    infra, team_a, team_b = namespaces["infra"], namespaces["team-a"], namespaces["team-b"]
    host = netns_backend.BackendHost.create(work / "test-host")
    log = work / "controller.log"
    try:
        with running_controller(cluster_state.kubeconfig, log):
            # backends on the test host; ordinary Services with an EndpointSlice to it
            for name, namespace, port in (
                ("web", team_a, 8080),
                ("api", team_b, 8081),
                ("intruder", team_b, 8082),
            ):
                backend = host.serve(f"{namespace}/{name}", port)
                netns_backend.apply_service(api, namespace, name, 80, backend)
            tls = issue(core, team_b, "secure-backend", dns_name=PASS, directory=work)
            backend = host.serve(f"{team_b}/secure", 8443, tls=tls)
            netns_backend.apply_service(api, team_b, "secure", 443, backend)

            wrapped_gateway = {
                "apiVersion": "wrapped-gateway.dev/v1alpha1",
                "kind": "WrappedGateway",
                "metadata": {
                    "name": "edge",
                    "namespace": infra,
                    "annotations": {"cert-manager.io/cluster-issuer": issuer},
                },
                "spec": {
                    "gatewayClassName": data_plane["gateway_class"],
                    "routes": {"namespaces": {"from": "All"}},
                },
            }
            apply(custom, wrapped_gateway)
            ports = {"wrapped-gateway.dev/ports": str(https_port)}
            passthrough = {
                "wrapped-gateway.dev/tls-mode": "Passthrough",
                "wrapped-gateway.dev/ports": str(tls_port),
            }
            routes = {
                "web": route(
                    "HTTPRoute", team_a, "web", [WEB, WILDCARD],
                    gateway_namespace=infra, backend=("web", 80), port=https_port,
                ),
                "api": route(
                    "HTTPRoute", team_b, "api", [API],
                    gateway_namespace=infra, backend=("api", 80), annotations=ports,
                ),
                "pass": route(
                    "TLSRoute", team_b, "pass", [PASS],
                    gateway_namespace=infra, backend=("secure", 443), annotations=passthrough,
                ),
            }  # fmt: skip
            for obj in routes.values():
                apply(custom, obj)
            yield Edge(
                custom, core, infra, team_a, team_b, https_port, tls_port, ca, tls[0], host,
                Path(cluster_state.dir) / "logs" / "traefik.log", routes,
            )  # fmt: skip
        assert REJECTED not in log.read_text(), log.read_text()
    finally:
        host.close()
        for namespace in namespaces.values():
            core.delete_namespace(namespace)
        api.close()


def generated(edge: Edge) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in edge.gateway()["spec"]["listeners"]}


def programmed(edge: Edge) -> dict[str, dict[str, Any]]:
    """Every listener of the Gateway, once Traefik reports each one fully programmed."""
    listeners = generated(edge)
    reported = listener_status(edge.gateway())
    for name in listeners:
        got = reported.get(name, {})
        for condition in ("Accepted", "ResolvedRefs", "Programmed"):
            assert got.get(condition, ("?",))[0] == "True", (name, got)
        assert got["attachedRoutes"] >= 1, (name, got)
    return reported


def answered(edge: Edge, hostname: str, port: int, backend: str) -> Answer:
    """curl, retried until the backend answers (Traefik applies new configuration in ~2 s)."""

    def attempt() -> Answer:
        answer = curl(hostname, port, edge.ca)
        assert answer.returncode == 0, answer.stderr
        assert answer.body.startswith(f"backend {backend} answered {hostname}:{port} /"), answer
        return answer

    result: Answer = eventually(attempt, timeout=30)
    return result


def test_https_reaches_every_hostname_with_its_own_certificate(edge: Edge) -> None:
    port = edge.https_port
    expected = {
        WEB: ("HTTPS", port),
        WILDCARD: ("HTTPS", port),
        API: ("HTTPS", port),
        PASS: ("TLS", edge.tls_port),
    }
    eventually(
        lambda: (
            {
                (item["hostname"], item["protocol"], item["port"])
                for item in generated(edge).values()
            }
            == {(host, protocol, p) for host, (protocol, p) in expected.items()}
        ),
        timeout=30,
    )
    # cert-manager issued every Secret, and Traefik programmed every listener
    reported = eventually(lambda: programmed(edge), timeout=90)
    assert set(reported) == set(generated(edge))
    for obj in edge.routes.values():
        stored = edge.custom.get_namespaced_custom_object(
            GW, obj["apiVersion"].split("/")[1], obj["metadata"]["namespace"],
            obj["kind"].lower() + "s", obj["metadata"]["name"],
        )  # fmt: skip
        assert traefik_route_status(stored).get("Accepted") == ("True", "Accepted"), stored
        assert traefik_route_status(stored).get("ResolvedRefs", ("True",))[0] == "True", stored

    for hostname, listener, backend in (
        (WEB, WEB, f"{edge.team_a}/web"),
        ("one.apps.team-a.example.com", WILDCARD, f"{edge.team_a}/web"),
        ("two.apps.team-a.example.com", WILDCARD, f"{edge.team_a}/web"),
        (API, API, f"{edge.team_b}/api"),
    ):
        answer = answered(edge, hostname, port, backend)
        assert answer.sans == [f"DNS:{listener}"], (hostname, answer)

    # TLS passthrough: Traefik routes by SNI; the backend's own certificate reaches curl
    answer = answered(edge, PASS, edge.tls_port, f"{edge.team_b}/secure")
    assert answer.sans == [f"DNS:{PASS}"]
    assert answer.serial.lstrip("0") == certificate_serial(edge.secure_cert).lstrip("0")
    (tls_listener,) = [item for item in generated(edge).values() if item["protocol"] == "TLS"]
    assert tls_listener["tls"] == {"mode": "Passthrough"}  # no certificate at the Gateway


def test_a_refused_route_gets_no_traffic(edge: Edge) -> None:
    eventually(lambda: programmed(edge), timeout=90)
    before = set(generated(edge))
    steal = route(
        "HTTPRoute", edge.team_b, "steal", [WEB],
        gateway_namespace=edge.infra, backend=("intruder", 80), port=edge.https_port,
    )  # fmt: skip
    apply(edge.custom, steal)

    def refused() -> bool:
        return any(
            r["name"] == "steal" and r["reason"] == "HostnameConflict"
            for r in status(edge.custom, edge.infra, "edge").get("refusedRoutes", [])
        )

    eventually(refused)
    assert set(generated(edge)) == before

    # Traefik has seen the route, and does not accept it: the listener admits team-a only
    def traefik_refused() -> tuple[str, str]:
        stored = edge.custom.get_namespaced_custom_object(
            GW, "v1", edge.team_b, "httproutes", "steal"
        )
        accepted = traefik_route_status(stored).get("Accepted", ("?", "no status yet"))
        assert accepted[0] == "False", accepted
        return accepted

    eventually(traefik_refused, timeout=30)
    time.sleep(3)  # longer than Traefik's configuration throttle
    for _ in range(5):
        answered(edge, WEB, edge.https_port, f"{edge.team_a}/web")
    assert edge.requests(f"{edge.team_b}/intruder") == []


def test_a_removed_route_stops_being_served(edge: Edge) -> None:
    eventually(lambda: programmed(edge), timeout=90)
    answered(edge, API, edge.https_port, f"{edge.team_b}/api")
    edge.custom.delete_namespaced_custom_object(GW, "v1", edge.team_b, "httproutes", "api")
    eventually(lambda: API not in {item["hostname"] for item in generated(edge).values()})
    eventually(lambda: all(API not in name for name in listener_status(edge.gateway())))

    def not_served() -> Answer:
        verified = curl(API, edge.https_port, edge.ca)
        assert verified.returncode == 60, verified  # Traefik's default certificate
        answer = curl(API, edge.https_port, None)
        assert answer.returncode == 0, answer.stderr
        assert answer.body.startswith("404 page not found"), answer
        return answer

    answer = eventually(not_served, timeout=30)
    assert answer.sans != [f"DNS:{API}"]
    served = len(edge.requests(f"{edge.team_b}/api"))
    time.sleep(3)
    assert curl(API, edge.https_port, None).body.startswith("404")
    assert len(edge.requests(f"{edge.team_b}/api")) == served
    # the other hostnames are still served
    answered(edge, WEB, edge.https_port, f"{edge.team_a}/web")
    answered(edge, PASS, edge.tls_port, f"{edge.team_b}/secure")


def test_udp_is_not_served_by_traefik(edge: Edge) -> None:
    """The limitation, observed rather than assumed: Traefik refuses the UDP listener."""
    namespace = edge.core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="e2e-udp-"))
    ).metadata.name
    try:
        wrapped_gateway = {
            "apiVersion": "wrapped-gateway.dev/v1alpha1",
            "kind": "WrappedGateway",
            "metadata": {"name": "edge", "namespace": namespace},
            "spec": {"gatewayClassName": "traefik"},
        }
        apply(edge.custom, wrapped_gateway)
        dns = {
            "apiVersion": f"{GW}/v1alpha2",
            "kind": "UDPRoute",
            "metadata": {
                "name": "dns",
                "namespace": namespace,
                # a port Traefik has an entryPoint for, so that only the protocol is at issue
                "annotations": {"wrapped-gateway.dev/ports": str(edge.tls_port)},
            },
            "spec": {
                "parentRefs": [{"name": "edge"}],
                "rules": [{"backendRefs": [{"name": "dns", "port": 53}]}],
            },
        }
        apply(edge.custom, dns)
        listener = f"udp-{edge.tls_port}"

        def refused() -> dict[str, Any]:
            reported = listener_status(gateway(edge.custom, namespace, "edge"))[listener]
            assert reported.get("Conflicted") == ("True", "UnsupportedProtocol"), reported
            assert reported.get("Programmed", ("False",))[0] != "True", reported
            return reported

        eventually(refused, timeout=30)
        stored = edge.custom.get_namespaced_custom_object(
            GW, "v1alpha2", namespace, "udproutes", "dns"
        )
        assert traefik_route_status(stored) == {}  # Traefik does not read UDPRoutes at all
    finally:
        edge.core.delete_namespace(namespace)
