"""Property tests for ListenerSets mode (issue #11), on the scenarios of `test_properties`.

Each random scenario is turned into its ListenerSets-mode twin: the WrappedGateway writes
ListenerSets (with a static listener, which the mode needs) and every parentRef to its Gateway
becomes a parentRef to the ListenerSet of the route's own namespace. The properties:

- every ListenerSet satisfies the listener rules, and the Gateway's listeners merged with all
  ListenerSets' listeners have no two in conflict (the Gateway API merges them);
- each ListenerSet holds only its namespace's listeners, admits routes from that namespace
  only, keeps its Secrets there, and names the Gateway as parent; the Gateway admits exactly
  the namespaces holding ListenerSets and keeps only its static listeners;
- no namespace holds a hostname overlapping another namespace's, on any port;
- a namespace is refused TooManyListeners only when its ListenerSet is full;
- the result does not depend on the order of the routes.
"""

import copy
from collections.abc import Iterable
from itertools import combinations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_properties import (
    GROUP,
    MAX_LISTENERS,
    PROPERTY_SETTINGS,
    Scenario,
    assert_valid_listeners,
    conflict,
    crowded_scenarios,
    examples,
    held_hostnames,
    listener_key,
    oracle_overlap,
    scenarios,
)
from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.routes import parse_route
from wrapped_gateway.wrapped import parse_wrapped_gateway

BASE_LISTENER = {"name": "ls-base", "port": 9, "protocol": "HTTP"}


def as_listener_sets(scenario: Scenario) -> Scenario:
    wrapped = copy.deepcopy(scenario.wrapped)
    wrapped["spec"]["output"] = "ListenerSets"
    wrapped["spec"].setdefault("listeners", [BASE_LISTENER])
    namespace, name = scenario.target
    routes = []
    for original in scenario.routes:
        obj = copy.deepcopy(original)
        own = obj["metadata"]["namespace"]
        obj["spec"]["parentRefs"] = [
            _to_listener_set(ref, name) if _to_gateway(ref, own, (namespace, name)) else ref
            for ref in obj["spec"]["parentRefs"]
        ]
        routes.append(obj)
    return Scenario(wrapped=wrapped, routes=routes, labels=scenario.labels)


def _to_gateway(ref: dict[str, Any], route_namespace: str, target: tuple[str, str]) -> bool:
    return (
        ref.get("group", GROUP) == GROUP
        and ref.get("kind", "Gateway") == "Gateway"
        and (ref.get("namespace", route_namespace), ref["name"]) == target
    )


def _to_listener_set(ref: dict[str, Any], name: str) -> dict[str, Any]:
    kept = {k: v for k, v in ref.items() if k in ("port", "sectionName")}
    return {"kind": "ListenerSet", "name": name, **kept}


def desired(scenario: Scenario, routes: Iterable[dict[str, Any]] | None = None) -> DesiredGateway:
    wrapped = parse_wrapped_gateway(scenario.wrapped)
    parsed = [parse_route(r) for r in (scenario.routes if routes is None else routes)]
    return desired_gateway(wrapped, parsed, scenario.labels)


@PROPERTY_SETTINGS
@given(scenario=scenarios().map(as_listener_sets))
def test_listener_sets_are_valid_and_merge_into_the_gateway_without_conflict(
    scenario: Scenario,
) -> None:
    result = desired(scenario)
    assert result.gateway is not None
    statics = scenario.wrapped["spec"]["listeners"]
    assert result.gateway["spec"]["listeners"] == statics
    merged = list(statics)
    for listener_set in result.listener_sets:
        assert listener_set["apiVersion"] == f"{GROUP}/v1"
        assert listener_set["kind"] == "ListenerSet"
        assert_valid_listeners(listener_set["spec"]["listeners"])
        merged.extend(listener_set["spec"]["listeners"])
    keys = [listener_key(listener) for listener in merged]
    assert len(set(keys)) == len(keys), f"duplicate (port, protocol, hostname): {keys}"
    for a, b in combinations(merged, 2):
        assert not conflict(a, b), f"listeners conflict: {a['name']} and {b['name']}"


@PROPERTY_SETTINGS
@given(scenario=scenarios().map(as_listener_sets))
def test_each_listener_set_is_its_namespaces_and_the_gateway_admits_exactly_those(
    scenario: Scenario,
) -> None:
    result = desired(scenario)
    namespace, name = scenario.target
    # listener names repeat across ListenerSets; (port, protocol, hostname) is unique
    owners = {tuple(g.key): g.owner_namespace for g in result.listeners}
    holding = []
    for listener_set in result.listener_sets:
        metadata = listener_set["metadata"]
        holding.append(metadata["namespace"])
        assert metadata["name"] == name
        assert listener_set["spec"]["parentRef"] == {
            "group": GROUP,
            "kind": "Gateway",
            "name": name,
            "namespace": namespace,
        }
        for listener in listener_set["spec"]["listeners"]:
            assert listener["allowedRoutes"]["namespaces"] == {"from": "Same"}
            for ref in (listener.get("tls") or {}).get("certificateRefs") or ():
                assert "namespace" not in ref, "a Secret lives beside its ListenerSet"
        for listener in listener_set["spec"]["listeners"]:
            assert owners[listener_key(listener)] == metadata["namespace"], listener["name"]
    assert sorted(holding) == sorted({g.owner_namespace for g in result.listeners})
    assert sum(len(s["spec"]["listeners"]) for s in result.listener_sets) == len(result.listeners)
    allowed = result.gateway["spec"]["allowedListeners"]["namespaces"] if result.gateway else {}
    if holding:
        (expression,) = allowed["selector"]["matchExpressions"]
        assert expression == {
            "key": "kubernetes.io/metadata.name",
            "operator": "In",
            "values": sorted(holding),
        }
    else:
        assert allowed == {"from": "None"}


@PROPERTY_SETTINGS
@given(scenario=scenarios().map(as_listener_sets))
def test_no_namespace_holds_a_hostname_overlapping_another_namespaces(scenario: Scenario) -> None:
    result = desired(scenario)
    for (a, owner_a), (b, owner_b) in combinations(held_hostnames(scenario, result), 2):
        if owner_a != owner_b:
            assert not oracle_overlap(a, b), f"{owner_a} holds {a} and {owner_b} holds {b}"


@settings(PROPERTY_SETTINGS, max_examples=examples(60))  # each example is a dozen routes or more
@given(scenario=crowded_scenarios().map(as_listener_sets))
def test_a_namespace_is_refused_for_too_many_listeners_only_when_its_set_is_full(
    scenario: Scenario,
) -> None:
    result = desired(scenario)
    sizes = {s["metadata"]["namespace"]: len(s["spec"]["listeners"]) for s in result.listener_sets}
    for refusal in result.refusals:
        if refusal.reason == "TooManyListeners" and "ListenerSet" in refusal.message:
            assert sizes.get(refusal.namespace) == MAX_LISTENERS, str(refusal)


@PROPERTY_SETTINGS
@given(scenario=scenarios().map(as_listener_sets), data=st.data())
def test_listener_sets_are_independent_of_route_order(
    scenario: Scenario, data: st.DataObject
) -> None:
    expected = desired(scenario)
    shuffled = data.draw(st.permutations(scenario.routes), label="shuffled routes")
    actual = desired(scenario, shuffled)
    assert actual.gateway == expected.gateway
    assert actual.listener_sets == expected.listener_sets
    assert actual.refusals == expected.refusals
