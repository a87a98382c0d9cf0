"""The index answers which WrappedGateways a change touches, without listing anything."""

from tests.unit.builders import parent, route, wrapped_obj
from wrapped_gateway.controller.existing import LiveGateway, WrappedEntry
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.routes import RouteKind


def entry(name: str = "gw", namespace: str = "infra", **spec: object) -> WrappedEntry:
    return WrappedEntry.from_object(wrapped_obj(name, namespace, dict(spec), uid=f"uid-{name}"))


def test_a_new_route_touches_the_gateways_it_targets() -> None:
    index = ClusterIndex()
    touched = index.upsert_route(route(parents=[parent("a"), parent("b", "other")]))
    assert touched == {("infra", "a"), ("other", "b")}
    assert [r.name for r in index.routes_for(("infra", "a"))] == ["r"]


def test_moving_a_parent_ref_touches_old_and_new_gateway() -> None:
    index = ClusterIndex()
    index.upsert_route(route(parents=[parent("old")]))
    touched = index.upsert_route(route(parents=[parent("new")]))
    assert touched == {("infra", "old"), ("infra", "new")}
    assert index.routes_for(("infra", "old")) == []
    assert len(index.routes_for(("infra", "new"))) == 1


def test_an_unchanged_route_touches_nothing() -> None:
    index = ClusterIndex()
    index.upsert_route(route())
    assert index.upsert_route(route()) == set()


def test_the_same_route_through_another_served_version_touches_nothing() -> None:
    index = ClusterIndex()
    index.upsert_route(route("TLSRoute", version="v1"))
    assert index.upsert_route(route("TLSRoute", version="v1alpha2")) == set()


def test_deleting_a_route_touches_its_gateways_once() -> None:
    index = ClusterIndex()
    index.upsert_route(route())
    assert index.remove_route(RouteKind.HTTP, "infra", "r") == {("infra", "gw")}
    assert index.remove_route(RouteKind.HTTP, "infra", "r") == set()
    assert index.route_count == 0


def test_routes_of_different_kinds_with_one_name_are_distinct() -> None:
    index = ClusterIndex()
    index.upsert_route(route("HTTPRoute"))
    index.upsert_route(route("GRPCRoute"))
    assert len(index.routes_for(("infra", "gw"))) == 2


def test_namespace_label_changes_touch_selector_gateways_with_routes_from_it() -> None:
    index = ClusterIndex()
    selector = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"a": "b"}}}}
    index.upsert_wrapped(entry("sel", routes=selector))
    index.upsert_wrapped(entry("all", routes={"namespaces": {"from": "All"}}))
    index.upsert_route(
        route(namespace="team", parents=[parent("sel", "infra"), parent("all", "infra")])
    )
    assert index.upsert_namespace("team", {"a": "b"}) == {("infra", "sel")}
    assert index.upsert_namespace("team", {"a": "b"}) == set()
    assert index.upsert_namespace("elsewhere", {"a": "b"}) == set()
    assert index.remove_namespace("team") == {("infra", "sel")}


def test_routes_reach_a_listener_sets_mode_wrapped_gateway_through_its_listener_sets() -> None:
    index = ClusterIndex()
    selector = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"a": "b"}}}}
    listeners = [{"name": "http", "port": 80, "protocol": "HTTP"}]
    index.upsert_wrapped(entry("sel", routes=selector, output="ListenerSets", listeners=listeners))
    index.upsert_wrapped(entry("sel", "other"))  # same name, Gateway mode
    through_set = route(namespace="team", parents=[{"kind": "ListenerSet", "name": "sel"}])
    # both are touched; only the ListenerSets-mode one is given the route
    assert index.upsert_route(through_set) == {("infra", "sel"), ("other", "sel")}
    assert [r.namespace for r in index.routes_for(("infra", "sel"))] == ["team"]
    assert index.routes_for(("other", "sel")) == []
    # its namespace's labels decide whether it may attach
    assert index.upsert_namespace("team", {"a": "b"}) == {("infra", "sel")}
    assert index.remove_route(RouteKind.HTTP, "team", "r") == {("infra", "sel"), ("other", "sel")}


def test_same_named_wrapped_gateways_touch_each_other_only_when_one_writes_listener_sets() -> None:
    """Of the same-named WrappedGateways only the oldest may write ListenerSets: a change
    concerns the others only when the old or the new entry is in ListenerSets mode."""
    index = ClusterIndex()
    listeners = [{"name": "http", "port": 80, "protocol": "HTTP"}]
    index.upsert_wrapped(entry("gw", "a"))
    index.upsert_wrapped(entry("gw", "b"))
    assert index.upsert_wrapped(entry("gw", "c")) == {("c", "gw")}
    assert index.upsert_wrapped(entry("gw", "c", gatewayClassName="other")) == {("c", "gw")}
    assert index.remove_wrapped("c", "gw") == {("c", "gw")}

    to_sets = entry("gw", "b", output="ListenerSets", listeners=listeners)
    assert index.upsert_wrapped(to_sets) == {("a", "gw"), ("b", "gw")}
    back = entry("gw", "b")
    assert index.upsert_wrapped(back) == {("a", "gw"), ("b", "gw")}  # it no longer writes them
    index.upsert_wrapped(to_sets)
    assert index.remove_wrapped("b", "gw") == {("a", "gw"), ("b", "gw")}


def test_a_status_only_change_of_a_wrapped_gateway_touches_nothing() -> None:
    index = ClusterIndex()
    obj = wrapped_obj(uid="u", generation=1)
    assert index.upsert_wrapped(WrappedEntry.from_object(obj)) == {("infra", "gw")}
    obj["status"] = {"listeners": 3}
    assert index.upsert_wrapped(WrappedEntry.from_object(obj)) == set()
    assert index.wrapped(("infra", "gw")).status == {"listeners": 3}  # type: ignore[union-attr]


def test_a_malformed_wrapped_gateway_is_kept_with_its_error() -> None:
    index = ClusterIndex()
    obj = wrapped_obj(spec={"routes": {"namespaces": {"from": "Nowhere"}}})
    index.upsert_wrapped(WrappedEntry.from_object(obj))
    stored = index.wrapped(("infra", "gw"))
    assert stored is not None
    assert stored.model is None
    assert "Nowhere" in (stored.error or "")


def test_gateway_changes_touch_only_gateways_of_wrapped_gateways() -> None:
    index = ClusterIndex()
    index.upsert_wrapped(entry())
    gateway = {"metadata": {"name": "gw", "namespace": "infra"}, "spec": {"listeners": []}}
    stranger = {"metadata": {"name": "x", "namespace": "infra"}, "spec": {}}
    assert index.upsert_gateway(LiveGateway.from_object(gateway)) == {("infra", "gw")}
    assert index.upsert_gateway(LiveGateway.from_object(gateway)) == set()
    assert index.upsert_gateway(LiveGateway.from_object(stranger)) == set()
    assert index.remove_gateway("infra", "gw") == {("infra", "gw")}


def test_live_gateway_knows_its_controlling_owner() -> None:
    owned = LiveGateway.from_object(
        {
            "metadata": {
                "name": "gw",
                "namespace": "infra",
                "ownerReferences": [
                    {"kind": "ConfigMap", "uid": "x"},
                    {"kind": "WrappedGateway", "uid": "u", "controller": True},
                ],
            }
        }
    )
    assert owned.owned_by("u")
    assert not owned.owned_by("other")
    assert not LiveGateway.from_object({"metadata": {"name": "gw"}}).owned_by("u")
