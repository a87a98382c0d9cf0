"""Kamaji's hosted control planes behind one generated Gateway, real TLS passthrough (issue 24).

Three TenantControlPlanes in three namespaces, each with ``spec.controlPlane.gateway`` and
konnectivity, and the TLSRoutes Kamaji writes for them (``tests/platforms/kamaji.py``, which
names the Kamaji source files and release it follows): ``<tcp>`` with the parentRefs the user
chose (the generated Gateway, port 6443, no sectionName) and ``<tcp>-konnectivity`` with
``port: 8132`` and ``sectionName: konnectivity-server`` forced. Passthrough comes from
``additionalMetadata.annotations`` (``wrapped-gateway.dev/tls-mode``), which Kamaji copies onto
both routes. The WrappedGateway is the one docs/kamaji.md recommends for TenantControlPlanes in
their own namespaces. Traefik serves it on 127.0.0.1:6443 and :8132; each tenant's "API
server" and "konnectivity server" are TLS servers on the test host with certificates of their
own. The tests prove:

- each TenantControlPlane's route gets a Passthrough listener for its hostname on 6443 that
  admits its namespace only, the konnectivity routes attach to the static listener, and Traefik
  programs all of them; the WrappedGateway reports TenantsIsolated False naming
  ``konnectivity-server``, the trade-off docs/kamaji.md accepts;
- a TLS client with each hostname's SNI gets that tenant's backend, on 6443 and on 8132, and
  the certificate it receives is that backend's own, byte for byte;
- every route's ``status.parents`` holds exactly the one entry Traefik writes (Kamaji reports
  "too many gateway attached to the route" otherwise), Kamaji's own status checks pass and
  find the access points, and no field of any route was written by the controller.

TLSRoute is written as ``v1alpha2`` (Kamaji before 26.6.2-edge; same objects): Traefik v3.6
reads no other version. Needs root and curl (see test_data_plane.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import local_cluster
import netns_backend
import pytest
from kubernetes import client, config

from tests.e2e.conftest import eventually
from tests.e2e.controller_process import REJECTED, running_controller
from tests.e2e.data_plane import ca_issuer, issue, listener_status, traefik_route_status
from tests.e2e.platforms import (
    apply_multi_port_service,
    data_plane_cluster,
    der,
    tls_get,
)
from tests.e2e.test_controller import apply, gateway, status
from tests.platforms import kamaji
from wrapped_gateway.constants import FIELD_MANAGER

pytestmark = pytest.mark.e2e
GW = "gateway.networking.k8s.io"
API_PORT, KONNECTIVITY_PORT = kamaji.DEFAULT_API_PORT, kamaji.DEFAULT_KONNECTIVITY_PORT
TENANTS = ("one", "two", "three")
KAMAJI_LABEL = "kamaji.example.com/tenant-control-planes"  # set by the platform team only
CRDS = Path(__file__).resolve().parents[1] / "platforms" / "crds"


@pytest.fixture(scope="module")
def cluster_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_cluster.State]:
    yield from data_plane_cluster(
        tmp_path_factory.mktemp("kamaji-cluster"), (API_PORT, KONNECTIVITY_PORT), (CRDS,)
    )


def wrapped_gateway(namespace: str) -> dict[str, Any]:
    """docs/kamaji.md's WrappedGateway for TenantControlPlanes in namespaces of their own."""
    tenants = {"from": "Selector", "selector": {"matchLabels": {KAMAJI_LABEL: "true"}}}
    return {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {"name": "kamaji", "namespace": namespace},
        "spec": {
            "gatewayClassName": "traefik",
            "listeners": [
                {
                    "name": kamaji.KONNECTIVITY_SECTION,
                    "port": KONNECTIVITY_PORT,
                    "protocol": "TLS",
                    "tls": {"mode": "Passthrough"},
                    "allowedRoutes": {"namespaces": tenants, "kinds": [{"kind": "TLSRoute"}]},
                }
            ],
            "routes": {
                "namespaces": tenants,
                "hostnames": ["*.{namespace}.k8s.example.com"],
                "ports": {"TLS": [API_PORT]},
                "listenersPerNamespace": 4,
            },
        },
    }


@dataclass
class Tenant:
    namespace: str
    hostname: str
    tcp: dict[str, Any]
    routes: list[dict[str, Any]]
    certificates: dict[int, Path]  # port -> the backend's own certificate


@dataclass
class Platform:
    custom: client.CustomObjectsApi
    infra: str
    ca: Path
    tenants: list[Tenant]

    def gateway(self) -> dict[str, Any]:
        return gateway(self.custom, self.infra, "kamaji")

    def stored(self, route: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GW, "v1alpha2", route["metadata"]["namespace"], "tlsroutes", route["metadata"]["name"]
        )
        return result


@pytest.fixture(scope="module")
def platform(
    cluster_state: local_cluster.State, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    data_plane = cluster_state.data_plane
    assert data_plane, f"{cluster_state.dir} was started without --with-data-plane"
    assert data_plane["experimental_channel"], "Traefik reads TLSRoute v1alpha2 only"
    work = tmp_path_factory.mktemp("kamaji")
    configuration = client.Configuration()
    config.load_kube_config(str(cluster_state.kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration)
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    ca = work / "ca.pem"
    ca_issuer(custom, core, ca)  # signs the backends' own certificates
    namespaces: list[str] = []
    host = netns_backend.BackendHost.create(work / "test-host")
    log = work / "controller.log"
    try:
        infra = core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="e2e-kamaji-system-"))
        ).metadata.name
        namespaces.append(infra)
        tenants = []
        for index, tenant in enumerate(TENANTS):
            body = client.V1Namespace(
                metadata=client.V1ObjectMeta(
                    generate_name=f"e2e-tcp-{tenant}-", labels={KAMAJI_LABEL: "true"}
                )
            )
            namespace = core.create_namespace(body).metadata.name
            namespaces.append(namespace)
            hostname = f"{tenant}.{namespace}.k8s.example.com"
            certificates, ports = {}, []
            for port_name, port, offset in (
                ("kube-apiserver", API_PORT, 16440),
                ("konnectivity-server", KONNECTIVITY_PORT, 18130),
            ):
                directory = work / tenant  # issue() names the files after the Certificate
                directory.mkdir(exist_ok=True)
                cert = issue(core, namespace, port_name, dns_name=hostname, directory=directory)
                certificates[port] = cert[0]
                backend = host.serve(f"{namespace}/{port_name}", offset + index, tls=cert)
                ports.append((port_name, port, backend))
            tcp = kamaji.tenant_control_plane(
                tenant,
                namespace,
                {
                    "hostname": hostname,
                    # where Kamaji lets the user choose: the Gateway and the port, no sectionName
                    "parentRefs": [{"name": "kamaji", "namespace": infra, "port": API_PORT}],
                    "additionalMetadata": {
                        "annotations": {"wrapped-gateway.dev/tls-mode": "Passthrough"}
                    },
                },
            )
            assert kamaji.service_ports(tcp) == [(name, port) for name, port, _ in ports]
            apply_multi_port_service(api, namespace, tenant, ports)
            tenants.append(Tenant(namespace, hostname, tcp, [], certificates))

        with running_controller(cluster_state.kubeconfig, log):
            apply(custom, wrapped_gateway(infra))
            for tenant in tenants:
                stored = custom.create_namespaced_custom_object(
                    "kamaji.clastix.io", "v1alpha1", tenant.namespace, "tenantcontrolplanes",
                    {k: v for k, v in tenant.tcp.items() if k != "status"},
                )  # fmt: skip
                tenant.tcp["metadata"]["uid"] = stored["metadata"]["uid"]
                tenant.routes = kamaji.tls_routes(tenant.tcp, version="v1alpha2")
                for route in tenant.routes:
                    # Kamaji writes with CreateOrUpdate; an apply as "kamaji" stores the same
                    apply(custom, route, manager="kamaji")
            yield Platform(custom, infra, ca, tenants)
        assert REJECTED not in log.read_text(), log.read_text()
    finally:
        host.close()
        for namespace in namespaces:
            core.delete_namespace(namespace)
        api.close()


def programmed(platform: Platform) -> dict[str, dict[str, Any]]:
    """Every listener of the Gateway, once Traefik has programmed each with its routes: the
    three konnectivity routes on the static listener, each API server route on its own."""
    the_gateway = platform.gateway()
    reported = listener_status(the_gateway)
    for listener in the_gateway["spec"]["listeners"]:
        got = reported.get(listener["name"], {})
        for condition in ("Accepted", "ResolvedRefs", "Programmed"):
            assert got.get(condition, ("?",))[0] == "True", (listener["name"], got)
        routes = len(TENANTS) if listener["name"] == kamaji.KONNECTIVITY_SECTION else 1
        assert got["attachedRoutes"] == routes, (listener["name"], got)
    return reported


def test_each_tenant_control_plane_gets_its_passthrough_listener(platform: Platform) -> None:
    def generated() -> list[dict[str, Any]]:
        listeners: list[dict[str, Any]] = platform.gateway()["spec"]["listeners"]
        assert len(listeners) == 1 + len(TENANTS), listeners
        return listeners

    listeners = {item["name"]: item for item in eventually(generated, timeout=30)}
    for tenant in platform.tenants:
        listener = listeners[f"tls-{API_PORT}-{tenant.hostname}"]
        assert listener["hostname"] == tenant.hostname
        assert (listener["port"], listener["protocol"]) == (API_PORT, "TLS")
        assert listener["tls"] == {"mode": "Passthrough"}  # no certificate at the Gateway
        assert listener["allowedRoutes"] == {
            "namespaces": {
                "from": "Selector",
                "selector": {"matchLabels": {"kubernetes.io/metadata.name": tenant.namespace}},
            },
            "kinds": [{"group": GW, "kind": "TLSRoute"}],
        }
    assert status(platform.custom, platform.infra, "kamaji").get("refusedRoutes", []) == []

    reported = eventually(lambda: programmed(platform), timeout=60)
    assert len(reported) == 1 + len(TENANTS)

    conditions = {
        c["type"]: c for c in status(platform.custom, platform.infra, "kamaji")["conditions"]
    }
    isolated = conditions["TenantsIsolated"]
    assert (isolated["status"], isolated["reason"]) == ("False", "SharedCatchAllListener")
    assert f"'{kamaji.KONNECTIVITY_SECTION}' ({KONNECTIVITY_PORT}/TLS)" in isolated["message"]
    assert "ACME" not in isolated["message"]


def test_sni_reaches_each_tenants_own_backend_on_both_ports(platform: Platform) -> None:
    eventually(lambda: programmed(platform), timeout=60)
    for tenant in platform.tenants:
        for port, component in ((API_PORT, "kube-apiserver"), (KONNECTIVITY_PORT, "konnectivity")):

            def reached(tenant: Tenant = tenant, port: int = port) -> Any:
                try:
                    return tls_get(tenant.hostname, port, platform.ca)
                except OSError as error:  # before Traefik routes the name: its own certificate
                    raise AssertionError(f"{tenant.hostname}:{port}: {error}") from error

            reply = eventually(reached, timeout=30)
            # passthrough: the backend's own certificate, byte for byte, not one of the Gateway
            assert reply.certificate == der(tenant.certificates[port]), (tenant.hostname, port)
            assert reply.body.startswith(f"backend {tenant.namespace}/{component}"), reply.body
    own = {der(t.certificates[p]) for t in platform.tenants for p in t.certificates}
    assert len(own) == 2 * len(TENANTS)  # every backend has a certificate of its own


def test_route_status_parents_are_traefiks_alone(platform: Platform) -> None:
    """Kamaji copies each route's status into the TenantControlPlane and fails its status
    update unless there is exactly one parent; nothing the controller writes may add one."""
    eventually(lambda: programmed(platform), timeout=60)
    the_gateway = platform.gateway()
    for tenant in platform.tenants:
        api_route, konnectivity_route = tenant.routes

        def reported(route: dict[str, Any] = api_route) -> dict[str, Any]:
            stored = platform.stored(route)
            assert traefik_route_status(stored).get("Accepted") == ("True", "Accepted"), stored
            return stored

        for route in (api_route, konnectivity_route):
            stored = eventually(partial(reported, route), timeout=30)
            (parent,) = stored["status"]["parents"]
            assert parent["controllerName"] == "traefik.io/gateway-controller"
            (ref,) = route["spec"]["parentRefs"]
            assert {k: parent["parentRef"].get(k) for k in ref} == ref
            assert kamaji.status_problem(stored) is None
            # the spec is Kamaji's; the status is Traefik's alone
            for entry in stored["metadata"]["managedFields"]:
                assert entry["manager"] != FIELD_MANAGER, entry
                assert entry["manager"] == "kamaji" or entry.get("subresource") == "status", entry
        # what Kamaji then reports: the TLS listeners on the parentRef's port (all of them,
        # when the parentRef names no sectionName: one URL per TenantControlPlane there)
        api_points = kamaji.access_points(platform.stored(api_route), the_gateway)
        assert set(api_points) == {f"https://{tenant.hostname}:{API_PORT}"}
        assert len(api_points) == len(TENANTS)
        assert kamaji.access_points(platform.stored(konnectivity_route), the_gateway) == [
            f"https://{tenant.hostname}:{KONNECTIVITY_PORT}"
        ]
