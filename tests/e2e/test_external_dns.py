"""From a route to a name that resolves (issue 25): external-dns and a real DNS server.

A control plane of its own with cert-manager, Traefik and ``--with-external-dns`` (Knot serving
``example.com`` on 127.0.0.1, external-dns v0.23.0 writing into it over RFC 2136 with its TXT
registry), the Gateway API v1.6.1 experimental CRDs (TLSRoute v1 for external-dns, v1alpha2 for
Traefik; TCPRoute and UDPRoute v1alpha2 for both), backends on a test host, the controller as a
process. external-dns reads only DNSEndpoints (``--source=crd``), the setup docs/external-dns.md
recommends: each WrappedGateway with ``spec.dnsEndpoint`` gets one, holding exactly the names
the controller accepted. Names are looked up with dnspython against Knot, as a client would.

- Every name the generated listeners serve resolves to the Gateway's address (the one Traefik
  reports, 127.0.0.1): HTTPRoute, GRPCRoute and TLSRoute hostnames, a wildcard (any name below
  it), TCPRoute and UDPRoute names from comma-separated annotations under both external-dns
  prefixes; then HTTPS to the name, at the address DNS gave, reaches its backend with the
  name's own certificate.
- A removed route's name stops resolving; a route moved to another WrappedGateway resolves to
  that Gateway's address (its ``external-dns.kubernetes.io/target``, 127.0.0.2).
- Hostile tenants: each name the controller refused, however the route carrying it attaches
  (a second TCPRoute on the tenant's own TCP listener annotated with another tenant's name or a
  name outside the allow-list; an HTTPRoute on a static listener without a hostname), never
  resolves, while external-dns's own Gateway route sources, run against the same cluster as the
  control (``--once --dry-run``, in-memory provider), would publish every one of them.
- ListenerSets mode: the tenants' names of the generated ListenerSets resolve too.

Needs root (the backends' network namespace), ``curl`` and Knot; skipped otherwise, failed in
``.ci/run``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.resolver
import local_cluster
import netns_backend
import pytest
from kubernetes import client, config

from tests.e2e.conftest import eventually
from tests.e2e.controller_process import REJECTED, running_controller
from tests.e2e.data_plane import ca_issuer, cannot_run, curl, traefik_route_status
from tests.e2e.test_controller import apply, status

pytestmark = pytest.mark.e2e
GW = "gateway.networking.k8s.io"
ZONE = "example.com"
EDGE_ADDRESS = "127.0.0.1"  # what Traefik reports in the Gateway's status.addresses
OTHER_ADDRESS = "127.0.0.2"  # the external-dns.kubernetes.io/target of WrappedGateway "other"
GATEWAY_API = "v1.6.1-experimental"
# external-dns syncs on every change it watches, at most once a second, and every 10 s besides
PUBLISHED_WITHIN = 40.0


def _knot_missing() -> str | None:
    try:
        local_cluster.knotd_binary()
    except local_cluster.ClusterError as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def cluster_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_cluster.State]:
    cannot_run(
        netns_backend.available()
        or (None if shutil.which("curl") else "needs curl")
        or _knot_missing()
    )
    state_dir = tmp_path_factory.mktemp("external-dns-cluster")
    ports = tuple(local_cluster.free_port() for _ in range(3))  # HTTPS, TLS, TCP entryPoints
    try:
        state = local_cluster.up(
            state_dir,
            local_cluster.ClusterOptions(
                gateway_api=GATEWAY_API,
                with_cert_manager=True,
                with_data_plane=True,
                data_plane_ports=ports,
                with_external_dns=True,
                external_dns_sources=("crd",),
            ),
        )
    except local_cluster.ClusterError as e:
        pytest.fail(f"hack/local-cluster up --with-external-dns failed: {e}", pytrace=False)
    try:
        yield state
    finally:
        local_cluster.down(state_dir)


def resolve(state: local_cluster.State, name: str) -> set[str]:
    """The A records Knot answers for ``name`` (empty: NXDOMAIN or no A record)."""
    host, port = state.dns["server"].rsplit(":", 1)
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)
    resolver.lifetime = 3
    resolver.cache = None
    try:
        answer = resolver.resolve(name, dns.rdatatype.A)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return set()
    return {record.address for record in answer}


def resolves_to(state: local_cluster.State, name: str, addresses: set[str]) -> float:
    """Wait until ``name`` resolves to exactly ``addresses``; the seconds it took."""
    start = time.monotonic()
    eventually(lambda: resolve(state, name) == addresses, timeout=PUBLISHED_WITHIN, interval=0.2)
    return time.monotonic() - start


@dataclass
class Edge:
    state: local_cluster.State
    custom: client.CustomObjectsApi
    core: client.CoreV1Api
    infra: str
    team_a: str
    team_b: str
    https_port: int
    tls_port: int
    tcp_port: int
    ca: Path
    work: Path
    latencies: list[float]

    def name(self, label: str, namespace: str) -> str:
        """A name in ``namespace``'s subdomain, the allow-list's ``*.{namespace}.example.com``."""
        return f"{label}.{namespace}.{ZONE}"

    def route(  # noqa: PLR0913 - a route's optional fields, each a keyword
        self,
        kind: str,
        namespace: str,
        name: str,
        hostnames: list[str],
        *,
        gateway: str = "edge",
        port: int | None = None,
        section: str | None = None,
        annotations: dict[str, str] | None = None,
        backend: tuple[str, int] = ("web", 80),
    ) -> dict[str, Any]:
        version = "v1" if kind in ("HTTPRoute", "GRPCRoute") else "v1alpha2"
        parent_ref: dict[str, Any] = {"name": gateway, "namespace": self.infra}
        if port is not None:
            parent_ref["port"] = port
        if section is not None:
            parent_ref["sectionName"] = section
        spec: dict[str, Any] = {
            "parentRefs": [parent_ref],
            "rules": [{"backendRefs": [{"name": backend[0], "port": backend[1]}]}],
        }
        if hostnames:
            spec["hostnames"] = hostnames
        return {
            "apiVersion": f"{GW}/{version}",
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
            "spec": spec,
        }

    def refusals(self, gateway: str = "edge") -> dict[str, set[str]]:
        """Refused route name -> reasons, from the WrappedGateway's status."""
        reasons: dict[str, set[str]] = {}
        for item in status(self.custom, self.infra, gateway).get("refusedRoutes", []):
            reasons.setdefault(item["name"], set()).add(item["reason"])
        return reasons


def wrapped_gateway(
    infra: str, name: str, issuer: str, gateway_class: str, **spec: Any
) -> dict[str, Any]:
    """A WrappedGateway with spec.dnsEndpoint; tenants keep to their subdomains unless
    ``allow_any_name``."""
    annotations = {"cert-manager.io/cluster-issuer": issuer}
    annotations.update(spec.pop("annotations", {}))
    routes: dict[str, Any] = {"namespaces": {"from": "All"}}
    if not spec.pop("allow_any_name", False):
        routes["hostnames"] = ["*.{namespace}.example.com", "{namespace}.example.com"]
    return {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {"name": name, "namespace": infra, "annotations": annotations},
        "spec": {
            "gatewayClassName": gateway_class,
            "routes": routes,
            "dnsEndpoint": {},
            **spec,
        },
    }


@pytest.fixture(scope="module")
def edge(
    cluster_state: local_cluster.State, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Edge]:
    https_port, tls_port, tcp_port = cluster_state.data_plane["ports"]
    work = tmp_path_factory.mktemp("external-dns")
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
    gateway_class = cluster_state.data_plane["gateway_class"]
    try:
        with running_controller(cluster_state.kubeconfig, log):
            for namespace, port in ((team_a, 8080), (team_b, 8081)):
                backend = host.serve(f"{namespace}/web", port)
                netns_backend.apply_service(api, namespace, "web", 80, backend)
            apply(custom, wrapped_gateway(infra, "edge", issuer, gateway_class))
            apply(
                custom,
                wrapped_gateway(
                    infra,
                    "other",
                    issuer,
                    gateway_class,
                    annotations={"external-dns.kubernetes.io/target": OTHER_ADDRESS},
                    allow_any_name=True,
                ),
            )
            yield Edge(
                cluster_state, custom, core, infra, team_a, team_b,
                https_port, tls_port, tcp_port, ca, work, [],
            )  # fmt: skip
        assert REJECTED not in log.read_text(), log.read_text()
    finally:
        host.close()
        for namespace in namespaces.values():
            core.delete_namespace(namespace)
        api.close()


def test_every_accepted_name_resolves_and_https_to_it_reaches_its_backend(edge: Edge) -> None:
    a, b = edge.team_a, edge.team_b
    web, wildcard, grpc = edge.name("web", a), f"*.apps.{a}.{ZONE}", edge.name("grpc", a)
    tls, db, db_eu = edge.name("tls", b), edge.name("db", b), edge.name("db-eu", b)
    cache, dns_name = edge.name("cache", b), edge.name("dns", b)
    routes = [
        edge.route("HTTPRoute", a, "web", [web, wildcard], port=edge.https_port),
        edge.route("GRPCRoute", a, "grpc", [grpc], port=edge.https_port),
        edge.route(
            "TLSRoute", b, "tls", [tls], port=edge.tls_port, backend=("web", 80),
            annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"},
        ),
        # external-dns's two annotation prefixes, each a comma-separated list
        edge.route(
            "TCPRoute", b, "db", [], port=edge.tcp_port,
            annotations={"external-dns.kubernetes.io/hostname": f"{db}, {db_eu}"},
        ),
        edge.route(
            "TCPRoute", b, "cache", [], port=edge.tcp_port,
            annotations={"external-dns.alpha.kubernetes.io/hostname": cache},
        ),
        edge.route(
            "UDPRoute", b, "dns", [], port=5353,
            annotations={"wrapped-gateway.dev/hostname": dns_name},
        ),
    ]  # fmt: skip
    start = time.monotonic()
    for obj in routes:
        apply(edge.custom, obj)
    for name in (web, grpc, tls, db, db_eu, cache, dns_name, f"one.apps.{a}.{ZONE}"):
        resolves_to(edge.state, name, {EDGE_ADDRESS})
    edge.latencies.append(time.monotonic() - start)
    assert edge.refusals() == {}
    assert resolve(edge.state, f"apps.{a}.{ZONE}") == set()  # a wildcard is not its parent

    # HTTPS to each name, at the address DNS gave, reaches its backend with its own certificate
    for name, listener in ((web, web), (f"one.apps.{a}.{ZONE}", wildcard)):
        (address,) = resolve(edge.state, name)

        def reached(name: str = name, address: str = address) -> Any:
            answer = curl(name, edge.https_port, edge.ca, address=address)
            assert answer.returncode == 0, answer.stderr
            assert answer.body.startswith(f"backend {a}/web answered {name}:"), answer
            return answer

        answer = eventually(reached, timeout=90)
        assert answer.sans == [f"DNS:{listener}"], (name, answer)


def test_a_removed_route_stops_resolving_and_a_moved_one_follows_its_gateway(edge: Edge) -> None:
    a = edge.team_a
    gone, moved = edge.name("gone", a), edge.name("moved", a)
    apply(edge.custom, edge.route("HTTPRoute", a, "gone", [gone], port=edge.https_port))
    apply(edge.custom, edge.route("HTTPRoute", a, "moved", [moved], port=edge.https_port))
    resolves_to(edge.state, gone, {EDGE_ADDRESS})
    resolves_to(edge.state, moved, {EDGE_ADDRESS})

    edge.custom.delete_namespaced_custom_object(GW, "v1", a, "httproutes", "gone")
    edge.latencies.append(resolves_to(edge.state, gone, set()))

    apply(
        edge.custom,
        edge.route("HTTPRoute", a, "moved", [moved], gateway="other", port=edge.https_port),
    )
    edge.latencies.append(resolves_to(edge.state, moved, {OTHER_ADDRESS}))
    # what it shows: the whole change within PUBLISHED_WITHIN; printed for the report
    print(f"publish latencies (s): {[round(t, 1) for t in edge.latencies]}")


def route_sources_would_publish(edge: Edge, label_filter: str) -> set[tuple[str, str]]:
    """The control: what external-dns's Gateway route sources would publish from the routes
    ``label_filter`` selects, in this cluster as it is (one --once --dry-run pass, in-memory
    provider): (name, target) pairs."""
    binary = local_cluster.ensure_binaries("external_dns")["external-dns"]
    kubeconfig = edge.state.dir / "pki" / "external-dns.kubeconfig"
    proc = subprocess.run(
        [
            str(binary), f"--kubeconfig={kubeconfig}",
            "--source=gateway-httproute", "--source=gateway-grpcroute",
            "--source=gateway-tlsroute", "--source=gateway-tcproute", "--source=gateway-udproute",
            "--provider=inmemory", f"--inmemory-zone={ZONE}", f"--domain-filter={ZONE}",
            "--policy=sync", "--registry=txt", "--txt-owner-id=control",
            f"--label-filter={label_filter}",
            "--once", "--dry-run", f"--metrics-address=127.0.0.1:{local_cluster.free_port()}",
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.findall(r'msg="CREATE: (\S+) \d+ IN A\s+(\S+)', proc.stderr)
    return {(name, target) for name, target in found}


def test_no_refused_name_is_ever_published(edge: Edge) -> None:
    """Each attack's name is refused by the controller (or, on a static listener, never seen
    by it), and the Gateway implementation accepts the route carrying it all the same;
    external-dns's route sources would publish it (the control), the DNSEndpoints do not."""
    a, b = edge.team_a, edge.team_b
    victim, outside = edge.name("victim", a), f"www.{ZONE}"
    annotated = edge.name("annotated", a)
    # team-a claims its name on "other" (no allow-list) first; team-b owns TCP listeners on
    # "other" and "edge"
    apply(
        edge.custom,
        edge.route("HTTPRoute", a, "victim", [victim], gateway="other", port=edge.https_port),
    )
    for gateway in ("other", "edge"):
        apply(
            edge.custom,
            edge.route(
                "TCPRoute", b, f"own-db-{gateway}", [], gateway=gateway, port=edge.tcp_port,
                annotations={"external-dns.kubernetes.io/hostname": edge.name(gateway, b)},
            ),
        )  # fmt: skip
    resolves_to(edge.state, victim, {OTHER_ADDRESS})
    # the static listener without a hostname the platform put on "open" admits everyone
    apply(
        edge.custom,
        wrapped_gateway(
            edge.infra, "open", "unused", edge.state.data_plane["gateway_class"],
            annotations={"external-dns.kubernetes.io/target": "127.0.0.3"},
            listeners=[{
                "name": "catch-all", "port": edge.https_port, "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "All"}},
            }],
        ),
    )  # fmt: skip
    attacks = {
        # another tenant's name on the tenant's own TCP listener
        "tcp-steal": edge.route(
            "TCPRoute", b, "tcp-steal", [], gateway="other", port=edge.tcp_port,
            annotations={"external-dns.kubernetes.io/hostname": victim},
        ),
        # a name outside the allow-list, the same way
        "tcp-outside": edge.route(
            "TCPRoute", b, "tcp-outside", [], gateway="edge", port=edge.tcp_port,
            annotations={"external-dns.alpha.kubernetes.io/hostname": outside},
        ),
        # a name outside the allow-list on the static catch-all listener
        "static-outside": edge.route(
            "HTTPRoute", b, "static-outside", [outside], gateway="open", section="catch-all",
        ),
        # a name in another tenant's subdomain there, by the hostname annotation of an HTTPRoute
        "static-annotated": edge.route(
            "HTTPRoute", b, "static-annotated", [edge.name("mine", b)], gateway="open",
            section="catch-all", annotations={"external-dns.kubernetes.io/hostname": annotated},
        ),
    }  # fmt: skip
    for obj in attacks.values():
        obj["metadata"]["labels"] = {"e2e-attack": "true"}
        apply(edge.custom, obj)

    def implementation_accepted(obj: dict[str, Any]) -> bool:
        meta = obj["metadata"]
        version = obj["apiVersion"].split("/")[1]
        plural = obj["kind"].lower() + "s"
        stored = edge.custom.get_namespaced_custom_object(
            GW, version, meta["namespace"], plural, meta["name"]
        )
        return traefik_route_status(stored).get("Accepted", ("?",))[0] == "True"

    eventually(lambda: all(implementation_accepted(obj) for obj in attacks.values()), timeout=60)
    eventually(lambda: edge.refusals("other").get("tcp-steal") == {"HostnameConflict"})
    eventually(lambda: edge.refusals("edge").get("tcp-outside") == {"HostnameNotAllowed"})
    print(f"refusals on open: {edge.refusals('open')}")
    # the control: what the route sources would publish from the attacks' routes alone
    control = route_sources_would_publish(edge, "e2e-attack=true")
    print(f"route sources would publish from the attacks: {sorted(control)}")
    # one target per name survives external-dns's plan; the attacker's routes alone give these
    assert {name for name, _ in control} == {victim, outside, annotated, edge.name("mine", b)}
    assert (victim, OTHER_ADDRESS) in control  # the Gateway of the attacker's TCP listener
    assert (annotated, "127.0.0.3") in control  # the annotation, through the catch-all listener

    # names published after the attacks: external-dns has synced them all by then
    canary = edge.name("canary", b)
    apply(
        edge.custom,
        edge.route(
            "TCPRoute", b, "canary", [], gateway="other", port=edge.tcp_port,
            annotations={"external-dns.kubernetes.io/hostname": canary},
        ),
    )  # fmt: skip
    resolves_to(edge.state, edge.name("other", b), {OTHER_ADDRESS})
    resolves_to(edge.state, edge.name("edge", b), {EDGE_ADDRESS})
    resolves_to(edge.state, canary, {OTHER_ADDRESS})
    assert resolve(edge.state, victim) == {OTHER_ADDRESS}  # its owner's route only
    assert resolve(edge.state, outside) == set()
    assert resolve(edge.state, annotated) == set()
    # a name served on a static listener is the platform's to publish, not the controller's
    assert resolve(edge.state, edge.name("mine", b)) == set()


def test_listener_sets_mode_publishes_the_tenants_names(edge: Edge) -> None:
    a = edge.team_a
    apply(
        edge.custom,
        wrapped_gateway(
            edge.infra, "sets", "unused", edge.state.data_plane["gateway_class"],
            annotations={"external-dns.kubernetes.io/target": "127.0.0.4"},
            output="ListenerSets",
            listeners=[{"name": "platform", "port": 8000, "protocol": "HTTP",
                        "hostname": f"platform.{ZONE}"}],
        ),
    )  # fmt: skip
    name = edge.name("set", a)
    obj = edge.route("HTTPRoute", a, "set", [name], gateway="sets", port=edge.https_port)
    obj["spec"]["parentRefs"] = [
        {"group": GW, "kind": "ListenerSet", "name": "sets", "port": edge.https_port}
    ]
    apply(edge.custom, obj)

    def listener_set_hostnames() -> set[str]:
        listener_set = edge.custom.get_namespaced_custom_object(GW, "v1", a, "listenersets", "sets")
        return {item.get("hostname") for item in listener_set["spec"]["listeners"]}

    try:
        eventually(lambda: name in listener_set_hostnames(), timeout=30)
    except AssertionError:
        raise AssertionError(status(edge.custom, edge.infra, "sets")) from None
    resolves_to(edge.state, name, {"127.0.0.4"})
