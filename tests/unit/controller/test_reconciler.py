"""A reconcile, with the API server replaced by a recorder: what is written, and when not."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client import ApiException

from tests.unit.builders import route, wrapped_obj
from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller.existing import LiveGateway, WrappedEntry
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.reconciler import (
    Reconciler,
)

KEY = ObjectKey("infra", "gw")


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
