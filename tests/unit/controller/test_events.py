import dataclasses
from datetime import UTC, datetime

from tests.unit.builders import refusal
from wrapped_gateway.controller.events import EventLedger
from wrapped_gateway.listeners import Refusals

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_refusal_is_unreported_until_it_is_marked_reported() -> None:
    ledger = EventLedger()
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]  # asking marks nothing
    ledger.reported("infra/gw", refusal())
    assert ledger.unreported("infra/gw", [refusal()]) == []
    assert ledger.unreported("infra/other", [refusal()]) == [refusal()]
    assert ledger.unreported("infra/gw", [refusal("changed")]) == [refusal("changed")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_refusal_is_reported_again_once_its_report_expired() -> None:
    clock = FakeClock()
    ledger = EventLedger(ttl=100, recheck=10, clock=clock)
    ledger.reported("infra/gw", refusal())
    clock.now = 50
    assert ledger.unreported("infra/gw", [refusal()]) == []
    clock.now = 105  # the report expired; the settled answer, from t=50, is past its recheck
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]


def test_a_settled_gateway_is_answered_without_looking_its_refusals_up() -> None:
    # One tenant's thousands of reported refusals must not be looked up on every reconcile.
    clock = FakeClock()
    ledger = EventLedger(ttl=100, recheck=10, clock=clock)
    flood = Refusals((tuple(refusal(f"m{i}") for i in range(1000)),))
    for r in flood:
        ledger.reported("infra/gw", r)
    assert ledger.unreported("infra/gw", flood) == []
    clock.now = 5
    ledger._reported.clear()  # every lookup would now answer "unreported"
    assert ledger.unreported("infra/gw", flood) == []  # answered from the settled chunk
    # a newer route's refusal, a chunk of its own (as a resumed synthesis makes it), is
    # looked up alone
    added = flood.then([refusal("new")])
    assert ledger.unreported("infra/gw", added) == [refusal("new")]
    # and leaves the flood's chunk settled: the next reconcile looks up nothing of it either
    assert ledger.unreported("infra/gw", flood) == []
    # a chunk made anew (a change among the older routes) is looked up whole
    changed = Refusals((tuple(flood),))
    assert ledger.unreported("infra/gw", changed) == list(flood)
    clock.now = 16  # past the recheck: the settled chunk is looked up again
    assert ledger.unreported("infra/gw", flood) == list(flood)


def test_a_flood_of_one_namespace_does_not_hold_back_the_events_of_another() -> None:
    """Attack: a tenant's thousands of old refused routes come first in claim order, and the
    Events go out 50 a second; a newer tenant's refusal must not wait behind all of them."""
    flood = [dataclasses.replace(refusal(f"m{i}"), namespace="flood") for i in range(500)]
    other = [dataclasses.replace(refusal(f"o{i}"), namespace="other") for i in range(2)]
    third = dataclasses.replace(refusal("t"), namespace="third")
    unreported = EventLedger().unreported("infra/gw", Refusals(((*flood, *other, third),)))
    # in turn by namespace, in the order they first come; each namespace's in claim order
    assert unreported[:5] == [flood[0], other[0], third, flood[1], other[1]]
    assert unreported[5:] == flood[2:]


def test_a_forgotten_gateway_is_looked_up_again() -> None:
    clock = FakeClock()
    ledger = EventLedger(clock=clock)
    ledger.reported("infra/gw", refusal())
    assert ledger.unreported("infra/gw", [refusal()]) == []
    ledger.forget("infra/gw")
    ledger._reported.clear()
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]
