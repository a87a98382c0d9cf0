"""A reconcile, with the API server replaced by a recorder: what is written, and when not."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client import ApiException

from tests.unit.builders import route, wrapped_obj
from wrapped_gateway.controller.index import ClusterIndex, LiveGateway, WrappedEntry
from wrapped_gateway.controller.reconciler import Reconciler

KEY = ("infra", "gw")


class RecordingApi:
    """Stands in for KubeApi: applies are stored as the API server would return them."""

    def __init__(self) -> None:
        self.gateways: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def apply_gateway(self, gateway: dict[str, Any]) -> dict[str, Any]:
        self.gateways.append(gateway)
        return gateway

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


def reconcile(index: ClusterIndex, api: RecordingApi) -> str:
    reconciler = Reconciler(index, api, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    return asyncio.run(reconciler.reconcile(KEY))


def test_the_gateway_is_applied_once_then_left_alone(
    index: ClusterIndex, api: RecordingApi
) -> None:
    index.upsert_route(route())
    assert reconcile(index, api) == "applied"
    assert reconcile(index, api) == "unchanged"
    assert len(api.gateways) == 1
    assert len(api.statuses) == 1
    gateway = api.gateways[0]
    assert gateway["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert [listener["hostname"] for listener in gateway["spec"]["listeners"]] == [
        "app.example.com"
    ]


def test_a_route_change_is_applied(index: ClusterIndex, api: RecordingApi) -> None:
    index.upsert_route(route())
    reconcile(index, api)
    index.upsert_route(route(hostnames=["b.example.com"]))
    assert reconcile(index, api) == "applied"
    assert api.gateways[-1]["spec"]["listeners"][0]["hostname"] == "b.example.com"


def test_a_gateway_owned_by_someone_else_is_reported_not_adopted(
    index: ClusterIndex, api: RecordingApi
) -> None:
    index.upsert_route(route())
    index.upsert_gateway(
        LiveGateway.from_object({"metadata": {"name": "gw", "namespace": "infra"}, "spec": {}})
    )
    assert reconcile(index, api) == "not-owned"
    assert api.gateways == []
    ready = api.statuses[-1]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "GatewayNotOwned")


def test_no_listeners_is_reported_and_nothing_applied(
    index: ClusterIndex, api: RecordingApi
) -> None:
    assert reconcile(index, api) == "no-listeners"
    assert api.gateways == []
    assert api.statuses[-1]["conditions"][0]["reason"] == "NoListeners"


def test_a_malformed_wrapped_gateway_gets_a_status_and_no_gateway(
    index: ClusterIndex, api: RecordingApi
) -> None:
    index.upsert_wrapped(
        WrappedEntry.from_object(wrapped_obj(spec={"routes": {"hostnames": ["10.0.0.1"]}}))
    )
    assert reconcile(index, api) == "invalid"
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


def test_a_deleted_wrapped_gateway_is_forgotten(index: ClusterIndex, api: RecordingApi) -> None:
    index.remove_wrapped(*KEY)
    assert reconcile(index, api) == "deleted"
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
