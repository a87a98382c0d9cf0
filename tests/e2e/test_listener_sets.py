"""ListenerSet mode, for real: 150 routes over three namespaces, past the 64-listener limit.

A control plane of its own with cert-manager's ListenerSet shim switched on (`hack/local-cluster
up --with-cert-manager --cert-manager-listener-sets`, which starts cert-manager's controller with
`--enable-gateway-api --enable-gateway-api-listenerset --feature-gates=ListenerSets=true`; the
shim reads gateway.networking.k8s.io/v1 ListenerSet and takes the issuer annotation from the
parent Gateway), the controller as a process and a self-signed ClusterIssuer. A WrappedGateway
with `spec.output: ListenerSets` keeps its static HTTP listener in the Gateway and writes the
listeners of routes that target the ListenerSet of its name into one ListenerSet per tenant
namespace; cert-manager issues their certificates in the tenants' namespaces.

The tests share one world of 150 routes (module fixture `world`); the last test deletes one
tenant's routes, so it stays last in this file.
"""

import base64
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import local_cluster
import pytest
from kubernetes import client

from tests.e2e import acme
from tests.e2e.conftest import client_for, eventually
from tests.e2e.controller_process import REJECTED, ControllerProcess, running_controller
from tests.e2e.test_cert_manager import (
    CM,
    ISSUER,
    KUBECONFIG_ENV,
    certificates,
    ready_self_signed_issuer,
    subject_alt_names,
)
from tests.e2e.test_controller import gateway, http_route, status, wrapped

pytestmark = pytest.mark.e2e
GW = "gateway.networking.k8s.io"
WRAPPED_NAME = "shared"  # the WrappedGateway, its Gateway and every generated ListenerSet
TENANTS = 3
ROUTES_PER_TENANT = 50  # 150 in all: more than the 64 listeners a Gateway may have
ROUTE_NAMES = [f"route-{i}" for i in range(ROUTES_PER_TENANT)]  # in each tenant namespace
OWNER_UID_LABEL = "wrapped-gateway.dev/owner-uid"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
STATIC_HTTP = {
    "name": "http",
    "port": 80,
    "protocol": "HTTP",
    "allowedRoutes": {"namespaces": {"from": "Same"}},
}


def listener_set_route(
    namespace: str, name: str, hostnames: list[str], listener_set: str
) -> dict[str, Any]:
    """An HTTPRoute whose only parentRef is the ListenerSet `listener_set` of its namespace."""
    route = http_route(namespace, name, hostnames)
    route["spec"]["parentRefs"] = [{"group": GW, "kind": "ListenerSet", "name": listener_set}]
    return route


def listener_set(
    custom: client.CustomObjectsApi, namespace: str, name: str
) -> dict[str, Any] | None:
    """The ListenerSet, or None when there is none."""
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(
            GW, "v1", namespace, "listenersets", name
        )
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def serves_listener_sets(api_client: client.ApiClient) -> bool:
    """Whether the API server serves gateway.networking.k8s.io/v1 ListenerSet (Gateway API 1.5+)."""
    resources = client.CustomObjectsApi(api_client).get_api_resources(GW, "v1")
    return any(r.kind == "ListenerSet" for r in resources.resources)


def listener_set_hostnames(listeners: Iterable[dict[str, Any]]) -> set[str]:
    return {item["hostname"] for item in listeners}


# --------------------------------------------------------------------------------------
# fixtures: a cluster with cert-manager's ListenerSet shim, the controller, the world


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    reuse = os.environ.get(KUBECONFIG_ENV)
    if reuse:  # started with `hack/local-cluster up --with-cert-manager` (shim on by default)
        yield Path(reuse)
        return
    state_dir = tmp_path_factory.mktemp("listener-set-cluster")
    try:
        options = local_cluster.ClusterOptions(
            with_cert_manager=True, cert_manager_listener_sets=True
        )
        state = local_cluster.up(state_dir, options)
    except local_cluster.ClusterError as e:
        pytest.fail(f"hack/local-cluster up --with-cert-manager failed: {e}", pytrace=False)
    try:
        running = (state_dir / "logs" / "cert-manager.ready").read_text().split()
        assert "listenerset" in running, (
            f"cert-manager's ListenerSet shim is not running: {running}"
        )
        yield state.kubeconfig
    finally:
        local_cluster.down(state_dir)


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    _, api_client = client_for(kubeconfig)
    with api_client:
        yield api_client


@pytest.fixture(scope="module")
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def issuer(custom: client.CustomObjectsApi) -> str:
    return ready_self_signed_issuer(custom)


@pytest.fixture(scope="module")
def controller(
    kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    with running_controller(kubeconfig, log) as process:
        yield process
    # every Gateway and ListenerSet the controller applied was accepted by the API server
    assert REJECTED not in log.read_text(), log.read_text()


@dataclass
class World:
    platform: str  # the WrappedGateway's namespace
    tenants: list[str]  # the namespaces of the routes, in creation order
    uid: str  # the WrappedGateway's
    label: dict[str, str]  # on every namespace of this world; the routes policy selects it
    hostnames: dict[str, set[str]]  # tenant namespace -> the hostnames of its routes


def in_parallel(calls: Iterable[Callable[[], object]]) -> None:
    """Run API calls on a few threads: 150 one at a time would take most of the test's time."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def create(custom: client.CustomObjectsApi, obj: dict[str, Any]) -> Callable[[], object]:
    group, version = obj["apiVersion"].split("/")
    plural = obj["kind"].lower() + "s"
    namespace = obj["metadata"]["namespace"]
    return lambda: custom.create_namespaced_custom_object(group, version, namespace, plural, obj)


def new_namespace(core: client.CoreV1Api, prefix: str, labels: dict[str, str]) -> str:
    body = client.V1Namespace(metadata=client.V1ObjectMeta(generate_name=prefix, labels=labels))
    name: str = core.create_namespace(body).metadata.name
    return name


@pytest.fixture(scope="module")
def world(
    controller: ControllerProcess,
    issuer: str,
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
) -> Iterator[World]:
    """The WrappedGateway (spec.output ListenerSets) and 50 HTTPRoutes in each of 3 namespaces."""
    label = {"e2e-listener-sets": str(os.getpid())}
    platform = new_namespace(core, "e2e-ls-platform-", label)
    tenants = [new_namespace(core, f"e2e-ls-tenant{i}-", label) for i in range(TENANTS)]
    try:
        policy = {"namespaces": {"from": "Selector", "selector": {"matchLabels": label}}}
        owner = wrapped(
            platform, WRAPPED_NAME, routes=policy, output="ListenerSets", listeners=[STATIC_HTTP]
        )
        created = custom.create_namespaced_custom_object(
            "wrapped-gateway.dev", "v1alpha1", platform, "wrappedgateways", owner
        )
        hostnames = {
            tenant: {f"h{i}.{tenant}.example.com" for i in range(ROUTES_PER_TENANT)}
            for tenant in tenants
        }
        in_parallel(
            create(
                custom,
                listener_set_route(tenant, name, [f"h{i}.{tenant}.example.com"], WRAPPED_NAME),
            )
            for tenant in tenants
            for i, name in enumerate(ROUTE_NAMES)
        )
        yield World(platform, tenants, created["metadata"]["uid"], label, hostnames)
    finally:
        for name in (platform, *tenants):
            core.delete_namespace(name)


def allowed_listener_namespaces(custom: client.CustomObjectsApi, world: World) -> set[str]:
    """The namespaces the Gateway's allowedListeners admits (a `kubernetes.io/metadata.name In`)."""
    namespaces = gateway(custom, world.platform, WRAPPED_NAME)["spec"]["allowedListeners"][
        "namespaces"
    ]
    if namespaces["from"] == "None":
        return set()
    assert namespaces["from"] == "Selector", namespaces
    (expression,) = namespaces["selector"]["matchExpressions"]
    assert "matchLabels" not in namespaces["selector"], namespaces
    assert (expression["key"], expression["operator"]) == (NAMESPACE_NAME_LABEL, "In"), expression
    return set(expression["values"])


# --------------------------------------------------------------------------------------
# the tests


def test_every_route_gets_a_listener_past_64_and_a_certificate_in_its_namespace(
    world: World, custom: client.CustomObjectsApi, core: client.CoreV1Api
) -> None:
    def all_listeners_generated() -> bool:
        for tenant in world.tenants:
            found = listener_set(custom, tenant, WRAPPED_NAME)
            if found is None:
                return False
            if listener_set_hostnames(found["spec"]["listeners"]) != world.hostnames[tenant]:
                return False
        return True

    eventually(all_listeners_generated, timeout=120, interval=1)

    for tenant in world.tenants:
        generated = listener_set(custom, tenant, WRAPPED_NAME)
        assert generated is not None
        assert generated["metadata"]["labels"][OWNER_UID_LABEL] == world.uid
        parent = generated["spec"]["parentRef"]
        assert (parent["name"], parent.get("namespace")) == (WRAPPED_NAME, world.platform)
        assert parent.get("kind", "Gateway") == "Gateway"
        assert parent.get("group", GW) == GW
        listeners = generated["spec"]["listeners"]
        assert len(listeners) == ROUTES_PER_TENANT
        for listener in listeners:
            hostname = listener["hostname"]
            assert listener["name"] == f"https-443-{hostname}"
            assert (listener["port"], listener["protocol"]) == (443, "HTTPS")
            assert listener["tls"]["mode"] == "Terminate"
            (ref,) = listener["tls"]["certificateRefs"]
            # a Secret in the ListenerSet's own namespace
            assert ref.get("namespace", tenant) == tenant
            assert (ref.get("group", ""), ref.get("kind", "Secret")) == ("", "Secret")
            assert ref["name"] == f"tls-443-{hostname}"
            assert listener["allowedRoutes"]["namespaces"] == {"from": "Same"}

    # The Gateway keeps only the static listener and admits exactly the tenants' ListenerSets.
    live = gateway(custom, world.platform, WRAPPED_NAME)
    assert [item["name"] for item in live["spec"]["listeners"]] == ["http"]
    assert allowed_listener_namespaces(custom, world) == set(world.tenants)
    assert status(custom, world.platform, WRAPPED_NAME).get("refusedRoutes", []) == []

    # cert-manager's ListenerSet shim: one Certificate per Secret, in the tenant's namespace,
    # with exactly its listener's hostname, owned by the ListenerSet.
    def certificates_per_tenant() -> bool:
        return all(
            len(certificates(custom, tenant)) == ROUTES_PER_TENANT for tenant in world.tenants
        )

    eventually(certificates_per_tenant, timeout=120, interval=1)
    for tenant in world.tenants:
        found = certificates(custom, tenant)
        assert set(found) == {f"tls-443-{h}" for h in world.hostnames[tenant]}
        for name, cert in found.items():
            hostname = name.removeprefix("tls-443-")
            assert cert["spec"]["secretName"] == name
            assert cert["spec"]["dnsNames"] == [hostname]
            assert cert["spec"]["issuerRef"] == {
                "name": ISSUER,
                "kind": "ClusterIssuer",
                "group": CM,
            }
            (owner,) = cert["metadata"]["ownerReferences"]
            assert (owner["kind"], owner["name"]) == ("ListenerSet", WRAPPED_NAME)

    # ... and issued: each Secret holds a certificate for exactly its hostname. 150 issuances
    # at cert-manager's default client rate (20 requests a second) take a minute or two.
    def issued(tenant: str) -> dict[str, list[str]]:
        sans = {}
        for secret in core.list_namespaced_secret(tenant).items:
            data = secret.data or {}
            if secret.type == "kubernetes.io/tls" and data.get("tls.crt"):
                sans[secret.metadata.name] = subject_alt_names(base64.b64decode(data["tls.crt"]))
        assert len(sans) == ROUTES_PER_TENANT, f"{tenant}: {len(sans)} Secrets issued so far"
        return sans

    for tenant in world.tenants:
        sans = eventually(lambda t=tenant: issued(t), timeout=300, interval=3)
        assert sans == {f"tls-443-{h}": [f"DNS:{h}"] for h in world.hostnames[tenant]}


def test_a_hostname_of_another_namespace_is_refused_and_gets_no_listener(
    world: World, custom: client.CustomObjectsApi, core: client.CoreV1Api
) -> None:
    (first_tenant, *_) = world.tenants
    taken = sorted(world.hostnames[first_tenant])[0]
    eventually(
        lambda: (
            (found := listener_set(custom, first_tenant, WRAPPED_NAME)) is not None
            and taken in listener_set_hostnames(found["spec"]["listeners"])
        ),
        timeout=120,
        interval=1,
    )
    time.sleep(1.1)  # creationTimestamps have one-second resolution: the intruder is younger
    intruder_ns = new_namespace(core, "e2e-ls-intruder-", world.label)
    try:
        create(custom, listener_set_route(intruder_ns, "intruder", [taken], WRAPPED_NAME))()

        def refusal() -> dict[str, Any]:
            refused = status(custom, world.platform, WRAPPED_NAME).get("refusedRoutes", [])
            found = [r for r in refused if r.get("namespace") == intruder_ns]
            assert len(found) == 1, refused  # an AssertionError makes `eventually` retry
            return found[0]

        refused = eventually(refusal, timeout=30)
        assert (refused["name"], refused["reason"]) == ("intruder", "HostnameConflict")

        def warning_reasons() -> set[str]:
            events = core.list_namespaced_event(intruder_ns).items
            return {
                e.reason
                for e in events
                if e.involved_object.name == "intruder" and e.type == "Warning"
            }

        assert "HostnameConflict" in eventually(warning_reasons, timeout=30)
        # no listener for it anywhere: no ListenerSet in its namespace, none admitted there,
        # and the owner's listener is untouched
        assert listener_set(custom, intruder_ns, WRAPPED_NAME) is None
        assert intruder_ns not in allowed_listener_namespaces(custom, world)
        owner_set = listener_set(custom, first_tenant, WRAPPED_NAME)
        assert owner_set is not None
        assert (
            listener_set_hostnames(owner_set["spec"]["listeners"]) == world.hostnames[first_tenant]
        )
    finally:
        core.delete_namespace(intruder_ns)


def test_acme_http01_gets_a_plain_http_listener_in_the_owners_listener_set_only(
    controller: ControllerProcess,
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The gateway shim's solver route for a ListenerSet listener names that ListenerSet
    (cert-manager v1.21) and gets the name's plain-HTTP listener beside it; another tenant's
    own Issuer and Certificate for the name get a refused solver route and no listener. The
    challenge is not validated here (no data plane serves v1 ListenerSets in this cluster)."""
    platform = new_namespace(core, "e2e-ls-acme-", {})
    owner_ns = new_namespace(core, "e2e-ls-acme-owner-", {})
    intruder_ns = new_namespace(core, "e2e-ls-acme-intruder-", {})
    name = f"x.{owner_ns}.example.com"
    solver = {"parentRefs": [{"group": GW, "kind": "ListenerSet", "name": "acme"}]}
    work = tmp_path_factory.mktemp("pebble")
    with acme.pebble(work, local_cluster.free_port()) as server:
        acme_issuer = {
            "server": server.url,
            "caBundle": base64.b64encode(server.ca).decode(),
            "privateKeySecretRef": {"name": "acme-ls-account"},
            "solvers": [{"http01": {"gatewayHTTPRoute": solver}}],
        }
        issuers = [
            {"kind": "ClusterIssuer", "metadata": {"name": "acme-ls"}},
            {"kind": "Issuer", "metadata": {"name": "evil", "namespace": intruder_ns}},
        ]
        for issuer in issuers:
            body = {"apiVersion": f"{CM}/v1", **issuer, "spec": {"acme": acme_issuer}}
            if issuer["kind"] == "ClusterIssuer":
                custom.create_cluster_custom_object(CM, "v1", "clusterissuers", body)
            else:
                create(custom, body)()
        try:
            owner = wrapped(
                platform, "acme", routes={"namespaces": {"from": "All"}},
                output="ListenerSets", listeners=[STATIC_HTTP],
            )  # fmt: skip
            owner["metadata"]["annotations"] = {f"{CM}/cluster-issuer": "acme-ls"}
            create(custom, owner)()
            # a wildcard too: its certificate needs DNS-01, so no HTTP-01 challenge of the owner
            # holds back the intruder's for a name below it (cert-manager solves one at a time)
            wildcard = f"*.w.{owner_ns}.example.com"
            create(custom, listener_set_route(owner_ns, "web", [name, wildcard], "acme"))()

            def listeners() -> dict[str, dict[str, Any]]:
                found = listener_set(custom, owner_ns, "acme")
                return {
                    item["name"]: item
                    for item in (found or {"spec": {"listeners": []}})["spec"]["listeners"]
                }

            plain = eventually(lambda: listeners().get(f"http-80-{name}"), timeout=120, interval=1)
            assert plain["protocol"] == "HTTP"
            assert plain["allowedRoutes"]["namespaces"] == {"from": "Same"}
            # the intruder's own Certificate for a name the owner holds
            stolen = {
                "apiVersion": f"{CM}/v1",
                "kind": "Certificate",
                "metadata": {"name": "stolen", "namespace": intruder_ns},
                "spec": {
                    "dnsNames": [f"a.w.{owner_ns}.example.com"],
                    "secretName": "stolen",
                    "issuerRef": {"name": "evil"},
                },
            }
            create(custom, stolen)()

            def refused() -> set[str]:
                return {
                    r["reason"]
                    for r in status(custom, platform, "acme").get("refusedRoutes", [])
                    if r["namespace"] == intruder_ns
                }

            assert eventually(refused, timeout=120, interval=1) == {"HostnameConflict"}
            assert listener_set(custom, intruder_ns, "acme") is None
        finally:
            custom.delete_cluster_custom_object(CM, "v1", "clusterissuers", "acme-ls")
            for namespace in (platform, owner_ns, intruder_ns):
                core.delete_namespace(namespace)


def test_a_namespace_with_a_listener_set_the_controller_did_not_write_is_shut_out(
    world: World, custom: client.CustomObjectsApi, core: client.CoreV1Api
) -> None:
    """Attacks by a tenant who may write ListenerSets (README: grant none): its own ListenerSet
    joining the Gateway, and a listener added to the generated one by another field manager.
    Either shuts the tenant's namespace out of the Gateway until it is undone."""
    tenant = new_namespace(core, "e2e-ls-writer-", world.label)
    hostname = f"solo.{tenant}.example.com"
    try:
        create(custom, listener_set_route(tenant, "solo", [hostname], WRAPPED_NAME))()

        def served_cleanly() -> str:
            found = listener_set(custom, tenant, WRAPPED_NAME)
            assert found is not None
            assert listener_set_hostnames(found["spec"]["listeners"]) == {hostname}, found
            assert tenant in allowed_listener_namespaces(custom, world)
            uid: str = found["metadata"]["uid"]
            return uid

        eventually(served_cleanly, timeout=60)
        own = {
            "apiVersion": f"{GW}/v1",
            "kind": "ListenerSet",
            "metadata": {"name": "own", "namespace": tenant},
            "spec": {
                "parentRef": {"group": GW, "kind": "Gateway", "name": WRAPPED_NAME,
                              "namespace": world.platform},
                "listeners": [{"name": "stolen", "port": 80, "protocol": "HTTP",
                               "hostname": sorted(world.hostnames[world.tenants[0]])[0]}],
            },
        }  # fmt: skip
        custom.create_namespaced_custom_object(GW, "v1", tenant, "listenersets", own)

        def shut_out() -> bool:
            refused = status(custom, world.platform, WRAPPED_NAME).get("refusedRoutes", [])
            mine = [r for r in refused if r.get("namespace") == tenant]
            assert [r["reason"] for r in mine] == ["ListenerSetNotOwned"], refused
            assert f"ListenerSet {tenant}/own" in mine[0]["message"]
            assert tenant not in allowed_listener_namespaces(custom, world)
            return listener_set(custom, tenant, WRAPPED_NAME) is None

        eventually(shut_out, timeout=30)
        custom.delete_namespaced_custom_object(GW, "v1", tenant, "listenersets", "own")
        before = eventually(served_cleanly, timeout=60)

        added = {"name": "extra", "port": 80, "protocol": "HTTP", "hostname": f"x.{tenant}.io"}
        current = listener_set(custom, tenant, WRAPPED_NAME)
        assert current is not None
        patch = {"spec": {"listeners": [*current["spec"]["listeners"], added]}}
        custom.patch_namespaced_custom_object(
            GW, "v1", tenant, "listenersets", WRAPPED_NAME, patch, field_manager="tenant-edit"
        )
        # deleted, with the tenant's listener, and written again as the controller's alone
        after = eventually(lambda: (uid := served_cleanly()) != before and uid, timeout=60)
        assert after != before
    finally:
        core.delete_namespace(tenant)


def test_a_namespace_without_routes_loses_its_listener_set(
    world: World, custom: client.CustomObjectsApi
) -> None:
    """Runs last: it takes one tenant out of the shared world."""
    *staying, leaving = world.tenants
    eventually(lambda: listener_set(custom, leaving, WRAPPED_NAME) is not None, timeout=120)
    in_parallel(
        (
            lambda name=name: custom.delete_namespaced_custom_object(
                GW, "v1", leaving, "httproutes", name
            )
        )
        for name in ROUTE_NAMES
    )
    eventually(lambda: listener_set(custom, leaving, WRAPPED_NAME) is None, timeout=60)
    eventually(lambda: allowed_listener_namespaces(custom, world) == set(staying), timeout=30)
    for tenant in staying:
        remaining = listener_set(custom, tenant, WRAPPED_NAME)
        assert remaining is not None
        assert listener_set_hostnames(remaining["spec"]["listeners"]) == world.hostnames[tenant]
    # the garbage collector follows: the deleted ListenerSet's Certificates go with it
    eventually(lambda: certificates(custom, leaving) == {}, timeout=90, interval=1)
