"""vCluster tenants on one generated Gateway, through Traefik (issue 24).

Two vClusters, ``a`` and ``b``, each with its own host namespace, import the host Gateway
(``sync.fromHost.gateways``) and sync their tenants' HTTPRoutes to the host. The host objects
are written exactly as vCluster's syncer writes them (``tests/platforms/vcluster.py``, which
names the vCluster source files and release it follows): renamed
``<name>-x-<namespace>-x-<vcluster>`` (hashed beyond 63 characters), in the vCluster's host
namespace, labels and annotations translated, parentRefs rewritten to the host Gateway,
backendRefs to the synced Services. The WrappedGateway is the one docs/vcluster.md recommends:
the vClusters' host namespaces admitted by label, each held to ``*.<host namespace>.apps...``,
a static listener of the platform's own so that the Gateway (and so the imported mirror) exists
before any tenant route. The tests prove:

- each vCluster's routes get their HTTPS listeners, admitting only that vCluster's host
  namespace, and cert-manager certificates; HTTPS through Traefik reaches each backend with a
  certificate for exactly its name; the static listener is there before any route;
- vCluster ``b`` cannot take ``a``'s names however its tenants name their routes or
  namespaces (a virtual namespace named like ``a``'s host namespace, labels and annotations
  claiming to be ``a``'s, a parentRef naming the host Gateway itself, which vCluster's own
  ``allowedHostnames`` check does not cover): every such route is refused, nothing changes on
  the Gateway, and ``b``'s backend gets no request for ``a``'s names.

Needs root and curl (see test_data_plane.py).
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
from tests.e2e.data_plane import Answer, ca_issuer, curl, listener_status
from tests.e2e.platforms import data_plane_cluster
from tests.e2e.test_controller import apply, gateway, status
from tests.platforms.vcluster import VCluster, host_name

pytestmark = pytest.mark.e2e
GW = "gateway.networking.k8s.io"
VCLUSTER_LABEL = "vcluster.example.com/host-namespace"  # set by the platform team only
MIRROR = "gateways/edge"  # where each vCluster shows the imported Gateway
LONG = ("storefront-application-with-a-long-name", "production-storefront")  # route, namespace


@pytest.fixture(scope="module")
def cluster_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_cluster.State]:
    yield from data_plane_cluster(
        tmp_path_factory.mktemp("vcluster-cluster"), (local_cluster.free_port(),)
    )


def wrapped_gateway(namespace: str, issuer: str, port: int) -> dict[str, Any]:
    """docs/vcluster.md's WrappedGateway, on the port Traefik serves here."""
    vclusters = {"from": "Selector", "selector": {"matchLabels": {VCLUSTER_LABEL: "true"}}}
    return {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {
            "name": "edge",
            "namespace": namespace,
            "annotations": {"cert-manager.io/cluster-issuer": issuer},
        },
        "spec": {
            "gatewayClassName": "traefik",
            "listeners": [
                {
                    "name": "platform",
                    "hostname": "gateway.example.com",
                    "port": port,
                    "protocol": "HTTPS",
                    "tls": {"certificateRefs": [{"name": "gateway-example-com"}]},
                }
            ],
            "routes": {
                "namespaces": vclusters,
                "hostnames": ["*.{namespace}.apps.example.com"],
                "listenersPerNamespace": 16,
                "ports": {"HTTPS": [port]},
            },
        },
    }


def virtual_route(
    namespace: str, name: str, hostname: str, port: int, **metadata: Any
) -> dict[str, Any]:
    """A tenant's HTTPRoute as its vCluster's API server stores it (parentRef defaults set)."""
    mirror_namespace, mirror = MIRROR.split("/")
    parent = {"group": GW, "kind": "Gateway", "name": mirror, "namespace": mirror_namespace}
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", **metadata},
        "spec": {
            "parentRefs": [{**parent, "port": port}],
            "hostnames": [hostname],
            "rules": [{"backendRefs": [{"name": "web", "port": 80}]}],
        },
    }


@dataclass
class Platform:
    custom: client.CustomObjectsApi
    infra: str
    port: int
    ca: Path
    vclusters: dict[str, VCluster]
    host: netns_backend.BackendHost
    synced: dict[str, dict[str, Any]]  # what the syncers wrote, by a name of the test's
    before: list[dict[str, Any]]  # the Gateway's listeners before any tenant route

    def gateway(self) -> dict[str, Any]:
        return gateway(self.custom, self.infra, "edge")

    def hostname(self, vcluster: str, label: str) -> str:
        return f"{label}.{self.vclusters[vcluster].host_namespace}.apps.example.com"

    def sync(self, key: str, vcluster: str, route: dict[str, Any]) -> dict[str, Any]:
        """Write the host object vCluster ``vcluster``'s syncer writes for ``route``."""
        self.synced[key] = apply(
            self.custom, self.vclusters[vcluster].synced_route(route), manager="vcluster"
        )
        return self.synced[key]


@pytest.fixture(scope="module")
def platform(
    cluster_state: local_cluster.State, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    data_plane = cluster_state.data_plane
    assert data_plane, f"{cluster_state.dir} was started without --with-data-plane"
    port = data_plane["ports"][0]
    work = tmp_path_factory.mktemp("vcluster")
    configuration = client.Configuration()
    config.load_kube_config(str(cluster_state.kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration)
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    ca = work / "ca.pem"
    issuer = ca_issuer(custom, core, ca)
    namespaces: list[str] = []
    host = netns_backend.BackendHost.create(work / "test-host")
    log = work / "controller.log"
    try:
        infra = core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="e2e-vc-infra-"))
        ).metadata.name
        namespaces.append(infra)
        vclusters = {}
        for index, name in enumerate(("a", "b")):
            meta = client.V1ObjectMeta(
                generate_name=f"e2e-vc-{name}-", labels={VCLUSTER_LABEL: "true"}
            )
            namespace = core.create_namespace(client.V1Namespace(metadata=meta)).metadata.name
            namespaces.append(namespace)
            # the vCluster's own Service, owner of everything its syncer writes
            service = core.create_namespaced_service(
                namespace,
                client.V1Service(
                    metadata=client.V1ObjectMeta(name=name),
                    spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=443)]),
                ),
            )
            vclusters[name] = VCluster(
                name, namespace, imports={f"{infra}/edge": MIRROR}, service_uid=service.metadata.uid
            )
            # the Services the vCluster syncs for its tenants' backends: "web" in three of
            # its virtual namespaces
            for offset, vnamespace in enumerate(("shop", LONG[1], "ops")):
                served = host.serve(f"{name}/{vnamespace}/web", 8080 + 10 * index + offset)
                synced_service = host_name("web", vnamespace, name)
                netns_backend.apply_service(api, namespace, synced_service, 80, served)
        with running_controller(cluster_state.kubeconfig, log):
            apply(custom, wrapped_gateway(infra, issuer, port))
            result = Platform(custom, infra, port, ca, vclusters, host, {}, [])
            # before any tenant route, the Gateway exists: each vCluster has a mirror to import
            result.before = eventually(lambda: listeners(result), timeout=30)
            result.sync(
                "a-web", "a", virtual_route("shop", "web", result.hostname("a", "web"), port)
            )
            result.sync(
                "a-long", "a", virtual_route(LONG[1], LONG[0], result.hostname("a", "store"), port)
            )
            # the same virtual namespace and name in the other vCluster
            result.sync(
                "b-web", "b", virtual_route("shop", "web", result.hostname("b", "web"), port)
            )
            yield result
        assert REJECTED not in log.read_text(), log.read_text()
    finally:
        host.close()
        for namespace in namespaces:
            core.delete_namespace(namespace)
        api.close()


def listeners(platform: Platform) -> list[dict[str, Any]]:
    try:
        result: list[dict[str, Any]] = platform.gateway()["spec"]["listeners"]
    except client.ApiException as error:
        raise AssertionError(f"no Gateway yet: {error.reason}") from error
    return result


def programmed(platform: Platform, names: int) -> dict[str, dict[str, Any]]:
    """The listeners, once there are `names` and Traefik has programmed each (cert-manager
    issued its Secret) with a route attached."""
    the_gateway = platform.gateway()
    reported = listener_status(the_gateway)
    assert len(the_gateway["spec"]["listeners"]) == names, the_gateway["spec"]["listeners"]
    for listener in the_gateway["spec"]["listeners"]:
        got = reported.get(listener["name"], {})
        for condition in ("Accepted", "ResolvedRefs", "Programmed"):
            assert got.get(condition, ("?",))[0] == "True", (listener["name"], got)
        if listener["name"] != "platform":
            assert got["attachedRoutes"] == 1, (listener["name"], got)
    return reported


def answered(platform: Platform, hostname: str, backend: str) -> Answer:
    def attempt() -> Answer:
        answer = curl(hostname, platform.port, platform.ca)
        assert answer.returncode == 0, answer.stderr
        assert answer.body.startswith(f"backend {backend} answered"), answer
        return answer

    result: Answer = eventually(attempt, timeout=30)
    return result


def test_each_vcluster_gets_listeners_and_certificates_for_its_names(platform: Platform) -> None:
    assert [item["name"] for item in platform.before] == ["platform"]
    owners = {
        platform.hostname("a", "web"): ("a", "shop"),
        platform.hostname("a", "store"): ("a", LONG[1]),
        platform.hostname("b", "web"): ("b", "shop"),
    }
    eventually(partial(programmed, platform, 1 + len(owners)), timeout=90)
    generated = {item.get("hostname"): item for item in listeners(platform)}
    for hostname, (vcluster, vnamespace) in owners.items():
        listener = generated[hostname]
        assert listener["protocol"] == "HTTPS"
        host_namespace = platform.vclusters[vcluster].host_namespace
        assert listener["allowedRoutes"]["namespaces"] == {
            "from": "Selector",
            "selector": {"matchLabels": {"kubernetes.io/metadata.name": host_namespace}},
        }
        answer = answered(platform, hostname, f"{vcluster}/{vnamespace}/web")
        assert answer.sans == [f"DNS:{hostname}"]  # its own certificate, verified by the CA
    # the long name as vCluster hashes it, and served all the same
    long_name = platform.synced["a-long"]["metadata"]["name"]
    assert len(long_name) == 63
    assert long_name.startswith(f"{LONG[0]}-x-production-")
    assert status(platform.custom, platform.infra, "edge").get("refusedRoutes", []) == []


def test_one_vcluster_cannot_take_the_others_names(platform: Platform) -> None:
    owners = {platform.hostname("a", "web"), platform.hostname("a", "store")}
    eventually(partial(programmed, platform, 4), timeout=90)
    before = listeners(platform)
    a_namespace, port = platform.vclusters["a"].host_namespace, platform.port
    a_web, a_store = platform.hostname("a", "web"), platform.hostname("a", "store")
    impostors = {
        # named like a's synced route
        "named-like-a": virtual_route("ops", "web-x-shop-x-a", a_web, port),
        # in a virtual namespace named like a's host namespace, backend in "ops"
        "namespace-like-a": virtual_route(a_namespace, "web", a_store, port),
        # labels and annotations claiming to be a's, a wildcard over a's names, and a
        # parentRef to the host Gateway itself, past vCluster's allowedHostnames check
        "labelled-like-a": virtual_route(
            "ops", "wild", f"*.{a_namespace}.apps.example.com", port,
            labels={"vcluster.loft.sh/namespace": "shop", "vcluster.loft.sh/managed-by": "a"},
            annotations={
                "vcluster.loft.sh/object-host-namespace": a_namespace,
                "vcluster.loft.sh/object-host-name": "web-x-shop-x-a",
            },
        ),
    }  # fmt: skip
    impostors["namespace-like-a"]["spec"]["rules"][0]["backendRefs"][0]["namespace"] = "ops"
    impostors["labelled-like-a"]["spec"]["parentRefs"][0].update(
        name="edge", namespace=platform.infra
    )
    for key, route in impostors.items():
        stored = platform.sync(key, "b", route)
        assert stored["metadata"]["namespace"] == platform.vclusters["b"].host_namespace
        assert stored["metadata"]["labels"]["vcluster.loft.sh/managed-by"] == "b"
        assert stored["spec"]["parentRefs"][0]["namespace"] == platform.infra

    names = {stored["metadata"]["name"] for stored in (platform.synced[k] for k in impostors)}

    def refused() -> list[tuple[str, str]]:
        reported = status(platform.custom, platform.infra, "edge").get("refusedRoutes", [])
        got = sorted((r["name"], r["reason"]) for r in reported if r["name"] in names)
        assert [name for name, _ in got] == sorted(names), reported
        return got

    assert {reason for _, reason in eventually(refused)} == {"HostnameNotAllowed"}
    assert listeners(platform) == before
    for hostname in owners:
        listener = next(item for item in before if item.get("hostname") == hostname)
        assert listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": a_namespace
        }
    for _ in range(3):
        answered(platform, platform.hostname("a", "web"), "a/shop/web")
        answered(platform, platform.hostname("a", "store"), f"a/{LONG[1]}/web")
    assert platform.host.backends["b/ops/web"].requests() == []
