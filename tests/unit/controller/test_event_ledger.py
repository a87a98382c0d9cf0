import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tests.unit.builders import refusal
from wrapped_gateway.controller.refusal_events.ledger import (
    MAX_POST_ATTEMPTS,
    RETRY_PAUSE,
    EventLedger,
)
from wrapped_gateway.listeners import Refusal, Refusals

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
    ledger.offer("infra/gw", [refusal()])
    ledger.reported("infra/gw", refusal())
    clock.now = 50
    assert ledger.unreported("infra/gw", [refusal()]) == []
    clock.now = 105  # the report expired; the settled answer, from t=50, is past its recheck
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]


def test_a_settled_gateway_is_answered_without_looking_its_refusals_up() -> None:
    # One tenant's thousands of reported refusals must not be looked up on every reconcile.
    # The reports expire long before the recheck, so an answer from a lookup says "unreported".
    clock = FakeClock()
    ledger = EventLedger(ttl=1, recheck=100, clock=clock)
    flood = Refusals((tuple(refusal(f"m{i}") for i in range(1000)),))
    assert ledger.unreported("infra/gw", flood) == list(flood)
    for r in flood:
        ledger.reported("infra/gw", r)
    assert ledger.unreported("infra/gw", flood) == []  # settled until t=100
    clock.now = 5  # every report has expired: a lookup would find each unreported
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


def test_a_settled_chunk_is_looked_up_again_after_the_recheck() -> None:
    clock = FakeClock()
    ledger = EventLedger(ttl=50, recheck=10, clock=clock)
    flood = Refusals((tuple(refusal(f"m{i}") for i in range(10)),))
    ledger.offer("infra/gw", flood)
    for r in flood:
        ledger.reported("infra/gw", r)
    assert ledger.unreported("infra/gw", flood) == []
    clock.now = 55  # reports expired at 50; the chunk was settled until 10
    assert ledger.unreported("infra/gw", flood) == list(flood)


def test_one_gateways_flood_does_not_push_out_another_gateways_reports() -> None:
    """Attack: a tenant refused on one Gateway tens of thousands of times. Reports kept in one
    store of a fixed size would lose the other Gateways' reports, and their Events would be
    posted again and again; each Gateway's are kept as long as its refusals are current."""
    ledger = EventLedger()
    quiet = [refusal(f"q{i}") for i in range(100)]
    ledger.unreported("infra/quiet", quiet)
    for r in quiet:
        ledger.reported("infra/quiet", r)
    flood = [refusal(f"m{i}") for i in range(60_000)]
    ledger.unreported("infra/flood", flood)
    for r in flood:
        ledger.reported("infra/flood", r)
    assert ledger.unreported("infra/quiet", quiet) == []
    assert ledger.unreported("infra/flood", flood) == []


def test_reports_of_refusals_gone_are_dropped_but_current_ones_kept() -> None:
    # Routes refused and then fixed, over and over: what is remembered stays about the size
    # of the current refusals (a refusal long gone, refused again, is posted again), and the
    # current ones stay reported through each drop.
    ledger = EventLedger()
    current = [refusal("still")]
    ledger.unreported("infra/gw", current)
    ledger.reported("infra/gw", refusal("still"))
    first = refusal("r0-0")
    for round_ in range(50):
        passing = [refusal(f"r{round_}-{i}") for i in range(20)]
        ledger.unreported("infra/gw", current + passing)
        for r in passing:
            ledger.reported("infra/gw", r)
        assert ledger.unreported("infra/gw", current) == []
    assert ledger.unreported("infra/gw", [*current, first]) == [first]


def test_a_refusal_whose_post_keeps_failing_is_given_up_until_its_report_would_expire() -> None:
    """A namespace where no Event can be created (a quota, a policy) must not have its refused
    routes posted again every few seconds for good."""
    clock = FakeClock()
    ledger = EventLedger(ttl=100, clock=clock)
    ledger.unreported("infra/gw", [refusal()])
    for _ in range(MAX_POST_ATTEMPTS - 1):
        assert not ledger.post_failed("infra/gw", refusal())
        assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]
    assert ledger.post_failed("infra/gw", refusal())
    assert ledger.unreported("infra/gw", [refusal()]) == []
    clock.now = 101
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]
    # its attempts start over: a success in between resets them as well
    assert not ledger.post_failed("infra/gw", refusal())


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
    ledger = EventLedger()
    ledger.offer("infra/gw", [refusal()])
    ledger.reported("infra/gw", refusal())
    assert ledger.unreported("infra/gw", [refusal()]) == []
    ledger.forget("infra/gw")
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]


def _drain(ledger: EventLedger, refusals: Callable[[], Refusals], size: int) -> list[list[str]]:
    """Every batch until none is left, each reported as soon as it is handed out."""
    batches = []
    while True:
        batch, left = ledger.next_batch("infra/gw", refusals(), size)
        for r in batch:
            ledger.reported("infra/gw", r)
        batches.append([f"{r.namespace}/{r.message}" for r in batch])
        if not left:
            return batches


@pytest.mark.parametrize(
    "per_namespace",
    [[500, 1, 3], [1] * 120 + [300], [7, 60, 2, 2, 90, 1], [200]],
    ids=["flood-first", "more-namespaces-than-a-batch", "mixed", "one-namespace"],
)
def test_batches_drawn_from_what_was_left_are_the_batches_a_fresh_pass_gives(
    per_namespace: list[int],
) -> None:
    refused = Refusals(
        tuple(
            tuple(dataclasses.replace(refusal(f"m{i}"), namespace=f"ns{n}") for i in range(count))
            for n, count in enumerate(per_namespace)
        )
    )
    kept = _drain(EventLedger(), lambda: refused, 50)
    # the same refusals as new chunks on every call: each batch is a pass over all that is left
    fresh = _drain(EventLedger(), lambda: Refusals((tuple(refused),)), 50)
    assert kept == fresh
    assert sum(map(len, kept)) == len(refused)


def test_draining_a_flood_costs_each_batch_what_it_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: a tenant's 15,000 refused routes; its Events go out 50 a batch, and each of those
    reconciles of the shared Gateway must not pass over all that is left."""
    flood = Refusals((tuple(refusal(f"m{i}") for i in range(15_000)),))
    ledger = EventLedger()
    ledger.next_batch("infra/gw", flood, 50)
    looked_up = 0
    hash_of = Refusal.__hash__

    def counted(self: Refusal) -> int:
        nonlocal looked_up
        looked_up += 1
        return hash_of(self)

    monkeypatch.setattr(Refusal, "__hash__", counted)
    batch, left = ledger.next_batch("infra/gw", flood, 50)
    for r in batch:
        ledger.reported("infra/gw", r)
    assert (len(batch), left) == (50, 14_900)
    assert looked_up <= 2 * len(batch)


def test_a_refusal_whose_post_was_refused_waits_alone_then_comes_after_the_others() -> None:
    clock = FakeClock()
    ledger = EventLedger(clock=clock)
    refused = Refusals(((refusal("a"), refusal("b"), refusal("c"), refusal("d")),))
    ledger.offer("infra/gw", refused)
    assert ledger.take(1) == ("infra/gw", [refusal("a")])
    ledger.post_failed("infra/gw", refusal("a"))
    # the others are not held back by its wait
    assert ledger.take(2) == ("infra/gw", [refusal("b"), refusal("c")])
    assert ledger.take(5) == ("infra/gw", [refusal("d")])
    assert ledger.take(5) is None
    assert ledger.due_in() == RETRY_PAUSE
    clock.now = RETRY_PAUSE
    assert ledger.take(5) == ("infra/gw", [refusal("a")])
    ledger.post_failed("infra/gw", refusal("a"))  # refused again: it waits twice as long
    assert ledger.due_in() == 2 * RETRY_PAUSE


def test_refusals_put_back_come_first_and_are_not_charged() -> None:
    ledger = EventLedger()
    refused = Refusals(((refusal("a"), refusal("b"), refusal("c")),))
    ledger.offer("infra/gw", refused)
    gateway, batch = ledger.take(3) or ("", [])
    ledger.reported(gateway, batch[0])
    ledger.put_back(gateway, batch[1:])  # the API server could not take them just then
    assert ledger.take(5) == ("infra/gw", [refusal("b"), refusal("c")])
    assert ledger.due_in() is None


def test_a_gateway_forgotten_while_its_batch_is_posted_stays_forgotten() -> None:
    ledger = EventLedger()
    ledger.offer("infra/gw", [refusal("a"), refusal("b")])
    gateway, batch = ledger.take(2) or ("", [])
    ledger.forget(gateway)  # a reconcile of its deletion, while the posts are in flight
    ledger.reported(gateway, batch[0])
    ledger.post_failed(gateway, batch[1])
    ledger.put_back(gateway, batch[1:])
    assert ledger.take(5) is None
    assert ledger.due_in() is None
    assert ledger.unreported(gateway, batch) == batch  # nothing of it was kept


def test_a_standby_keeps_what_was_reported_but_nothing_in_line() -> None:
    ledger = EventLedger()
    ledger.offer("infra/gone", [refusal("a")])
    ledger.offer("infra/gw", [refusal("b"), refusal("c")])
    assert ledger.take(1) == ("infra/gone", [refusal("a")])
    ledger.reported("infra/gone", refusal("a"))
    ledger.stand_by()
    assert ledger.take(5) is None, "a Gateway may be gone by the time it leads again"
    ledger.offer("infra/gone", [refusal("a")])
    assert ledger.take(5) is None  # reported before it stood by


def test_reports_of_refusals_fixed_since_are_dropped_when_the_gateway_is_offered_again() -> None:
    """A flood posted, then fixed: what is remembered follows the current refusals."""
    ledger = EventLedger()
    flood = [refusal(f"m{i}") for i in range(1000)]
    ledger.offer("infra/gw", flood)
    while (taken := ledger.take(100)) is not None:
        for r in taken[1]:
            ledger.reported(*taken[:1], r)
    ledger.offer("infra/gw", [])
    ledger.offer("infra/gw", flood[:1])
    assert ledger.take(5) == ("infra/gw", flood[:1])  # forgotten with the others
