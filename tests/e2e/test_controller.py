"""The controller against a real API server: routes in, Gateways, status and Events out."""

import copy
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict, Unpack

import pytest
from kubernetes import client

from tests.e2e.conftest import Cluster, eventually
from tests.e2e.controller_process import REJECTED, ControllerProcess, running_controller
from wrapped_gateway.render.manifests import Document
from wrapped_gateway.render.render import render

pytestmark = pytest.mark.e2e
GW = "gateway.networking.k8s.io"
APPLY = "application/apply-patch+yaml"


@pytest.fixture(scope="module")
def controller(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    with running_controller(cluster.kubeconfig, log) as process:
        yield process
    # Across every scenario, the API server accepted every Gateway the controller applied.
    assert REJECTED not in log.read_text(), log.read_text()


def coordinates(obj: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """group, version, namespace, plural and name of a namespaced custom object."""
    group, version = obj["apiVersion"].split("/")
    metadata = obj["metadata"]
    return group, version, metadata["namespace"], obj["kind"].lower() + "s", metadata["name"]


def apply(
    custom: client.CustomObjectsApi, obj: dict[str, Any], manager: str = "e2e"
) -> dict[str, Any]:
    """Server-side apply as `manager`; returns the stored object."""
    custom.patch_namespaced_custom_object(
        *coordinates(obj), obj, field_manager=manager, force=True, _content_type=APPLY
    )
    # the client decodes only 200 responses, not the 201 of an apply that creates
    stored: dict[str, Any] = custom.get_namespaced_custom_object(*coordinates(obj))
    return stored


def wrapped(
    namespace: str, name: str = "gw", routes: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"cert-manager.io/cluster-issuer": "selfsigned"},
        },
        "spec": {"gatewayClassName": "example", **({"routes": routes} if routes else {}), **spec},
    }


class RouteFields(TypedDict, total=False):
    """How a test route differs from an HTTPRoute of v1 with one parentRef to its own
    namespace's Gateway `gw`."""

    gateway: str
    gateway_namespace: str
    kind: str
    annotations: dict[str, str]
    version: str
    sectionName: str  # parentRef fields, as the API spells them
    port: int


def http_route(
    namespace: str, name: str, hostnames: list[str], **fields: Unpack[RouteFields]
) -> dict[str, Any]:
    kind = fields.get("kind", "HTTPRoute")
    parent_ref: dict[str, Any] = {
        "name": fields.get("gateway", "gw"),
        "namespace": fields.get("gateway_namespace") or namespace,
    }
    if "sectionName" in fields:
        parent_ref["sectionName"] = fields["sectionName"]
    if "port" in fields:
        parent_ref["port"] = fields["port"]
    spec: dict[str, Any] = {"parentRefs": [parent_ref]}
    if kind in ("HTTPRoute", "GRPCRoute", "TLSRoute"):
        spec["hostnames"] = hostnames
    if kind == "TLSRoute" or kind in ("TCPRoute", "UDPRoute"):
        spec["rules"] = [{"backendRefs": [{"name": "backend", "port": 443}]}]
    return {
        "apiVersion": f"{GW}/{fields.get('version', 'v1')}",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": fields.get("annotations") or {},
        },
        "spec": spec,
    }


def gateway(custom: client.CustomObjectsApi, namespace: str, name: str = "gw") -> dict[str, Any]:
    result: dict[str, Any] = custom.get_namespaced_custom_object(
        GW, "v1", namespace, "gateways", name
    )
    return result


def hostnames(custom: client.CustomObjectsApi, namespace: str, name: str = "gw") -> set[str]:
    try:
        listeners = gateway(custom, namespace, name)["spec"]["listeners"]
    except client.ApiException as error:
        if error.status == 404:
            return set()
        raise
    return {
        listener.get("hostname", f"{listener['protocol']}:{listener['port']}")
        for listener in listeners
    }


def status(custom: client.CustomObjectsApi, namespace: str, name: str = "gw") -> dict[str, Any]:
    obj = custom.get_namespaced_custom_object(
        "wrapped-gateway.dev", "v1alpha1", namespace, "wrappedgateways", name
    )
    result: dict[str, Any] = obj.get("status") or {}
    return result


def ready_reason(custom: client.CustomObjectsApi, namespace: str, name: str = "gw") -> str | None:
    for condition in status(custom, namespace, name).get("conditions", ()):
        if condition["type"] == "Ready":
            return str(condition["reason"])
    return None


def delete(custom: client.CustomObjectsApi, obj: dict[str, Any]) -> None:
    custom.delete_namespaced_custom_object(*coordinates(obj))


def test_route_changes_show_up_in_the_gateway_within_a_second(
    controller: ControllerProcess, custom: client.CustomObjectsApi, namespace: str
) -> None:
    apply(custom, wrapped(namespace))
    apply(custom, wrapped(namespace, "other"))
    route = http_route(namespace, "web", ["a.example.com"])

    def within_a_second(expected: set[str], name: str = "gw") -> None:
        start = time.monotonic()
        eventually(
            lambda: hostnames(custom, namespace, name) == expected, timeout=10, interval=0.05
        )
        assert time.monotonic() - start < 1.5, f"took {time.monotonic() - start:.2f}s"

    apply(custom, route)
    within_a_second({"a.example.com"})

    route["spec"]["hostnames"] = ["b.example.com", "c.example.com"]
    apply(custom, route)
    within_a_second({"b.example.com", "c.example.com"})

    route["metadata"]["annotations"] = {"wrapped-gateway.dev/ports": "8443"}
    apply(custom, route)
    eventually(
        lambda: {item["port"] for item in gateway(custom, namespace)["spec"]["listeners"]} == {8443}
    )

    route["spec"]["parentRefs"] = [{"name": "other", "namespace": namespace}]
    apply(custom, route)
    within_a_second({"b.example.com", "c.example.com"}, "other")
    # the old Gateway lost its only route; it keeps a valid Gateway and says why
    eventually(lambda: ready_reason(custom, namespace) == "NoListeners")

    apply(custom, http_route(namespace, "second", ["d.example.com"], gateway="other"))
    within_a_second({"b.example.com", "c.example.com", "d.example.com"}, "other")
    delete(custom, route)
    within_a_second({"d.example.com"}, "other")


def test_deleting_the_wrapped_gateway_deletes_its_gateway(
    controller: ControllerProcess, custom: client.CustomObjectsApi, namespace: str
) -> None:
    owner = apply(custom, wrapped(namespace))
    apply(custom, http_route(namespace, "web", ["a.example.com"]))
    eventually(lambda: hostnames(custom, namespace) == {"a.example.com"})
    refs = gateway(custom, namespace)["metadata"]["ownerReferences"]
    assert refs == [
        {
            "apiVersion": "wrapped-gateway.dev/v1alpha1",
            "kind": "WrappedGateway",
            "name": "gw",
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    delete(custom, owner)

    def gone() -> bool:
        try:
            gateway(custom, namespace)
        except client.ApiException as error:
            return error.status == 404
        return False

    eventually(gone, timeout=30)


def test_refused_routes_get_events_and_status_and_leave_others_alone(
    controller: ControllerProcess,
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    namespace: str,
) -> None:
    apply(custom, wrapped(namespace, routes={"hostnames": ["*.example.com"]}))
    apply(custom, http_route(namespace, "good", ["good.example.com"]))
    eventually(lambda: hostnames(custom, namespace) == {"good.example.com"})
    before = gateway(custom, namespace)["spec"]["listeners"]
    apply(custom, http_route(namespace, "stray", ["stray.example.org"]))
    apply(custom, http_route(namespace, "db", [], kind="TCPRoute"))

    def refused() -> dict[str, str]:
        return {r["name"]: r["reason"] for r in status(custom, namespace).get("refusedRoutes", ())}

    eventually(lambda: refused() == {"stray": "HostnameNotAllowed", "db": "MissingPorts"})

    def warnings() -> set[tuple[str, str]]:
        events = core.list_namespaced_event(namespace).items
        return {(e.involved_object.name, e.reason) for e in events if e.type == "Warning"}

    eventually(lambda: warnings() >= {("stray", "HostnameNotAllowed"), ("db", "MissingPorts")})
    assert gateway(custom, namespace)["spec"]["listeners"] == before
    conditions = {c["type"]: c for c in status(custom, namespace)["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["RoutesAccepted"]["reason"] == "RoutesRefused"
    # events are not repeated per reconcile
    apply(custom, http_route(namespace, "good", ["good.example.com", "more.example.com"]))
    eventually(lambda: hostnames(custom, namespace) == {"good.example.com", "more.example.com"})
    stray_events = [
        e for e in core.list_namespaced_event(namespace).items if e.involved_object.name == "stray"
    ]
    assert len(stray_events) == 1


def test_other_managers_fields_survive_and_hand_edits_are_undone(
    controller: ControllerProcess, custom: client.CustomObjectsApi, namespace: str
) -> None:
    apply(custom, wrapped(namespace))
    apply(custom, http_route(namespace, "a", ["a.example.com"]))
    apply(custom, http_route(namespace, "b", ["b.example.com"]))
    eventually(lambda: hostnames(custom, namespace) == {"a.example.com", "b.example.com"})
    # another tool annotates the Gateway with its own field manager
    custom.patch_namespaced_custom_object(
        GW,
        "v1",
        namespace,
        "gateways",
        "gw",
        {
            "apiVersion": f"{GW}/v1",
            "kind": "Gateway",
            "metadata": {
                "name": "gw",
                "namespace": namespace,
                "annotations": {"other.tool/note": "mine"},
            },
        },
        field_manager="other-tool",
        _content_type=APPLY,
    )
    # someone deletes a listener by hand
    live = gateway(custom, namespace)
    live["spec"]["listeners"] = [
        item for item in live["spec"]["listeners"] if item.get("hostname") != "a.example.com"
    ]
    custom.replace_namespaced_custom_object(GW, "v1", namespace, "gateways", "gw", live)
    eventually(lambda: hostnames(custom, namespace) == {"a.example.com", "b.example.com"})
    # a route change later does not remove the other tool's annotation
    apply(custom, http_route(namespace, "c", ["c.example.com"]))
    eventually(lambda: "c.example.com" in hostnames(custom, namespace))
    assert gateway(custom, namespace)["metadata"]["annotations"]["other.tool/note"] == "mine"


def test_a_deleted_gateway_is_restored(
    controller: ControllerProcess, custom: client.CustomObjectsApi, namespace: str
) -> None:
    apply(custom, wrapped(namespace))
    apply(custom, http_route(namespace, "a", ["a.example.com"]))
    first = eventually(
        lambda: hostnames(custom, namespace) == {"a.example.com"} and gateway(custom, namespace)
    )
    custom.delete_namespaced_custom_object(GW, "v1", namespace, "gateways", "gw")
    restored = eventually(
        lambda: (
            (g := gateway(custom, namespace))["metadata"]["uid"] != first["metadata"]["uid"] and g
        )
    )
    assert {item["hostname"] for item in restored["spec"]["listeners"]} == {"a.example.com"}


def test_an_unowned_gateway_of_the_same_name_is_reported_not_adopted(
    controller: ControllerProcess, custom: client.CustomObjectsApi, namespace: str
) -> None:
    existing = {
        "apiVersion": f"{GW}/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": namespace},
        "spec": {
            "gatewayClassName": "theirs",
            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
        },
    }
    apply(custom, existing, manager="someone")
    apply(custom, wrapped(namespace))
    apply(custom, http_route(namespace, "a", ["a.example.com"]))
    eventually(lambda: ready_reason(custom, namespace) == "GatewayNotOwned")
    live = gateway(custom, namespace)
    assert live["spec"]["gatewayClassName"] == "theirs"
    assert [item["name"] for item in live["spec"]["listeners"]] == ["http"]
    assert "ownerReferences" not in live["metadata"]


def test_the_controller_agrees_with_render(
    controller: ControllerProcess,
    cluster: Cluster,
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    namespace: str,
) -> None:
    tenant = core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(generate_name="tenant-", labels={"gw": "yes"})
        )
    ).metadata.name
    try:
        policy = {
            "namespaces": {"from": "Selector", "selector": {"matchLabels": {"gw": "yes"}}},
            "hostnames": ["*.example.com"],
        }
        static = [
            {
                "name": "http",
                "port": 80,
                "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "All"}},
            }
        ]
        objects = [
            wrapped(namespace, routes=policy, listeners=static),
            http_route(
                tenant,
                "web",
                ["a.example.com", "*.b.example.com", "x.example.org"],
                gateway_namespace=namespace,
            ),
            http_route(
                tenant, "api", ["a.example.com"], gateway_namespace=namespace, kind="GRPCRoute"
            ),
            http_route(namespace, "clash", ["a.example.com"]),
            http_route(
                tenant,
                "tls",
                ["pass.example.com"],
                gateway_namespace=namespace,
                kind="TLSRoute",
                annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"},
            ),
            http_route(
                tenant,
                "db",
                [],
                gateway_namespace=namespace,
                kind="TCPRoute",
                annotations={
                    "wrapped-gateway.dev/ports": "5432",
                    "wrapped-gateway.dev/hostname": "db.example.com",
                },
            ),
            http_route(
                tenant,
                "kamaji",
                ["cp.example.com"],
                gateway_namespace=namespace,
                kind="TLSRoute",
                sectionName="kube-apiserver",
                port=6443,
            ),
        ]
        for obj in objects:
            apply(custom, obj)
            time.sleep(1.1)  # distinct creationTimestamps make precedence explicit
        expected_names = {
            "http",
            "https-443-a.example.com",
            "wildcard-https-443-b.example.com",
            "tls-443-pass.example.com",
            "tcp-5432",
            "kube-apiserver",
        }
        eventually(
            lambda: (
                {item["name"] for item in gateway(custom, namespace)["spec"]["listeners"]}
                == expected_names
            )
        )
        time.sleep(1)
        stored = [custom.get_namespaced_custom_object(*coordinates(obj)) for obj in objects]
        ns_objects = [
            client.ApiClient().sanitize_for_serialization(n) for n in core.list_namespace().items
        ]
        for ns_obj in ns_objects:
            ns_obj.update(apiVersion="v1", kind="Namespace")
        rendered = render(
            [Document(f"api {i}", copy.deepcopy(o)) for i, o in enumerate(stored + ns_objects)]
        )
        (desired,) = [g for g in rendered.gateways if g.namespace == namespace]
        live = gateway(custom, namespace)
        assert desired.gateway is not None
        assert live["spec"] == _with_server_defaults(desired.gateway["spec"], live["spec"])
        refused = {
            (r["name"], r.get("hostname"), r["reason"])
            for r in status(custom, namespace)["refusedRoutes"]
        }
        assert refused == {(r.name, r.hostname, r.reason) for r in desired.refusals}
        assert ("clash", "a.example.com", "HostnameConflict") in refused or (
            "clash",
            None,
            "NotAllowedNamespace",
        ) in refused
    finally:
        core.delete_namespace(tenant)


def _with_server_defaults(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """`desired` with the fields the API server defaults, taken from `live` where absent."""
    if isinstance(desired, dict) and isinstance(live, dict):
        merged = {
            k: _with_server_defaults(desired[k], live[k]) if k in live else desired[k]
            for k in desired
        }
        merged.update({k: v for k, v in live.items() if k not in desired})
        return merged
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [_with_server_defaults(d, v) for d, v in zip(desired, live, strict=True)]
    return desired


def test_a_restart_applies_nothing_when_nothing_changed(
    controller: ControllerProcess,
    cluster: Cluster,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    apply(custom, wrapped(namespace))
    apply(custom, http_route(namespace, "a", ["a.example.com"]))
    eventually(
        lambda: (
            hostnames(custom, namespace) == {"a.example.com"}
            and ready_reason(custom, namespace) == "Programmed"
        )
    )
    time.sleep(1)
    before = gateway(custom, namespace)["metadata"]["resourceVersion"]
    status_before = status(custom, namespace)
    with running_controller(cluster.kubeconfig, tmp_path / "second.log") as second:
        time.sleep(3)
        # other tests' namespaces may still be terminating; this one must not be written
        assert f"applied Gateway {namespace}/gw" not in second.log_text()
    assert gateway(custom, namespace)["metadata"]["resourceVersion"] == before
    assert status(custom, namespace) == status_before


def test_a_burst_of_routes_coalesces_into_a_few_applies(
    controller: ControllerProcess, custom: client.CustomObjectsApi, namespace: str
) -> None:
    apply(custom, wrapped(namespace))
    apply(custom, http_route(namespace, "first", ["first.example.com"]))
    eventually(lambda: hostnames(custom, namespace) == {"first.example.com"})
    applies_before = controller.metric("wrapped_gateway_applies_total")
    for i in range(60):
        apply(custom, http_route(namespace, f"r{i}", [f"h{i}.example.com"]))
    eventually(lambda: len(hostnames(custom, namespace)) == 61, timeout=60)
    applies = controller.metric("wrapped_gateway_applies_total") - applies_before
    assert applies <= 20, applies


def test_namespace_labels_reevaluate_selector_policies(
    controller: ControllerProcess,
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    namespace: str,
) -> None:
    tenant = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="tenant-"))
    ).metadata.name
    try:
        policy = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"gw": "yes"}}}}
        apply(custom, wrapped(namespace, routes=policy))
        apply(custom, http_route(tenant, "web", ["t.example.com"], gateway_namespace=namespace))
        eventually(lambda: ready_reason(custom, namespace) == "NoListeners")
        core.patch_namespace(tenant, {"metadata": {"labels": {"gw": "yes"}}})
        eventually(lambda: hostnames(custom, namespace) == {"t.example.com"})
        core.patch_namespace(tenant, {"metadata": {"labels": {"gw": "no"}}})
        eventually(
            lambda: (
                [r["reason"] for r in status(custom, namespace).get("refusedRoutes", ())]
                == ["NotAllowedNamespace"]
            )
        )
    finally:
        core.delete_namespace(tenant)
