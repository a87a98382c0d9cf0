"""ResumableSynthesis: the same result as desired_gateway, whatever changed since its last call,
and only the claims from the first change in the claim order on."""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.builders import route, wrapped
from tests.unit.test_listener_set_properties import as_listener_sets
from tests.unit.test_properties import PROPERTY_SETTINGS, Scenario, crowded_scenarios, scenarios
from wrapped_gateway.listeners import ResumableSynthesis, desired_gateway
from wrapped_gateway.listeners import resumable as resumable_module
from wrapped_gateway.routes import Route, parse_route
from wrapped_gateway.wrapped import parse_wrapped_gateway

STEPS = 4


def scenario_steps() -> st.SearchStrategy[Scenario]:
    return st.one_of(scenarios(), scenarios().map(as_listener_sets), crowded_scenarios())


@PROPERTY_SETTINGS
@given(scenario=scenario_steps(), data=st.data())
def test_every_call_equals_desired_gateway_whatever_changed(
    scenario: Scenario, data: st.DataObject
) -> None:
    """Routes come and go, come back as new objects with the same content, and the
    WrappedGateway or the namespace labels change; checkpoints every route or two."""
    model = parse_wrapped_gateway(scenario.wrapped)
    current: dict[int, Route] = {}
    synthesis = ResumableSynthesis(min_spacing=data.draw(st.sampled_from((1, 2, 256))))
    for step in range(STEPS):
        mask = st.lists(st.booleans(), min_size=len(scenario.routes), max_size=len(scenario.routes))
        present = data.draw(mask, label=f"present {step}")
        renewed = data.draw(st.booleans(), label=f"routes parsed anew {step}")
        for index, (obj, keep) in enumerate(zip(scenario.routes, present, strict=True)):
            if not keep:
                current.pop(index, None)
            elif renewed or index not in current:
                current[index] = parse_route(obj)
        labels = scenario.labels if data.draw(st.booleans(), label=f"labels {step}") else {}
        if data.draw(st.booleans(), label=f"WrappedGateway renewed {step}"):
            model = parse_wrapped_gateway({**scenario.wrapped, "metadata": {
                **scenario.wrapped["metadata"], "generation": step}})  # fmt: skip
        routes = data.draw(st.permutations(list(current.values())), label=f"order {step}")
        resumed = synthesis.desired_gateway(model, routes, labels)
        expected = desired_gateway(model, routes, labels)
        assert resumed == expected
        # in claim order, and counted by reason as they were resumed
        assert tuple(resumed.refusals) == tuple(expected.refusals)
        assert resumed.refusals.counts == Counter(r.reason for r in expected.refusals)


def newest_first_routes(count: int) -> Iterator[Route]:
    """Routes of one namespace on five hostnames, a second apart, oldest first."""
    for i in range(count):
        minute, second = divmod(i, 60)
        yield route(
            name=f"r{i}",
            namespace="team",
            hostnames=[f"h{i % 5}.example.com"],
            created=f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:{second:02d}Z",
        )


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> list[Route]:
    """The routes ResumableSynthesis lets claim, in that order."""
    claimed: list[Route] = []
    claim_route = resumable_module.claim_route

    def counted(wrapped: Any, route: Route, *args: Any) -> Any:
        claimed.append(route)
        return claim_route(wrapped, route, *args)

    monkeypatch.setattr(resumable_module, "claim_route", counted)
    return claimed


def test_a_new_route_costs_one_claim_and_deleting_it_again_none(claims: list[Route]) -> None:
    model = wrapped(routes={"namespaces": {"from": "All"}})
    routes = list(newest_first_routes(600))
    synthesis = ResumableSynthesis(min_spacing=64)
    synthesis.desired_gateway(model, routes, {})
    assert len(claims) == 600

    claims.clear()
    newest = route(name="new", namespace="team", hostnames=["new.example.com"],
                   created="2026-01-02T00:00:00Z")  # fmt: skip
    added = synthesis.desired_gateway(model, [*routes, newest], {})
    assert claims == [newest]
    assert added == desired_gateway(model, [*routes, newest], {})

    claims.clear()
    assert synthesis.desired_gateway(model, routes, {}) == desired_gateway(model, routes, {})
    assert claims == []


def test_a_route_deleted_among_the_older_ones_costs_the_claims_from_the_checkpoint_before_it(
    claims: list[Route],
) -> None:
    model = wrapped(routes={"namespaces": {"from": "All"}})
    routes = list(newest_first_routes(600))
    synthesis = ResumableSynthesis(min_spacing=64)
    synthesis.desired_gateway(model, routes, {})

    claims.clear()
    del routes[300]  # 300 = 4 * 64 + 44: from the checkpoint after 256 routes on
    assert synthesis.desired_gateway(model, routes, {}) == desired_gateway(model, routes, {})
    assert claims == routes[256:]


def test_a_changed_wrapped_gateway_starts_over(claims: list[Route]) -> None:
    routes = list(newest_first_routes(10))
    synthesis = ResumableSynthesis()
    synthesis.desired_gateway(wrapped(routes={"namespaces": {"from": "All"}}), routes, {})
    claims.clear()
    other = wrapped(routes={"namespaces": {"from": "All"}, "hostnames": ["h1.example.com"]})
    assert synthesis.desired_gateway(other, routes, {}) == desired_gateway(other, routes, {})
    assert claims == routes


def refused_routes(count: int) -> Iterator[Route]:
    """Routes of one namespace a second apart, oldest first, every other one refused."""
    for i, ok in enumerate(newest_first_routes(count)):
        created = ok.precedence[1].strftime("%Y-%m-%dT%H:%M:%SZ")
        refused = route(name=ok.name, namespace="team", hostnames=["10.0.0.1"], created=created)
        yield ok if i % 2 else refused


def test_a_new_route_shares_the_refusals_of_the_older_ones_and_counts_only_its_own() -> None:
    """A change on a Gateway with thousands of refusals must not cost a pass over them: the
    result holds the same chunks for the claims kept (what the Event ledger recognises)."""
    model = wrapped(routes={"namespaces": {"from": "All"}})
    routes = list(refused_routes(600))
    synthesis = ResumableSynthesis(min_spacing=64)
    before = synthesis.desired_gateway(model, routes, {}).refusals
    assert before.counts == {"InvalidHostname": 300}

    newest = route(name="new", namespace="team", hostnames=["10.9.9.9"],
                   created="2026-01-02T00:00:00Z")  # fmt: skip
    added = synthesis.desired_gateway(model, [*routes, newest], {}).refusals
    # every chunk kept as the same object, but the last when it was small enough to merge
    kept = len(before.chunks) - 1
    assert all(a is b for a, b in zip(added.chunks[:kept], before.chunks[:kept], strict=True))
    assert len(added.chunks) - len(before.chunks) in (0, 1)
    assert list(added) == [*before, added[-1]]
    assert (added[-1].name, added[-1].reason) == ("new", "InvalidHostname")
    assert added.counts == {"InvalidHostname": 301}

    assert synthesis.desired_gateway(model, routes, {}).refusals is before  # deleted again
