"""Kamaji and vCluster, as the core sees the objects they write (issue 24).

The objects come from `tests/platforms/` (which names the source files and releases they follow);
the WrappedGateways are read from docs/kamaji.md and docs/vcluster.md, so the pages recommend
what is tested here. End to end, with Traefik and real TLS: tests/e2e/test_kamaji.py and
tests/e2e/test_vcluster.py.
"""

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platforms import kamaji
from tests.platforms.vcluster import NotSynced, VCluster, host_label, host_name
from wrapped_gateway.constants import Reason
from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.routes import parse_route
from wrapped_gateway.wrapped import parse_wrapped_gateway

DOCS = Path(__file__).resolve().parents[2] / "docs"
GW = "gateway.networking.k8s.io"
PASSTHROUGH = {"wrapped-gateway.dev/tls-mode": "Passthrough"}


def documented(page: str) -> dict[str, dict[str, Any]]:
    """The WrappedGateways of a docs page's YAML blocks, by "namespace/name"."""
    text = (DOCS / page).read_text()
    found = {}
    for block in text.split("```yaml\n")[1:]:
        for obj in yaml.safe_load_all(block.split("```", 1)[0]):
            if obj and obj.get("kind") == "WrappedGateway":
                found[f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"] = obj
    return found


def render(
    wrapped: dict[str, Any], routes: list[dict[str, Any]], labels: dict[str, dict[str, str]]
) -> DesiredGateway:
    return desired_gateway(parse_wrapped_gateway(wrapped), [parse_route(r) for r in routes], labels)


def refusals(desired: DesiredGateway) -> dict[str, set[str]]:
    """Route "namespace/name" -> the reasons it was refused."""
    result: dict[str, set[str]] = {}
    for refusal in desired.refusals:
        result.setdefault(f"{refusal.namespace}/{refusal.name}", set()).add(refusal.reason)
    return result


def listeners(desired: DesiredGateway) -> dict[str, dict[str, Any]]:
    assert desired.gateway is not None
    return {item["name"]: item for item in desired.gateway["spec"]["listeners"]}


# --------------------------------------------------------------------------------------
# Kamaji

KAMAJI_LABEL = {"kamaji.example.com/tenant-control-planes": "true"}


def tcp(
    name: str, namespace: str, hostname: str, parent: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    gateway = {"hostname": hostname, "parentRefs": [parent], **extra}
    result = kamaji.tenant_control_plane(name, namespace, gateway)
    result["metadata"]["uid"] = f"uid-{namespace}-{name}"
    return result


def to_kamaji(**extra: Any) -> dict[str, Any]:
    return {"name": "kamaji", "namespace": "kamaji-system", "port": 6443, **extra}


def test_kamaji_writes_two_tls_routes_and_forces_the_konnectivity_listener() -> None:
    """What tests/platforms/kamaji.py writes, spelt out once against Kamaji's source."""
    obj = tcp(
        "one", "tenant-one", "one.k8s.example.com", to_kamaji(sectionName="mine"),
        additionalMetadata={"labels": {"team": "one"}, "annotations": PASSTHROUGH},
    )  # fmt: skip
    api, konnectivity = kamaji.tls_routes(obj)
    owner = {
        "apiVersion": "kamaji.clastix.io/v1alpha1",
        "kind": "TenantControlPlane",
        "name": "one",
        "uid": "uid-tenant-one-one",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert konnectivity == {
        "apiVersion": f"{GW}/v1",
        "kind": "TLSRoute",
        "metadata": {
            "name": "one-konnectivity",
            "namespace": "tenant-one",
            "labels": {
                "kamaji.clastix.io/project": "kamaji",
                "kamaji.clastix.io/name": "one",
                "kamaji.clastix.io/component": "konnectivity_gateway_routes",
                "team": "one",
            },
            "annotations": PASSTHROUGH,
            "ownerReferences": [owner],
        },
        "spec": {
            "parentRefs": [to_kamaji(port=8132, sectionName="konnectivity-server")],
            "hostnames": ["one.k8s.example.com"],
            "rules": [{"backendRefs": [{"name": "one", "port": 8132}]}],
        },
    }
    assert api["metadata"]["name"] == "one"
    assert api["metadata"]["labels"]["kamaji.clastix.io/component"] == "gateway_routes"
    assert api["spec"]["parentRefs"] == [to_kamaji(sectionName="mine")]  # as the user wrote
    assert api["spec"]["rules"] == [{"backendRefs": [{"name": "one", "port": 6443}]}]
    assert kamaji.tls_routes(obj, version="v1alpha2")[1]["apiVersion"] == f"{GW}/v1alpha2"
    without = kamaji.tenant_control_plane(
        "two", "t", {"hostname": "h", "parentRefs": []}, **{"konnectivity_port": None}
    )
    assert [r["metadata"]["name"] for r in kamaji.tls_routes(without)] == ["two"]


def kamaji_routes(count: int, **extra: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The routes of `count` TenantControlPlanes in namespaces of their own, as docs/kamaji.md
    writes them, and the namespaces' labels."""
    routes, labels = [], {}
    for index in range(count):
        namespace = f"tenant-{index}"
        labels[namespace] = {**KAMAJI_LABEL, "kubernetes.io/metadata.name": namespace}
        hostname = f"cp.{namespace}.k8s.example.com"
        obj = tcp(
            "cp", namespace, hostname, to_kamaji(),
            additionalMetadata={"annotations": PASSTHROUGH}, **extra,
        )  # fmt: skip
        routes.extend(kamaji.tls_routes(obj))
    return routes, labels


@pytest.mark.parametrize("version", ["v1", "v1alpha2"])
def test_n_tenant_control_planes_get_a_passthrough_listener_each(version: str) -> None:
    wrapped = documented("kamaji.md")["kamaji-system/kamaji"]
    routes, labels = kamaji_routes(20)
    for route in routes:
        route["apiVersion"] = f"{GW}/{version}"
    desired = render(wrapped, routes, labels)
    assert refusals(desired) == {}
    got = listeners(desired)
    assert len(got) == 21
    assert got["konnectivity-server"] == wrapped["spec"]["listeners"][0]  # static, verbatim
    for index in range(20):
        hostname = f"cp.tenant-{index}.k8s.example.com"
        assert got[f"tls-6443-{hostname}"] == {
            "name": f"tls-6443-{hostname}",
            "port": 6443,
            "protocol": "TLS",
            "hostname": hostname,
            "tls": {"mode": "Passthrough"},
            "allowedRoutes": {
                "namespaces": {
                    "from": "Selector",
                    "selector": {"matchLabels": {"kubernetes.io/metadata.name": f"tenant-{index}"}},
                },
                "kinds": [{"group": GW, "kind": "TLSRoute"}],
            },
        }
    # the condition TenantsIsolated is False, naming the static listener (docs/kamaji.md)
    (warning,) = desired.shared_catch_alls
    assert warning.startswith("static listener 'konnectivity-server' (8132/TLS) has no hostname")


def test_a_tenant_control_plane_cannot_take_another_ones_api_server_name() -> None:
    wrapped = documented("kamaji.md")["kamaji-system/kamaji"]
    routes, labels = kamaji_routes(2)
    labels["intruder"] = {**KAMAJI_LABEL, "kubernetes.io/metadata.name": "intruder"}
    meta = {"additionalMetadata": {"annotations": PASSTHROUGH}}
    for name, hostname in (
        ("same", "cp.tenant-0.k8s.example.com"),  # another namespace's, inside its pattern
        ("own", "cp.intruder.k8s.example.com"),  # its own: allowed, to compare
    ):
        routes.extend(kamaji.tls_routes(tcp(name, "intruder", hostname, to_kamaji(), **meta)))
    desired = render(wrapped, routes, labels)
    assert refusals(desired) == {"intruder/same": {Reason.HOSTNAME_NOT_ALLOWED}}
    assert "tls-6443-cp.intruder.k8s.example.com" in listeners(desired)
    # its konnectivity route names the static listener: the controller is not asked, and
    # reports nothing; docs/kamaji.md says why the platform must keep such names out
    assert "intruder/same-konnectivity" not in refusals(desired)


def test_kamajis_own_section_name_serves_one_tenant_control_plane_only() -> None:
    """Kamaji's guide writes `sectionName: kube-apiserver`: a second TenantControlPlane naming
    it is refused, which is why docs/kamaji.md leaves the sectionName out."""
    wrapped = documented("kamaji.md")["kamaji-system/kamaji"]
    routes, labels = kamaji_routes(2)
    for route in routes:
        ref = route["spec"]["parentRefs"][0]
        ref.setdefault("sectionName", "kube-apiserver")
    desired = render(wrapped, routes, labels)
    assert refusals(desired) == {"tenant-1/cp": {Reason.SECTION_NAME_CONFLICT}}


def test_tenant_control_planes_in_the_platforms_namespace_keep_tenants_isolated() -> None:
    wrapped = documented("kamaji.md")["kamaji-tenants/kamaji"]
    routes = []
    for name in ("one", "two", "three"):
        hostname = f"{name}.k8s.example.com"
        parent = {"name": "kamaji", "port": 6443}  # the TenantControlPlanes' own namespace
        obj = tcp(
            name,
            "kamaji-tenants",
            hostname,
            parent,
            additionalMetadata={"annotations": PASSTHROUGH},
        )
        routes.extend(kamaji.tls_routes(obj))
    desired = render(wrapped, routes, {})
    assert refusals(desired) == {}
    assert desired.shared_catch_alls == ()
    got = listeners(desired)
    assert {name for name in got if name.startswith("tls-6443-")} == {
        f"tls-6443-{name}.k8s.example.com" for name in ("one", "two", "three")
    }
    assert all(item["tls"] == {"mode": "Passthrough"} for item in got.values())


def test_kamajis_status_checks() -> None:
    route = kamaji.tls_routes(tcp("one", "t", "one.example.com", to_kamaji()))[0]
    parent = {"parentRef": to_kamaji(), "conditions": [{"type": "Accepted", "status": "True"}]}
    assert kamaji.status_problem(route) == "no gateway attached to the route"
    route["status"] = {"parents": [parent, parent]}
    assert kamaji.status_problem(route) == "too many gateway attached to the route"
    route["status"] = {"parents": [parent]}
    assert kamaji.status_problem(route) is None
    the_gateway = {
        "metadata": {"name": "kamaji", "namespace": "kamaji-system"},
        "spec": {
            "listeners": [
                {"name": "a", "port": 6443, "protocol": "TLS"},
                {"name": "b", "port": 6443, "protocol": "TLS"},
                {"name": "c", "port": 8132, "protocol": "TLS"},
            ]
        },
        "status": {"conditions": [{"type": "Programmed", "status": "True"}]},
    }
    assert kamaji.access_points(route, the_gateway) == ["https://one.example.com:6443"] * 2


# --------------------------------------------------------------------------------------
# vCluster


def test_names_as_vcluster_makes_them() -> None:
    assert host_name("web", "shop", "a") == "web-x-shop-x-a"
    long = host_name("storefront-application-with-a-long-name", "production-storefront", "a")
    whole = "storefront-application-with-a-long-name-x-production-storefront-x-a"
    assert long == whole[:52] + "-" + hashlib.sha256(whole.encode()).hexdigest()[:10]
    assert len(long) == 63
    # vCluster's own test vector (pkg/util/translate/translate_test.go, vCluster "suffix")
    assert host_label("release", "suffix") == "vcluster.loft.sh/label-suffix-x-a4d451ec23"
    assert host_label("app", "suffix") == "app"


def virtual_route(
    namespace: str, name: str, hostnames: list[str], parent: dict[str, Any], **metadata: Any
) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace, "uid": f"u-{name}", **metadata},
        "spec": {
            "parentRefs": [{"group": GW, "kind": "Gateway", **parent}],
            "hostnames": hostnames,
            "rules": [{"backendRefs": [{"name": "web", "port": 80}]}],
        },
    }


MIRROR = {"name": "edge", "namespace": "gateways", "port": 443}


def vcluster(name: str, **extra: Any) -> VCluster:
    return VCluster(name, f"vc-{name}", imports={"infra/edge": "gateways/edge"}, **extra)


def test_the_route_the_syncer_writes() -> None:
    route = virtual_route(
        "shop", "web", ["web.vc-a.apps.example.com"], {**MIRROR, "sectionName": "x"},
        labels={"app": "web", "release": "r1", "vcluster.loft.sh/namespace": "forged"},
        annotations={"note": "n", "vcluster.loft.sh/object-host-namespace": "vc-b"},
    )  # fmt: skip
    synced = vcluster("a", service_uid="svc-uid").synced_route(route)
    assert synced["metadata"] == {
        "name": "web-x-shop-x-a",
        "namespace": "vc-a",
        "labels": {
            "app": "web",
            host_label("release", "a"): "r1",
            # the tenant's own spelling of vCluster's label, renamed out of the way
            "vcluster.loft.sh/label-a-x-101dcd4e86": "forged",
            "vcluster.loft.sh/managed-by": "a",
            "vcluster.loft.sh/namespace": "shop",
        },
        "annotations": {
            "note": "n",
            "vcluster.loft.sh/managed-annotations": "note",
            "vcluster.loft.sh/object-name": "web",
            "vcluster.loft.sh/object-namespace": "shop",
            "vcluster.loft.sh/object-uid": "u-web",
            "vcluster.loft.sh/object-kind": f"{GW}/v1, Kind=HTTPRoute",
            "vcluster.loft.sh/object-host-name": "web-x-shop-x-a",
            "vcluster.loft.sh/object-host-namespace": "vc-a",
        },
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": "a",
                "uid": "svc-uid",
                "controller": False,
            }
        ],
    }
    assert synced["spec"]["parentRefs"] == [
        {"group": GW, "kind": "Gateway", "name": "edge", "namespace": "infra", "port": 443,
         "sectionName": "x"}
    ]  # fmt: skip
    assert synced["spec"]["rules"] == [{"backendRefs": [{"name": "web-x-shop-x-a", "port": 80}]}]
    assert synced["spec"]["hostnames"] == ["web.vc-a.apps.example.com"]


def test_the_syncer_refuses_listener_set_parents() -> None:
    route = virtual_route("shop", "web", ["w.example.com"], {"name": "edge"})
    route["spec"]["parentRefs"][0]["kind"] = "ListenerSet"
    with pytest.raises(NotSynced, match="not supported"):
        vcluster("a").synced_route(route)


def test_vclusters_own_hostname_check_covers_the_mirror_only() -> None:
    guarded = vcluster("b", allowed_hostnames={"infra/edge": ("*.vc-b.apps.example.com",)})
    stolen = ["web.vc-a.apps.example.com"]
    with pytest.raises(NotSynced, match="hostname policy"):
        guarded.synced_route(virtual_route("shop", "web", stolen, MIRROR))
    direct = {"name": "edge", "namespace": "infra", "port": 443}  # the host Gateway itself
    synced = guarded.synced_route(virtual_route("shop", "web", stolen, direct))
    assert synced["spec"]["parentRefs"][0]["namespace"] == "infra"
    with pytest.raises(NotSynced, match="not managed by vCluster"):
        guarded.synced_route(virtual_route("shop", "web", stolen, {"name": "other"}))


VCLUSTER_LABELS = {
    f"vc-{name}": {
        "vcluster.example.com/host-namespace": "true",
        "kubernetes.io/metadata.name": f"vc-{name}",
    }
    for name in ("a", "b")
}

IMPOSTORS = {
    "same-name-and-namespace": ("shop", "web", {}),
    "named-like-the-synced-route": ("ops", "web-x-shop-x-a", {}),
    "namespace-named-like-the-host-namespace": ("vc-a", "web", {}),
    "labelled-and-annotated-as-a": (
        "ops",
        "web",
        {
            "labels": {"vcluster.loft.sh/namespace": "shop", "vcluster.loft.sh/managed-by": "a"},
            "annotations": {"vcluster.loft.sh/object-host-namespace": "vc-a"},
        },
    ),
    "long-name-hashed": ("ops", "x" * 60, {}),
}


@pytest.mark.parametrize("hostname", ["web.vc-a.apps.example.com", "*.vc-a.apps.example.com"])
@pytest.mark.parametrize("impostor", sorted(IMPOSTORS))
@pytest.mark.parametrize("allow_list", [True, False], ids=["allow-list", "ownership-only"])
def test_one_vcluster_cannot_take_the_others_names(
    impostor: str, hostname: str, allow_list: bool
) -> None:
    """However vCluster b's tenants name their namespaces and routes: on the host they are
    vc-b's, refused a's names by the allow-list, or without one by a's first claim."""
    wrapped = documented("vcluster.md")["infra/edge"]
    if not allow_list:
        del wrapped["spec"]["routes"]["hostnames"]
    a, b = vcluster("a"), vcluster("b")
    own = a.synced_route(virtual_route("shop", "web", ["web.vc-a.apps.example.com"], MIRROR))
    own["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    namespace, name, metadata = IMPOSTORS[impostor]
    taken = b.synced_route(virtual_route(namespace, name, [hostname], MIRROR, **metadata))
    taken["metadata"]["creationTimestamp"] = "2026-01-02T00:00:00Z"
    assert taken["metadata"]["namespace"] == "vc-b"
    desired = render(wrapped, [own, taken], VCLUSTER_LABELS)
    reason = Reason.HOSTNAME_NOT_ALLOWED if allow_list else Reason.HOSTNAME_CONFLICT
    assert refusals(desired) == {f"vc-b/{taken['metadata']['name']}": {reason}}
    generated = [item for item in listeners(desired).values() if item["name"] != "platform"]
    assert [item["hostname"] for item in generated] == ["web.vc-a.apps.example.com"]
    assert generated[0]["allowedRoutes"]["namespaces"]["selector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "vc-a"
    }


def test_the_documented_gateway_exists_before_any_route() -> None:
    """vCluster imports the host Gateway, and syncs a route only once the mirror has a listener
    for it: the static listener makes the Gateway exist, and it is the platform's own."""
    desired = render(documented("vcluster.md")["infra/edge"], [], VCLUSTER_LABELS)
    assert list(listeners(desired)) == ["platform"]
    assert desired.shared_catch_alls == ()
