"""A reconcile, with the API server replaced by a recorder: what is written, and when not."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client import ApiException

from tests.unit.builders import route, wrapped_obj
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.reconciler import (
    EVENT_BATCH_PAUSE,
    EVENT_RETRY_PAUSE,
    EVENTS_PER_RECONCILE,
    Reconciler,
)
from wrapped_gateway.listeners.event_ledger import MAX_POST_ATTEMPTS
from wrapped_gateway.listeners.existing import Key, LiveGateway, WrappedEntry

KEY = ("infra", "gw")


class RecordingApi:
    """Stands in for KubeApi: applies are stored as the API server would return them."""

    def __init__(self) -> None:
        self.gateways: list[dict[str, Any]] = []
        self.listener_sets: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def apply(self, generated: dict[str, Any]) -> dict[str, Any]:
        kind = generated["kind"]
        (self.gateways if kind == "Gateway" else self.listener_sets).append(generated)
        return generated

    def apply_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    def create_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@pytest.fixture
def api() -> RecordingApi:
    return RecordingApi()


@pytest.fixture
def index() -> ClusterIndex:
    index = ClusterIndex()
    index.upsert_wrapped(WrappedEntry.from_object(wrapped_obj(uid="uid-1", generation=1)))
    return index


@pytest.fixture
def reconciler(index: ClusterIndex, api: RecordingApi) -> Reconciler:
    """One reconciler for the test, as a controller has one for its lifetime."""
    return Reconciler(index, api, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]


@pytest.fixture
def reconcile(reconciler: Reconciler) -> Callable[[], str]:
    return lambda: asyncio.run(reconciler.reconcile(KEY))


def test_the_gateway_is_applied_once_then_left_alone(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    assert reconcile() == "applied"
    assert reconcile() == "unchanged"
    assert len(api.gateways) == 1
    assert len(api.statuses) == 1
    gateway = api.gateways[0]
    assert gateway["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert [listener["hostname"] for listener in gateway["spec"]["listeners"]] == [
        "app.example.com"
    ]


def test_a_route_change_is_applied(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    reconcile()
    index.upsert_route(route(hostnames=["b.example.com"]))
    assert reconcile() == "applied"
    assert api.gateways[-1]["spec"]["listeners"][0]["hostname"] == "b.example.com"


def test_nothing_is_written_while_the_namespace_is_being_deleted(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    """Deleting a namespace removes its routes one by one; each would otherwise rewrite a
    Gateway (and a status) that is about to go, or be refused for a terminating namespace."""
    index.upsert_route(route())
    reconcile()
    index.upsert_namespace("infra", {}, terminating=True)
    index.upsert_route(route(hostnames=["b.example.com"]))
    assert reconcile() == "terminating"
    assert (len(api.gateways), len(api.statuses), len(api.events)) == (1, 1, 0)


def test_a_gateway_owned_by_someone_else_is_reported_not_adopted(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    index.upsert_gateway(
        LiveGateway.from_object({"metadata": {"name": "gw", "namespace": "infra"}, "spec": {}})
    )
    assert reconcile() == "not-owned"
    assert api.gateways == []
    ready = api.statuses[-1]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "GatewayNotOwned")


def test_no_listeners_is_reported_and_nothing_applied(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    assert reconcile() == "no-listeners"
    assert api.gateways == []
    assert api.statuses[-1]["conditions"][0]["reason"] == "NoListeners"


def test_a_malformed_wrapped_gateway_gets_a_status_and_no_gateway(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    index.upsert_wrapped(
        WrappedEntry.from_object(wrapped_obj(spec={"routes": {"hostnames": ["10.0.0.1"]}}))
    )
    assert reconcile() == "invalid"
    ready = api.statuses[-1]["conditions"][0]
    assert ready["reason"] == "InvalidSpec"
    assert "spec.routes.hostnames[0]" in ready["message"]
    assert api.gateways == []


def test_refusals_become_one_event_each_across_reconciles(
    index: ClusterIndex, api: RecordingApi
) -> None:
    index.upsert_route(route(name="bad", hostnames=["10.0.0.1"]))
    index.upsert_route(route())
    reconciler = Reconciler(index, api)  # type: ignore[arg-type]
    for _ in range(3):
        asyncio.run(reconciler.reconcile(KEY))
    assert [(e["reason"], e["involvedObject"]["name"]) for e in api.events] == [
        ("InvalidHostname", "bad")
    ]


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
    [ApiException(status=500, reason="Internal Server Error"), ConnectionError("refused")],
    ids=["api-error", "unreachable"],
)
def test_an_event_whose_post_failed_is_posted_at_the_next_reconcile_and_then_never_again(
    index: ClusterIndex, failure: Exception
) -> None:
    api = EventsFailingOnce(failure)
    index.upsert_route(route(name="bad", hostnames=["10.0.0.1"]))
    index.upsert_route(route())
    reconciler = Reconciler(index, api)  # type: ignore[arg-type]
    assert asyncio.run(reconciler.reconcile(KEY)) == "applied"  # the failure fails nothing else
    assert api.events == []
    for _ in range(3):
        asyncio.run(reconciler.reconcile(KEY))
    assert [(e["reason"], e["involvedObject"]["name"]) for e in api.events] == [
        ("InvalidHostname", "bad")
    ]


def test_an_event_whose_post_failed_is_retried_without_waiting_for_a_change(
    index: ClusterIndex,
) -> None:
    api = EventsFailingOnce(ConnectionError("refused"))
    index.upsert_route(route(name="bad", hostnames=["10.0.0.1"]))
    index.upsert_route(route())
    later: list[tuple[Key, float]] = []
    reconciler = Reconciler(
        index,
        api,  # type: ignore[arg-type]
        later=lambda key, delay: later.append((key, delay)),
    )
    asyncio.run(reconciler.reconcile(KEY))
    assert later == [(KEY, EVENT_RETRY_PAUSE)]
    asyncio.run(reconciler.reconcile(KEY))  # the retry
    assert len(api.events) == 1
    assert later == [(KEY, EVENT_RETRY_PAUSE)]  # nothing left to retry


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


def test_events_that_can_never_be_posted_are_given_up_and_the_gateway_is_left_to_rest(
    index: ClusterIndex,
) -> None:
    """Attack: a tenant's namespace refuses every Event (a quota of none). Its refused routes
    must not have their Events posted again, and the shared Gateway reconciled, every few
    seconds for good; another tenant's Event still goes out at once."""
    api = EventsRefusedIn("quota")
    index.upsert_route(route(name="bad", namespace="quota", hostnames=["10.0.0.1"]))
    index.upsert_route(route(name="other-bad", namespace="team", hostnames=["10.0.0.2"]))
    index.upsert_route(route())
    later: list[tuple[Key, float]] = []
    reconciler = Reconciler(index, api, later=lambda key, delay: later.append((key, delay)))  # type: ignore[arg-type]
    asyncio.run(reconciler.reconcile(KEY))
    assert [e["involvedObject"]["name"] for e in api.events] == ["other-bad"]
    while later and len(later) < 100:  # each retry the work queue would run
        later.clear()
        asyncio.run(reconciler.reconcile(KEY))
    assert later == [], "the retries stop"
    assert api.refused_posts == MAX_POST_ATTEMPTS
    asyncio.run(reconciler.reconcile(KEY))  # a change elsewhere on the Gateway
    assert api.refused_posts == MAX_POST_ATTEMPTS


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


def test_a_flood_of_refused_routes_does_not_hold_back_the_shared_gateway(
    index: ClusterIndex,
) -> None:
    """Attack: a tenant creates thousands of routes that are refused; posting an Event for each
    before the apply would delay every other tenant's change by as many API calls."""
    api = OrderedApi()
    requeued: list[tuple[tuple[str, str], float]] = []
    for n in range(EVENTS_PER_RECONCILE * 2 + 1):
        index.upsert_route(route(name=f"bad-{n}", hostnames=[f"10.0.0.{n}"]))
    index.upsert_route(route())
    reconciler = Reconciler(index, api, later=lambda key, delay: requeued.append((key, delay)))  # type: ignore[arg-type]
    assert asyncio.run(reconciler.reconcile(KEY)) == "applied"
    assert api.writes[0] == "gateway", "the Gateway first, the Events after"
    assert len(api.events) == EVENTS_PER_RECONCILE
    assert requeued == [(KEY, EVENT_BATCH_PAUSE)]
    for _ in range(2):
        asyncio.run(reconciler.reconcile(KEY))
    assert len(api.events) == EVENTS_PER_RECONCILE * 2 + 1
    assert len(requeued) == 2, "no more reconciles once every Event is posted"
    assert len({e["metadata"]["name"] for e in api.events}) == len(api.events)


def test_a_deleted_wrapped_gateway_is_forgotten(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    index.remove_wrapped(*KEY)
    assert reconcile() == "deleted"
    assert api.gateways == api.statuses == []


def test_the_refusals_counted_for_metrics_are_the_current_ones(
    index: ClusterIndex, api: RecordingApi
) -> None:
    index.upsert_route(route(name="bad", hostnames=["10.0.0.1"]))
    index.upsert_route(route())
    reconciler = Reconciler(index, api)  # type: ignore[arg-type]
    asyncio.run(reconciler.reconcile(KEY))
    assert reconciler.refusals_by_reason() == {"InvalidHostname": 1}
    index.upsert_route(route(name="bad", hostnames=["bad.example.com"]))
    asyncio.run(reconciler.reconcile(KEY))
    assert reconciler.refusals_by_reason() == {}
    index.upsert_route(route(name="bad", hostnames=["10.0.0.1"]))
    asyncio.run(reconciler.reconcile(KEY))
    index.remove_wrapped(*KEY)
    asyncio.run(reconciler.reconcile(KEY))
    assert reconciler.refusals_by_reason() == {}


def watch_shows_gateway(
    index: ClusterIndex, reconciler: Reconciler, gateway: dict[str, Any] | None
) -> bool:
    """What the operator does on a Gateway watch event (None: DELETED); whether the event
    needs no reconcile."""
    live = None if gateway is None else LiveGateway.from_object(gateway)
    if live is None:
        index.remove_gateway(*KEY)
    else:
        index.upsert_gateway(live)
    return reconciler.observed("Gateway", KEY, live)


def test_the_watch_event_of_the_controllers_own_apply_needs_no_reconcile(
    index: ClusterIndex, api: RecordingApi, reconciler: Reconciler, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    reconcile()
    applied = api.gateways[-1]
    # the API server adds fields of its own and other managers' (status, defaults)
    stored = {**applied, "status": {"conditions": []}}
    assert watch_shows_gateway(index, reconciler, stored)
    # a later event of the same object, someone else's change, or a deletion do need one
    assert not watch_shows_gateway(index, reconciler, stored)
    reconcile()
    assert not watch_shows_gateway(index, reconciler, {**applied, "spec": {"listeners": []}})
    assert not watch_shows_gateway(index, reconciler, None)


def test_a_reconcile_before_the_watch_event_writes_nothing_again_and_leaves_the_index_alone(
    index: ClusterIndex, api: RecordingApi, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    assert reconcile() == "applied"
    assert reconcile() == "unchanged"
    assert (len(api.gateways), len(api.statuses)) == (1, 1)
    assert index.gateway(KEY) is None  # only the watch puts the Gateway there
    entry = index.wrapped(KEY)
    assert entry is not None
    assert entry.status == {}


def test_once_the_watch_shows_the_applied_gateway_nothing_is_written_even_after_a_restart(
    index: ClusterIndex, api: RecordingApi, reconciler: Reconciler, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    reconcile()
    watch_shows_gateway(index, reconciler, api.gateways[-1])
    assert reconcile() == "unchanged"
    restarted = Reconciler(index, api)  # type: ignore[arg-type]
    assert asyncio.run(restarted.reconcile(KEY)) == "unchanged"
    assert len(api.gateways) == 1


def test_a_gateway_someone_else_changed_after_the_apply_is_applied_again(
    index: ClusterIndex, api: RecordingApi, reconciler: Reconciler, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    reconcile()
    applied = api.gateways[-1]
    watch_shows_gateway(index, reconciler, applied)
    edited = {**applied, "spec": {**applied["spec"], "listeners": []}}  # a listener removed
    watch_shows_gateway(index, reconciler, edited)
    assert reconcile() == "applied"
    assert api.gateways[-1] == applied


def test_a_gateway_deleted_before_the_next_reconcile_is_created_again(
    index: ClusterIndex, api: RecordingApi, reconciler: Reconciler, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    reconcile()
    watch_shows_gateway(index, reconciler, api.gateways[-1])  # ADDED
    watch_shows_gateway(index, reconciler, None)  # DELETED
    assert reconcile() == "applied"
    assert len(api.gateways) == 2


class ApplyFailingOnce(RecordingApi):
    def apply(self, generated: dict[str, Any]) -> dict[str, Any]:
        if not self.gateways:
            self.gateways.append({})  # marks the failed attempt
            raise ApiException(status=500, reason="Internal Server Error")
        return super().apply(generated)


def test_an_apply_that_failed_is_not_remembered_as_applied(index: ClusterIndex) -> None:
    api = ApplyFailingOnce()
    index.upsert_route(route())
    reconciler = Reconciler(index, api)  # type: ignore[arg-type]
    with pytest.raises(ApiException):
        asyncio.run(reconciler.reconcile(KEY))
    assert asyncio.run(reconciler.reconcile(KEY)) == "applied"


def test_a_status_someone_else_overwrote_is_written_again(
    index: ClusterIndex, api: RecordingApi, reconciler: Reconciler, reconcile: Callable[[], str]
) -> None:
    index.upsert_route(route())
    reconcile()
    written = api.statuses[-1]
    with_status = {**wrapped_obj(uid="uid-1", generation=1), "status": written}
    index.upsert_wrapped(WrappedEntry.from_object(with_status))
    reconciler.observed_wrapped(KEY)  # the watch shows the status written
    reconcile()
    assert len(api.statuses) == 1
    index.upsert_wrapped(WrappedEntry.from_object(wrapped_obj(uid="uid-1", generation=1)))
    reconciler.observed_wrapped(KEY)  # the watch shows the status cleared by someone else
    reconcile()
    assert api.statuses[-1] == written
    assert len(api.statuses) == 2


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


def test_a_restarted_controller_posts_no_refusal_event_twice(index: ClusterIndex) -> None:
    api = EventStore()
    index.upsert_route(route(name="bad", hostnames=["10.0.0.1"]))
    index.upsert_route(route(name="bad2", hostnames=["10.0.0.2"]))
    asyncio.run(Reconciler(index, api).reconcile(KEY))  # type: ignore[arg-type]
    assert len(api.events) == 2
    restarted = Reconciler(index, api)  # type: ignore[arg-type]  # its ledger is empty
    asyncio.run(restarted.reconcile(KEY))
    assert (len(api.events), api.posts) == (2, 4)  # both refused as AlreadyExists
    asyncio.run(restarted.reconcile(KEY))
    assert api.posts == 4  # and then known as posted


def test_a_newer_tenants_refusal_event_does_not_wait_behind_an_older_flood() -> None:
    """Attack: one tenant's older refused routes come first in claim order; Events go out
    EVENTS_PER_RECONCILE a second, so in claim order a newer tenant's would wait minutes."""
    index = ClusterIndex()
    spec = {"routes": {"namespaces": {"from": "All"}}}
    index.upsert_wrapped(WrappedEntry.from_object(wrapped_obj(uid="uid-1", spec=spec)))
    for n in range(EVENTS_PER_RECONCILE * 3):
        index.upsert_route(route(name=f"bad-{n}", namespace="flood", hostnames=[f"10.0.0.{n}"]))
    index.upsert_route(
        route(name="late", namespace="team", hostnames=["10.9.9.9"], created="2026-02-01T00:00:00Z")
    )
    api = RecordingApi()
    reconciler = Reconciler(index, api)  # type: ignore[arg-type]
    asyncio.run(reconciler.reconcile(KEY))
    assert len(api.events) == EVENTS_PER_RECONCILE
    assert ("team", "late") in {
        (e["involvedObject"]["namespace"], e["involvedObject"]["name"]) for e in api.events
    }
    # the flood's own in claim order (one creationTimestamp: by name, as strings)
    flood = [
        e["involvedObject"]["name"] for e in api.events if e["metadata"]["namespace"] == "flood"
    ]
    assert flood == sorted(f"bad-{n}" for n in range(EVENTS_PER_RECONCILE * 3))[: len(flood)]
    assert len(flood) == EVENTS_PER_RECONCILE - 1


def test_a_newer_tenants_refusal_event_does_not_wait_behind_more_namespaces_than_a_batch() -> None:
    """With more namespaces of older refusals than a batch holds, taking the namespaces in the
    same order every batch would serve the first EVENTS_PER_RECONCILE of them until they are
    drained; the namespaces that waited come first in the next batch instead."""
    index = ClusterIndex()
    spec = {"routes": {"namespaces": {"from": "All"}}}
    index.upsert_wrapped(WrappedEntry.from_object(wrapped_obj(uid="uid-1", spec=spec)))
    older = EVENTS_PER_RECONCILE + 10
    for team in range(older):
        for n in range(3):
            index.upsert_route(route(name=f"bad-{n}", namespace=f"old-{team:03}",
                                     hostnames=[f"10.0.{team}.{n}"]))  # fmt: skip
    index.upsert_route(
        route(name="late", namespace="new", hostnames=["10.9.9.9"], created="2026-02-01T00:00:00Z")
    )
    api = RecordingApi()
    reconciler = Reconciler(index, api)  # type: ignore[arg-type]
    asyncio.run(reconciler.reconcile(KEY))
    asyncio.run(reconciler.reconcile(KEY))
    namespaces = [e["metadata"]["namespace"] for e in api.events]
    assert len(namespaces) == 2 * EVENTS_PER_RECONCILE
    assert "new" in namespaces  # in the second batch at the latest, not the fourth
    assert set(namespaces) == {f"old-{team:03}" for team in range(older)} | {"new"}
