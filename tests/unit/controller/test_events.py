"""The Events of refused routes: posted apart from the reconciles, once each, a batch at a time,
the WrappedGateways and their namespaces in turn; with the API server replaced by a recorder."""

import asyncio
from typing import Any

import pytest
from kubernetes.client import ApiException
from prometheus_client import REGISTRY

from tests.unit.builders import route, wrapped_obj
from tests.unit.controller.test_reconciler import KEY, RecordingApi
from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller.existing import WrappedEntry
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.reconciler import Reconciler
from wrapped_gateway.controller.refusal_events import BATCH_PAUSE, EVENTS_PER_BATCH, RefusalEvents
from wrapped_gateway.controller.refusal_events.ledger import (
    MAX_POST_ATTEMPTS,
    MAX_RETRY_PAUSE,
    EventLedger,
)

ALL_NAMESPACES = {"routes": {"namespaces": {"from": "All"}}}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Controller:
    """The index, an API recorder, the Event poster and a reconciler, as a controller holds
    them; the ledger on a clock the test moves."""

    def __init__(
        self,
        api: RecordingApi | None = None,
        gateways: int = 1,
        index: ClusterIndex | None = None,
    ) -> None:
        self.index = index or ClusterIndex()
        for n in range(gateways if index is None else 0):
            name = "gw" if n == 0 else f"gw{n}"
            wrapped = wrapped_obj(name=name, uid=f"uid-{n}", spec=ALL_NAMESPACES)
            self.index.upsert_wrapped(WrappedEntry.from_object(wrapped))
        self.api = api or RecordingApi()
        self.clock = FakeClock()
        self.ledger = EventLedger(clock=self.clock)
        self.events = RefusalEvents(self.api, self.index, ledger=self.ledger)  # type: ignore[arg-type]
        self.reconciler = Reconciler(self.index, self.api, self.events)  # type: ignore[arg-type]

    def reconcile(self, key: ObjectKey = KEY) -> str:
        return asyncio.run(self.reconciler.reconcile(key))

    def post(self, batches: int | None = None) -> int:
        """Post what the ledger hands out, batch after batch as the poster's loop does (without
        its pauses), until none is left or `batches` were posted; how many were."""

        async def posting() -> int:
            posted = 0
            while batches is None or posted < batches:
                if await self.events.post_next() is None:
                    return posted
                posted += 1
            return posted

        return asyncio.run(posting())

    def refused(self, name: str, namespace: str = "infra", **fields: Any) -> None:
        """A route refused for its hostname (an IP address)."""
        self.index.upsert_route(
            route(name=name, namespace=namespace, hostnames=["10.0.0.1"], **fields)
        )


def counted(result: str) -> float:
    """wrapped_gateway_refusal_events_total of `result` so far."""
    labels = {"result": result}
    return REGISTRY.get_sample_value("wrapped_gateway_refusal_events_total", labels) or 0.0


def reported(api: RecordingApi) -> list[tuple[str, str]]:
    return [(e["involvedObject"]["namespace"], e["involvedObject"]["name"]) for e in api.events]


def test_refusals_become_one_event_each_across_reconciles() -> None:
    controller = Controller()
    controller.refused("bad")
    controller.index.upsert_route(route())
    for _ in range(3):
        controller.reconcile()
        controller.post()
    assert [(e["reason"], e["involvedObject"]["name"]) for e in controller.api.events] == [
        ("InvalidHostname", "bad")
    ]


class OrderedApi(RecordingApi):
    """Records the order of the writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def apply(self, generated: dict[str, Any]) -> dict[str, Any]:
        self.writes.append("gateway")
        return super().apply(generated)

    def create_event(self, event: dict[str, Any]) -> None:
        self.writes.append("event")
        super().create_event(event)


def test_a_flood_of_refused_routes_does_not_hold_back_the_shared_gateway() -> None:
    """Attack: a tenant creates thousands of routes that are refused; posting their Events in
    the reconcile would make it last as long as those posts, and bring the Gateway back to the
    work queue for each next batch, delaying every other tenant's change."""
    api = OrderedApi()
    controller = Controller(api)
    for n in range(EVENTS_PER_BATCH * 2 + 1):
        controller.refused(f"bad-{n}")
    controller.index.upsert_route(route())
    assert controller.reconcile() == "applied"
    assert api.writes == ["gateway"], "the reconcile posts no Event"
    assert controller.post() == 3  # no more reconciles needed: every batch, then none left
    assert len(api.events) == EVENTS_PER_BATCH * 2 + 1
    assert len({e["metadata"]["name"] for e in api.events}) == len(api.events)


class EventsFailingOnce(RecordingApi):
    """The first Event post fails with `failure`; later ones succeed."""

    def __init__(self, failure: Exception) -> None:
        super().__init__()
        self.failure: Exception | None = failure

    def create_event(self, event: dict[str, Any]) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        super().create_event(event)


@pytest.mark.parametrize(
    "failure",
    [
        ApiException(status=503, reason="Service Unavailable"),
        ApiException(status=429, reason="Too Many Requests"),
        ApiException(status=401, reason="Unauthorized"),
        ConnectionError("refused"),
    ],
    ids=["unavailable", "throttled", "token-rotating", "unreachable"],
)
def test_events_the_api_server_could_not_take_are_put_back_and_nothing_is_charged(
    failure: Exception,
) -> None:
    """An outage must not count against the refusals' attempts (12, then given up for an
    hour): the batch waits for the server, the pause doubling, and goes out as it was."""
    controller = Controller(EventsFailingOnce(failure))
    controller.refused("bad")
    controller.refused("bad2")
    assert controller.reconcile() == "no-listeners"  # the failure fails nothing else

    async def posting() -> list[float]:
        pauses = []
        while (pause := await controller.events.post_next()) is not None:
            pauses.append(pause)
        return pauses

    pauses = asyncio.run(posting())
    assert pauses[0] > BATCH_PAUSE  # the server could not take it: a longer pause
    assert pauses[-1] == BATCH_PAUSE  # and back to the usual once a batch went out
    assert reported(controller.api) == [("infra", "bad"), ("infra", "bad2")]
    assert controller.ledger.due_in() is None
    controller.reconcile()
    controller.post()
    assert len(controller.api.events) == 2


class EventsRefusedIn(RecordingApi):
    """Every Event post in `namespace` fails, as under a quota that allows none."""

    def __init__(self, namespace: str) -> None:
        super().__init__()
        self.namespace = namespace
        self.refused_posts = 0

    def create_event(self, event: dict[str, Any]) -> None:
        if event["metadata"]["namespace"] == self.namespace:
            self.refused_posts += 1
            raise ApiException(status=403, reason="Forbidden")
        super().create_event(event)


def test_events_that_can_never_be_posted_are_given_up() -> None:
    """Attack: a tenant's namespace refuses every Event (a quota of none). Its refused routes
    must not have their Events posted again every few seconds for good; another tenant's Event
    still goes out at once."""
    api = EventsRefusedIn("quota")
    controller = Controller(api)
    controller.refused("bad", namespace="quota")
    controller.refused("other-bad", namespace="team")
    given_up = counted("given-up")
    controller.reconcile()
    controller.post()
    assert reported(api) == [("team", "other-bad")]
    for _ in range(20):  # 20 minutes: every retry is due, its report (an hour) not expired
        controller.clock.now += MAX_RETRY_PAUSE
        controller.post()
    assert api.refused_posts == MAX_POST_ATTEMPTS
    assert counted("given-up") - given_up == 1
    assert controller.ledger.due_in() is None, "nothing left to retry"
    controller.reconcile()  # a change elsewhere on the Gateway
    controller.post()
    assert api.refused_posts == MAX_POST_ATTEMPTS


def test_a_namespace_that_refuses_events_does_not_slow_another_namespaces() -> None:
    """Attack: a tenant makes its namespace refuse every Event (a quota it fills, or deleting
    it with finalizers on its routes); another tenant's Events on the same Gateway still go
    out at the usual pace, none waiting for the refused ones' retries."""
    api = EventsRefusedIn("quota")
    controller = Controller(api)
    for n in range(4 * EVENTS_PER_BATCH):
        controller.index.upsert_route(
            route(name=f"q{n}", namespace="quota", hostnames=[f"10.0.1.{n}"])
        )
        controller.index.upsert_route(
            route(name=f"t{n}", namespace="team", hostnames=[f"10.0.2.{n}"])
        )
    controller.reconcile()
    batches = controller.post()  # the clock does not move: no retry is due meanwhile
    assert len(reported(api)) == 4 * EVENTS_PER_BATCH
    assert {namespace for namespace, _ in reported(api)} == {"team"}
    assert batches == 8  # as many as with both namespaces taking Events
    assert controller.ledger.due_in() is not None  # the refused ones wait their turn


def test_no_event_is_posted_into_a_namespace_being_deleted() -> None:
    controller = Controller()
    controller.refused("bad", namespace="leaving")
    controller.index.upsert_namespace("leaving", {}, terminating=True)
    controller.reconcile()
    controller.post()
    assert controller.api.events == []
    assert controller.ledger.due_in() is None


def test_a_wrapped_gateway_deleted_while_standing_by_is_forgotten() -> None:
    """Its refusals must not be posted once the replica leads again."""
    controller = Controller()
    controller.refused("bad")
    controller.reconcile()  # offered, not posted yet; then leadership is lost
    controller.index.remove_wrapped(*KEY)
    controller.reconciler.stand_by(KEY)  # the worker's turn for the deletion
    assert controller.ledger.take(EVENTS_PER_BATCH) is None
    controller.post()
    assert controller.api.events == []


class EventsBrokenFor(RecordingApi):
    """Making the Event of the route `name` fails inside the client, as a bug would."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def create_event(self, event: dict[str, Any]) -> None:
        if event["involvedObject"]["name"] == self.name:
            raise ValueError("a bug")
        super().create_event(event)


def test_an_event_that_cannot_be_made_is_charged_to_it_not_taken_for_an_outage() -> None:
    """Taken for an outage, it would be put back first in every batch, and no other Event of
    its Gateway would ever be posted."""
    controller = Controller(EventsBrokenFor("r0"))
    for n in range(2 * EVENTS_PER_BATCH):
        controller.refused(f"r{n}")
    controller.reconcile()
    controller.post()
    assert len(controller.api.events) == 2 * EVENTS_PER_BATCH - 1


class EventStore(RecordingApi):
    """Events stored by name, as the API server does: a second create of a name fails."""

    def __init__(self) -> None:
        super().__init__()
        self.posts = 0

    def create_event(self, event: dict[str, Any]) -> None:
        self.posts += 1
        if any(e["metadata"]["name"] == event["metadata"]["name"] for e in self.events):
            raise ApiException(status=409, reason="AlreadyExists")
        super().create_event(event)


def test_a_restarted_controller_posts_no_refusal_event_twice() -> None:
    api = EventStore()
    controller = Controller(api)
    controller.refused("bad")
    controller.refused("bad2")
    controller.reconcile()
    controller.post()
    assert len(api.events) == 2
    restarted = Controller(api, index=controller.index)  # its ledger is empty
    exists = counted("exists")
    restarted.reconcile()
    restarted.post()
    assert (len(api.events), api.posts) == (2, 4)  # both refused as AlreadyExists
    assert counted("exists") - exists == 2
    restarted.reconcile()
    restarted.post()
    assert api.posts == 4  # and then known as posted


def test_a_newer_tenants_refusal_event_does_not_wait_behind_an_older_flood() -> None:
    """Attack: one tenant's older refused routes come first in claim order; Events go out a
    batch at a time, so in claim order a newer tenant's would wait minutes."""
    controller = Controller()
    for n in range(EVENTS_PER_BATCH * 3):
        controller.index.upsert_route(
            route(name=f"bad-{n}", namespace="flood", hostnames=[f"10.0.0.{n}"])
        )
    controller.refused("late", namespace="team", created="2026-02-01T00:00:00Z")
    controller.reconcile()
    controller.post(batches=1)
    assert len(controller.api.events) == EVENTS_PER_BATCH
    assert ("team", "late") in reported(controller.api)
    # the flood's own in claim order (one creationTimestamp: by name, as strings)
    flood = [name for namespace, name in reported(controller.api) if namespace == "flood"]
    assert flood == sorted(f"bad-{n}" for n in range(EVENTS_PER_BATCH * 3))[: len(flood)]
    assert len(flood) == EVENTS_PER_BATCH - 1


def test_a_newer_tenants_refusal_event_does_not_wait_behind_more_namespaces_than_a_batch() -> None:
    """With more namespaces of older refusals than a batch holds, taking the namespaces in the
    same order every batch would serve the first EVENTS_PER_BATCH of them until they are
    drained; the namespaces that waited come first in the next batch instead."""
    controller = Controller()
    older = EVENTS_PER_BATCH + 10
    for team in range(older):
        for n in range(3):
            controller.index.upsert_route(route(name=f"bad-{n}", namespace=f"old-{team:03}",
                                                hostnames=[f"10.0.{team}.{n}"]))  # fmt: skip
    controller.refused("late", namespace="new", created="2026-02-01T00:00:00Z")
    controller.reconcile()
    controller.post(batches=2)
    namespaces = [namespace for namespace, _ in reported(controller.api)]
    assert len(namespaces) == 2 * EVENTS_PER_BATCH
    assert "new" in namespaces  # in the second batch at the latest, not the fourth
    assert set(namespaces) == {f"old-{team:03}" for team in range(older)} | {"new"}


def test_one_gateways_flood_does_not_hold_back_another_gateways_events() -> None:
    """Attack: a tenant floods one shared Gateway with refused routes; the Events of another
    Gateway's refusals go out in the next batch, not after the whole flood."""
    controller = Controller(gateways=2)
    for n in range(EVENTS_PER_BATCH * 4):
        controller.index.upsert_route(
            route(name=f"bad-{n}", namespace="flood", hostnames=[f"10.0.0.{n}"])
        )
    controller.index.upsert_route(
        route(
            name="mine",
            namespace="team",
            hostnames=["10.9.9.9"],
            parents=[{"name": "gw1", "namespace": "infra"}],
        )
    )
    controller.reconcile()
    controller.reconcile(ObjectKey("infra", "gw1"))
    controller.post(batches=2)
    assert ("team", "mine") in reported(controller.api)


def test_the_poster_posts_what_is_offered_and_nothing_while_it_may_not() -> None:
    controller = Controller()
    controller.refused("bad")
    may_post = False

    async def scenario() -> None:
        nonlocal may_post
        poster = asyncio.create_task(controller.events.run(lambda: may_post))
        await controller.reconciler.reconcile(KEY)  # offers its refusals
        await asyncio.sleep(0.05)
        assert controller.api.events == [], "a standby posts nothing"
        may_post = True
        controller.index.upsert_route(route())
        await controller.reconciler.reconcile(KEY)  # offers again: wakes the poster
        for _ in range(100):
            if controller.api.events:
                break
            await asyncio.sleep(0.01)
        poster.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poster

    asyncio.run(scenario())
    assert reported(controller.api) == [("infra", "bad")]


def test_a_standby_with_events_in_line_waits_for_offers_and_does_not_spin() -> None:
    controller = Controller()
    controller.refused("bad")
    controller.reconcile()  # its refusal is in line, as a leader that stepped down leaves it
    asked = 0

    def may_post() -> bool:
        nonlocal asked
        asked += 1
        return False

    async def scenario() -> None:
        poster = asyncio.create_task(controller.events.run(may_post))
        await asyncio.sleep(0.2)
        poster.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poster

    asyncio.run(scenario())
    assert asked == 1
    assert controller.api.events == []


def test_a_spec_made_invalid_and_fixed_does_not_post_its_refusals_again() -> None:
    """While the spec is invalid no refusal is reported (nothing is posted); what was reported
    before is kept, so fixing the spec posts nothing again."""
    api = EventStore()
    controller = Controller(api)
    for n in range(100):
        controller.refused(f"r{n}")
    controller.reconcile()
    controller.post()
    assert api.posts == 100
    good = wrapped_obj(uid="uid-0", spec=ALL_NAMESPACES)
    bad = wrapped_obj(uid="uid-0", spec={**ALL_NAMESPACES, "listeners": "not a list"})
    controller.index.upsert_wrapped(WrappedEntry.from_object(bad))
    assert controller.reconcile() == "invalid"
    controller.post()
    controller.index.upsert_wrapped(WrappedEntry.from_object(good))
    controller.reconcile()
    controller.post()
    assert api.posts == 100
