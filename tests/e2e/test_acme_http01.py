"""ACME HTTP-01 on a shared generated Gateway, for real, and the attack it must stop (issue 27).

A control plane with cert-manager and Traefik (``hack/local-cluster up --with-cert-manager
--with-data-plane``, Traefik's plain-HTTP entryPoint on 127.0.0.1:80), pebble as the ACME
server, a DNS server pointing every name at 127.0.0.1 (for pebble's validation and
cert-manager's self-check alike), cert-manager's solver Pods run as processes on test hosts
(``tests/e2e/acme.py``), and the controller. The WrappedGateway has no static listener and no
hostname allow-list, so hostname ownership is the only thing between tenants.

- The gateway shim's certificate for team A's name is issued over HTTP-01: cert-manager's solver
  route in the Gateway's namespace reaches the plain-HTTP listener the controller generates for
  the name, pebble fetches the token through Traefik on port 80, and HTTPS then serves the
  issued certificate. Team A's redirect on port 80 is served too.
- Team A's own Certificate for a name of its own, in its namespace, is issued the same way.
- The attack: team B's own ACME Issuer and a Certificate for team A's name. B's solver route is
  refused (HostnameConflict) and attaches to no listener, so the challenge never validates and
  the Certificate never becomes Ready; B's ordinary HTTPRoute for A's name on port 80 gets no
  request either: A's redirect answers.

Needs root (network namespaces), curl, and port 80 of 127.0.0.1 free.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import local_cluster
import netns_backend
import pytest
from kubernetes import client, config

from tests.e2e.acme import (
    Pebble,
    SolverPods,
    acme_issuer,
    mock_dns,
    never_ready,
    pebble,
    solver_pods,
    wait_ready,
)
from tests.e2e.conftest import eventually
from tests.e2e.controller_process import REJECTED, running_controller
from tests.e2e.data_plane import APPLY, cannot_run, curl, traefik_route_status
from tests.e2e.test_controller import apply, gateway, status

pytestmark = pytest.mark.e2e
CM = "cert-manager.io"
GW = "gateway.networking.k8s.io"
HTTP_PORT = 80  # the WrappedGateway's default httpPort, and where ACME validates
WEB = "app.team-a.example.com"
OWN = "own.team-a.example.com"
ISSUER = "pebble"


@dataclass
class Acme:
    api: client.ApiClient
    custom: client.CustomObjectsApi
    infra: str
    team_a: str
    team_b: str
    https_port: int
    pebble: Pebble
    solvers: SolverPods
    host: netns_backend.BackendHost


def _http(hostname: str, path: str = "/") -> tuple[str, str]:
    """(status code, redirect URL) of a plain-HTTP GET of ``hostname`` on 127.0.0.1:80."""
    out = subprocess.run(
        [
            "curl", "--silent", "--max-time", "5", "--output", "/dev/null",
            "--resolve", f"{hostname}:{HTTP_PORT}:127.0.0.1",
            "--write-out", "%{http_code} %{redirect_url}", f"http://{hostname}{path}",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout  # fmt: skip
    code, _, location = out.partition(" ")
    return code, location


def _route(
    namespace: str, name: str, hostnames: list[str], parent: dict[str, Any], rule: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [parent], "hostnames": hostnames, "rules": [rule]},
    }


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Acme]:
    cannot_run(netns_backend.available() or (None if shutil.which("curl") else "needs curl"))
    if local_cluster.port_in_use(HTTP_PORT):
        pytest.fail("ACME HTTP-01 validates on port 80: 127.0.0.1:80 is taken", pytrace=False)
    work = tmp_path_factory.mktemp("acme")
    https_port = local_cluster.free_port()
    with mock_dns(work) as dns, pebble(work, HTTP_PORT, dns) as acme_server:
        state_dir = work / "cluster"
        try:
            state = local_cluster.up(
                state_dir,
                local_cluster.ClusterOptions(
                    with_cert_manager=True,
                    with_data_plane=True,
                    data_plane_ports=(HTTP_PORT, https_port),
                    acme_http01_nameservers=(dns,),
                ),
            )
        except local_cluster.ClusterError as e:
            pytest.fail(f"hack/local-cluster up failed: {e}", pytrace=False)
        try:
            yield from _edge(state, work, https_port, acme_server)
        finally:
            local_cluster.down(state_dir)


def _edge(
    state: local_cluster.State, work: Path, https_port: int, server: Pebble
) -> Iterator[Acme]:
    configuration = client.Configuration()
    config.load_kube_config(str(state.kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration)
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    namespaces = {}
    for role in ("infra", "team-a", "team-b"):
        body = client.V1Namespace(metadata=client.V1ObjectMeta(generate_name=f"e2e-{role}-"))
        namespaces[role] = core.create_namespace(body).metadata.name
    infra, team_a, team_b = namespaces["infra"], namespaces["team-a"], namespaces["team-b"]
    # One ClusterIssuer for every Certificate: the gateway shim's (in infra) and team A's own.
    body = acme_issuer(ISSUER, server, [{"name": "edge", "namespace": infra}])
    custom.patch_cluster_custom_object(CM, "v1", "clusterissuers", ISSUER, body, **APPLY)
    host = netns_backend.BackendHost.create(work / "backends")
    log = work / "controller.log"
    try:
        with (
            running_controller(state.kubeconfig, log),
            solver_pods(api, list(namespaces.values()), work) as solvers,
        ):
            for name, namespace, port in (("web", team_a, 8080), ("intruder", team_b, 8081)):
                backend = host.serve(f"{namespace}/{name}", port)
                netns_backend.apply_service(api, namespace, name, 80, backend)
            apply(
                custom,
                {
                    "apiVersion": "wrapped-gateway.dev/v1alpha1",
                    "kind": "WrappedGateway",
                    "metadata": {
                        "name": "edge",
                        "namespace": infra,
                        "annotations": {f"{CM}/cluster-issuer": ISSUER},
                    },
                    "spec": {
                        "gatewayClassName": state.data_plane["gateway_class"],
                        "routes": {"namespaces": {"from": "All"}},
                    },
                },
            )
            edge = {"name": "edge", "namespace": infra}
            apply(
                custom,
                _route(
                    team_a, "web", [WEB], {**edge, "port": https_port},
                    {"backendRefs": [{"name": "web", "port": 80}]},
                ),
            )  # fmt: skip
            redirect = {"scheme": "https", "port": https_port, "statusCode": 301}
            apply(
                custom,
                _route(
                    team_a, "redirect", [WEB], {**edge, "port": HTTP_PORT},
                    {"filters": [{"type": "RequestRedirect", "requestRedirect": redirect}]},
                ),
            )  # fmt: skip
            yield Acme(api, custom, infra, team_a, team_b, https_port, server, solvers, host)
            assert not solvers.errors, solvers.errors
        assert REJECTED not in log.read_text(), log.read_text()
    finally:
        host.close()
        for namespace in namespaces.values():
            core.delete_namespace(namespace)
        api.close()


def _issued_names(acme: Acme, namespace: str, secret: str) -> list[str]:
    """The SANs of the certificate in a Secret, and that pebble issued it."""
    data = client.CoreV1Api(acme.api).read_namespaced_secret(secret, namespace).data
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-issuer", "-ext", "subjectAltName"],
        input=base64.b64decode(data["tls.crt"]),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "Pebble" in text, text  # issued by the ACME server, not by a local CA
    return sorted(part.strip().removeprefix("DNS:") for part in text.split("\n", 2)[2].split(","))


def test_the_gateway_shims_certificate_is_issued_over_http01_through_the_gateway(
    acme: Acme,
) -> None:
    secret = f"tls-{acme.https_port}-{WEB}"  # the generated listener's Secret: the shim's name
    wait_ready(acme.custom, acme.infra, secret, timeout=240)
    # the shim's solver route lived in the Gateway's namespace and its solver was run
    assert any(s.startswith(f"{acme.infra}/") and s.endswith(WEB) for s in acme.solvers.served)
    assert _issued_names(acme, acme.infra, secret) == [WEB]
    # Traefik serves its default certificate until it has read the new Secret
    answer = eventually(
        lambda: (a := curl(WEB, acme.https_port, None)).sans == [f"DNS:{WEB}"] and a, timeout=60
    )
    assert f"backend {acme.team_a}/web answered {WEB}" in answer.body
    # plain HTTP for the name is the owner's: its redirect answers
    assert _http(WEB) == ("301", f"https://{WEB}:{acme.https_port}/")


def test_a_tenants_own_certificate_for_its_own_name(acme: Acme) -> None:
    certificate = {
        "apiVersion": f"{CM}/v1",
        "kind": "Certificate",
        "metadata": {"name": "own", "namespace": acme.team_a},
        "spec": {
            "dnsNames": [OWN],
            "secretName": "own",
            "issuerRef": {"name": ISSUER, "kind": "ClusterIssuer", "group": CM},
        },
    }
    apply(acme.custom, certificate)
    wait_ready(acme.custom, acme.team_a, "own", timeout=240)
    assert any(s.startswith(f"{acme.team_a}/") and s.endswith(OWN) for s in acme.solvers.served)
    assert _issued_names(acme, acme.team_a, "own") == [OWN]


def test_a_tenant_cannot_get_another_tenants_certificate_nor_serve_its_name(acme: Acme) -> None:
    custom, team_b = acme.custom, acme.team_b
    wait_ready(custom, acme.infra, f"tls-{acme.https_port}-{WEB}", timeout=240)  # A's is live
    # B's own ACME Issuer, solving on the shared Gateway, and a Certificate for A's name
    issuer = acme_issuer("evil", acme.pebble, [{"name": "edge", "namespace": acme.infra}])
    issuer["kind"] = "Issuer"
    issuer["metadata"]["namespace"] = team_b
    apply(custom, issuer)
    stolen = {
        "apiVersion": f"{CM}/v1",
        "kind": "Certificate",
        "metadata": {"name": "stolen", "namespace": team_b},
        "spec": {"dnsNames": [WEB], "secretName": "stolen", "issuerRef": {"name": "evil"}},
    }
    apply(custom, stolen)
    # and an ordinary route of B for A's name on plain HTTP
    edge = {"name": "edge", "namespace": acme.infra, "port": HTTP_PORT}
    apply(
        custom,
        _route(
            team_b, "intruder", [WEB], edge, {"backendRefs": [{"name": "intruder", "port": 80}]}
        ),
    )

    def solver_routes() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = custom.list_namespaced_custom_object(
            GW, "v1", team_b, "httproutes", label_selector="acme.cert-manager.io/http01-solver"
        )["items"]
        return items

    def refused() -> set[tuple[str, str]]:
        return {
            (r["name"], r["reason"])
            for r in status(custom, acme.infra, "edge").get("refusedRoutes", [])
            if r["namespace"] == team_b
        }

    def all_refused() -> list[dict[str, Any]]:
        # cert-manager may replace a challenge's solver route under load: judge the current ones
        current = solver_routes()
        names = {solver["metadata"]["name"] for solver in current}
        wanted = {(name, "HostnameConflict") for name in {*names, "intruder"}}
        return current if current and refused() >= wanted else []

    solvers = eventually(all_refused, timeout=180, interval=1)
    assert {reason for _, reason in refused()} == {"HostnameConflict"}
    # no listener of the Gateway admits B for A's name
    for listener in gateway(custom, acme.infra, "edge")["spec"]["listeners"]:
        if listener.get("hostname") == WEB:
            assert team_b not in str(listener["allowedRoutes"]["namespaces"]), listener
    never_ready(custom, team_b, "stolen", seconds=45)
    # Traefik attached neither route of B: the challenge's token path and every other path of
    # A's name on port 80 go to A's redirect, and B's backend never sees a request.
    for solver in solvers:
        token_path = solver["spec"]["rules"][0]["matches"][0]["path"]["value"]
        assert _http(WEB, token_path)[0] == "301"
    assert _http(WEB, "/anything")[0] == "301"
    assert acme.host.backends[f"{team_b}/intruder"].requests() == []
    intruder = custom.get_namespaced_custom_object(GW, "v1", team_b, "httproutes", "intruder")
    for route in (*solver_routes(), intruder):
        assert traefik_route_status(route).get("Accepted", ("False",))[0] != "True", route
    custom.delete_namespaced_custom_object(CM, "v1", team_b, "certificates", "stolen")


def test_the_catch_all_listener_once_recommended_lets_the_same_attack_through(acme: Acme) -> None:
    """The control: the same attack on a WrappedGateway with the catch-all HTTP listener the
    docs used to recommend succeeds, so the test above fails where the hole is open."""
    custom, team_b, infra = acme.custom, acme.team_b, acme.infra
    catch_all = {"name": "http", "port": HTTP_PORT, "protocol": "HTTP"}
    catch_all["allowedRoutes"] = {"namespaces": {"from": "All"}}
    legacy = {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {"name": "legacy", "namespace": infra},
        "spec": {
            "gatewayClassName": "traefik",
            "listeners": [catch_all],
            "routes": {"namespaces": {"from": "All"}},
        },
    }
    apply(custom, legacy)
    shop = "shop.team-a.example.com"
    parent = {"name": "legacy", "namespace": infra, "port": acme.https_port}
    apply(
        custom,
        _route(acme.team_a, "shop", [shop], parent, {"backendRefs": [{"name": "web", "port": 80}]}),
    )

    def isolated() -> str:
        conditions = status(custom, infra, "legacy").get("conditions", [])
        return next((c["status"] for c in conditions if c["type"] == "TenantsIsolated"), "")

    eventually(lambda: isolated() == "False")
    issuer = acme_issuer("evil-legacy", acme.pebble, [{"name": "legacy", "namespace": infra}])
    issuer["kind"] = "Issuer"
    issuer["metadata"]["namespace"] = team_b
    apply(custom, issuer)
    stolen = {
        "apiVersion": f"{CM}/v1",
        "kind": "Certificate",
        "metadata": {"name": "stolen-legacy", "namespace": team_b},
        "spec": {
            "dnsNames": [shop],
            "secretName": "stolen-legacy",
            "issuerRef": {"name": "evil-legacy"},
        },
    }
    apply(custom, stolen)
    wait_ready(custom, team_b, "stolen-legacy", timeout=240)
    assert _issued_names(acme, team_b, "stolen-legacy") == [shop]
