from datetime import UTC, datetime

from tests.unit.builders import route, wrapped
from wrapped_gateway.controller.status import MAX_REFUSALS_IN_STATUS, Outcome, Verdict, status_for
from wrapped_gateway.listeners import desired_gateway

EARLY = datetime(2026, 1, 1, tzinfo=UTC)
LATER = datetime(2026, 1, 2, tzinfo=UTC)
READY = Verdict(True, Outcome.PROGRAMMED, "ok")


def test_status_reports_listeners_refusals_and_generation() -> None:
    desired = desired_gateway(wrapped(), [route(), route(name="bad", hostnames=["1.2.3.4"])], {})
    status = status_for(7, READY, desired, {}, EARLY)
    assert status["observedGeneration"] == 7
    assert status["listeners"] == 1
    assert status["refusedRouteCount"] == 1
    assert status["refusedRoutes"] == [
        {
            "kind": "HTTPRoute",
            "namespace": "infra",
            "name": "bad",
            "hostname": "1.2.3.4",
            "reason": "InvalidHostname",
            "message": "'1.2.3.4' is an IP address; a listener hostname must be a DNS name",
        }
    ]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Ready"]["observedGeneration"] == 7
    assert conditions["RoutesAccepted"]["status"] == "False"
    assert conditions["RoutesAccepted"]["reason"] == "RoutesRefused"


def test_refused_routes_are_bounded_but_counted() -> None:
    routes = [route(name=f"r{i}", hostnames=[f"10.0.0.{i}"]) for i in range(150)]
    status = status_for(1, READY, desired_gateway(wrapped(), routes, {}), {}, EARLY)
    assert len(status["refusedRoutes"]) == MAX_REFUSALS_IN_STATUS
    assert status["refusedRouteCount"] == 150


def test_a_flood_of_one_namespace_does_not_hide_another_namespaces_refusals() -> None:
    """Attack: a tenant creates 150 refused routes before anyone else's; the status, bounded to
    100, still shows the other tenant's refused route (and counts them all)."""
    flood = [
        route(name=f"f{i:03d}", namespace="flood", hostnames=[f"10.0.0.{i}"],
              created="2026-01-01T00:00:00Z")
        for i in range(150)
    ]  # fmt: skip
    mine = route(
        name="mine", namespace="team", hostnames=["10.9.9.9"], created="2026-01-02T00:00:00Z"
    )
    model = wrapped(routes={"namespaces": {"from": "All"}})
    status = status_for(1, READY, desired_gateway(model, [*flood, mine], {}), {}, EARLY)
    assert status["refusedRouteCount"] == 151
    names = [(r["namespace"], r["name"]) for r in status["refusedRoutes"]]
    assert len(names) == MAX_REFUSALS_IN_STATUS
    assert names[-1] == ("team", "mine")
    assert names[:-1] == [("flood", f"f{i:03d}") for i in range(99)]  # the oldest, in order


def test_transition_time_changes_only_when_the_status_does() -> None:
    desired = desired_gateway(wrapped(), [route()], {})
    first = status_for(1, READY, desired, {}, EARLY)
    same = status_for(2, READY, desired, first, LATER)
    assert same["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    failed = status_for(2, Verdict(False, Outcome.APPLY_FAILED, "no"), desired, first, LATER)
    assert failed["conditions"][0]["lastTransitionTime"] == "2026-01-02T00:00:00Z"


def test_an_unchanged_outcome_gives_an_identical_status() -> None:
    desired = desired_gateway(wrapped(), [route()], {})
    first = status_for(1, READY, desired, {}, EARLY)
    assert status_for(1, READY, desired, first, LATER) == first


def test_refused_routes_are_listed_in_claim_order_oldest_route_first() -> None:
    """Not by name: the first 100 are those of the oldest routes, as they claimed."""
    routes = [
        route(name=f"r{i:03d}", hostnames=["10.0.0.1"], created=f"2026-01-01T00:{59 - i:02d}:00Z")
        for i in range(60)
    ]
    status = status_for(1, READY, desired_gateway(wrapped(), routes, {}), {}, EARLY)
    assert [r["name"] for r in status["refusedRoutes"]] == [
        f"r{i:03d}" for i in reversed(range(60))
    ]


def test_tenants_isolated_says_which_static_listener_shares_every_name() -> None:
    isolated = status_for(1, READY, desired_gateway(wrapped(), [route()], {}), {}, EARLY)
    conditions = {c["type"]: c for c in isolated["conditions"]}
    assert conditions["TenantsIsolated"]["status"] == "True"
    catch_all = {"name": "http", "port": 80, "protocol": "HTTP"}
    catch_all["allowedRoutes"] = {"namespaces": {"from": "All"}}
    desired = desired_gateway(wrapped(listeners=[catch_all]), [route()], {})
    conditions = {c["type"]: c for c in status_for(1, READY, desired, {}, EARLY)["conditions"]}
    assert conditions["TenantsIsolated"]["status"] == "False"
    assert conditions["TenantsIsolated"]["reason"] == "SharedCatchAllListener"
    assert conditions["TenantsIsolated"]["message"].startswith("static listener 'http' (80/HTTP)")
