"""The one lookup of the routes that may reach a WrappedGateway, which render and the
controller's index share."""

from tests.unit.builders import parent, route, wrapped
from wrapped_gateway.listeners.reach import RoutesByTarget

LISTENER_SET = {"kind": "ListenerSet", "group": "gateway.networking.k8s.io"}
STATIC = {"name": "http", "port": 80, "protocol": "HTTP"}


def test_a_gateway_modes_wrapped_gateway_is_reached_through_its_gateway_only() -> None:
    lookup = RoutesByTarget()
    mine = route(name="mine")
    elsewhere = route(name="elsewhere", parents=[parent("other")])
    through_a_set = route(name="set", namespace="team", parents=[parent(**LISTENER_SET)])
    for r in (mine, elsewhere, through_a_set):
        lookup.add(r)
    assert list(lookup.reaching(wrapped()).values()) == [mine]


def test_a_listener_sets_wrapped_gateway_is_reached_through_its_sets_in_any_namespace() -> None:
    lookup = RoutesByTarget()
    to_gateway = route(name="gateway")
    to_a_set = route(name="set", namespace="team", parents=[parent(namespace=None, **LISTENER_SET)])
    to_both = route(name="both", parents=[parent(), parent(namespace="team", **LISTENER_SET)])
    for r in (to_gateway, to_a_set, to_both):
        lookup.add(r)
    reached = lookup.reaching(wrapped(output="ListenerSets", listeners=[STATIC]))
    assert sorted(r.name for r in reached.values()) == ["both", "gateway", "set"]  # each once


def test_a_route_taken_out_leaves_no_target_behind() -> None:
    lookup = RoutesByTarget()
    r = route()
    assert lookup.add(r) == lookup.remove(r)
    assert lookup.reaching(wrapped()) == {}
    assert lookup._by_target == {}


def test_a_route_changed_in_place_is_found_once_as_it_is_now() -> None:
    lookup = RoutesByTarget()
    lookup.add(route(hostnames=["old.example.com"]))
    lookup.add(route(hostnames=["new.example.com"]))
    (found,) = lookup.reaching(wrapped()).values()
    assert found.hostnames == ("new.example.com",)
