"""Refusals: a sequence of refusals in claim order, made of chunks a resumed synthesis shares."""

from collections import Counter
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_properties import PROPERTY_SETTINGS
from wrapped_gateway.listeners import Refusal
from wrapped_gateway.listeners.refusals import MERGE_BELOW, Refusals
from wrapped_gateway.routes import RouteKind

REASONS = ("HostnameConflict", "HostnameNotAllowed", "TooManyListeners")


def refusal(n: int, reason: str = "HostnameConflict") -> Refusal:
    return Refusal(RouteKind.HTTP, "team", f"r{n}", reason, f"m{n}")


def test_it_reads_as_the_tuple_of_its_chunks_joined() -> None:
    flat = tuple(refusal(n) for n in range(10))
    refusals = Refusals((flat[:3], (), flat[3:4], flat[4:]))
    assert refusals == flat
    assert refusals == list(flat)
    assert tuple(refusals) == flat
    assert len(refusals) == 10
    assert refusals[0] == flat[0]
    assert refusals[3] == flat[3]
    assert refusals[-1] == flat[-1]
    assert refusals[:5] == flat[:5]
    assert refusals[2:9:3] == flat[2:9:3]
    assert refusals[:100] == flat
    assert refusals.chunks == (flat[:3], flat[3:4], flat[4:])  # no empty chunk
    with pytest.raises(IndexError):
        refusals[10]
    assert Refusals() == ()
    assert not Refusals()
    assert refusals != flat[:-1]
    assert refusals != Refusals((flat[:-1],))


def test_the_counts_by_reason_are_counted_or_taken_as_given() -> None:
    refusals = Refusals(((refusal(0), refusal(1, "TooManyListeners"), refusal(2)),))
    assert refusals.counts == {"HostnameConflict": 2, "TooManyListeners": 1}
    assert Refusals((), {"HostnameConflict": 0}).counts == {}
    with pytest.raises(TypeError):
        refusals.counts["HostnameConflict"] = 5  # type: ignore[index]


def test_then_shares_every_chunk_but_a_small_last_one() -> None:
    big = tuple(refusal(n) for n in range(MERGE_BELOW))
    first = Refusals((big,))
    second = first.then([refusal(100)])
    assert second.chunks[0] is big  # shared: whoever saw `first` knows it
    assert second == (*big, refusal(100))
    third = second.then([refusal(101)])
    assert third.chunks[0] is big
    assert third.chunks[1] == (refusal(100), refusal(101))  # merged: no chunk per route
    assert first.then([]) is first


@PROPERTY_SETTINGS
@given(
    steps=st.lists(
        st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(REASONS)), max_size=80),
        max_size=12,
    )
)
def test_refusals_added_in_steps_equal_them_all_at_once(
    steps: list[list[tuple[int, str]]],
) -> None:
    refusals, flat = Refusals(), []
    for step in steps:
        made = [refusal(n, reason) for n, reason in step]
        before = refusals
        refusals = refusals.then(made)
        flat += made
        # every chunk but the last is shared with the refusals before
        assert all(a is b for a, b in zip(refusals.chunks[:-1], before.chunks, strict=False))
    assert refusals == tuple(flat)
    assert refusals == Refusals((tuple(flat),))  # counts included
    assert refusals.counts == Counter(r.reason for r in flat)
    # neighbouring chunks hold more than MERGE_BELOW together: few chunks however many steps
    assert all(len(a) + len(b) > MERGE_BELOW for a, b in pairwise(refusals.chunks))


def oracle_fair_first(flat: list[Refusal], limit: int) -> list[Refusal]:
    """Round-robin by namespace (in the order of each one's oldest refusal), the first
    `limit` taken, shown in claim order: written the plain way, over every refusal."""
    if len(flat) <= limit:
        return flat
    queues: dict[str, list[int]] = {}
    for position, r in enumerate(flat):
        queues.setdefault(r.namespace, []).append(position)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit:
        chosen += [q[depth] for q in queues.values() if depth < len(q)][: limit - len(chosen)]
        depth += 1
    return [flat[p] for p in sorted(chosen)]


@PROPERTY_SETTINGS
@given(
    steps=st.lists(
        st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 130)), max_size=150),
        max_size=8,
    ),
    limit=st.sampled_from([0, 1, 7, 100]),
)
def test_fair_first_takes_each_namespace_in_turn_however_the_refusals_were_added(
    steps: list[list[tuple[int, int]]], limit: int
) -> None:
    refusals, flat = Refusals(), []
    for step in steps:
        made = [Refusal(RouteKind.HTTP, f"ns{ns}", f"r{n}", "HostnameConflict", f"m{n}")
                for n, ns in step]  # fmt: skip
        refusals = refusals.then(made)
        flat += made
    assert list(refusals.fair_first(limit)) == oracle_fair_first(flat, limit)
    assert list(Refusals((tuple(flat),)).fair_first(limit)) == oracle_fair_first(flat, limit)


def test_fair_first_shows_every_tenant_beside_an_older_flood() -> None:
    """Attack: a tenant's thousands of refused routes are the oldest; the first 100 in claim
    order would be all theirs, hiding every other tenant's refusals from the status."""
    flood = [
        Refusal(RouteKind.HTTP, "flood", f"f{n}", "HostnameConflict", "m") for n in range(5000)
    ]
    other = Refusal(RouteKind.HTTP, "team", "mine", "InvalidHostname", "m")
    refusals = Refusals().then(flood).then([other])
    shown = refusals.fair_first(100)
    assert len(shown) == 100
    assert shown[-1] == other  # in claim order: after the flood's oldest 99
    assert list(shown[:99]) == flood[:99]
