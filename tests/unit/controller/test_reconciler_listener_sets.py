"""A reconcile in ListenerSets mode: which ListenerSets are written, deleted or left alone."""

import asyncio
from typing import Any

import pytest

from tests.unit.builders import route, wrapped_obj
from tests.unit.controller.test_reconciler import RecordingApi
from wrapped_gateway.controller.index import ClusterIndex, LiveListenerSet, WrappedEntry
from wrapped_gateway.controller.reconciler import Reconciler

KEY = ("infra", "gw")
SPEC = {
    "output": "ListenerSets",
    "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
    "routes": {"namespaces": {"from": "All"}},
}
THROUGH_SET = [{"kind": "ListenerSet", "name": "gw"}]


class ListenerSetApi(RecordingApi):
    def __init__(self, served: bool = True) -> None:
        super().__init__()
        self.served = served
        self.listener_sets: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str]] = []

    def apply_listener_set(self, listener_set: dict[str, Any]) -> dict[str, Any]:
        self.listener_sets.append(listener_set)
        return listener_set

    def delete_listener_set(self, namespace: str, name: str) -> None:
        self.deleted.append((namespace, name))

    def serves_listener_sets(self) -> bool:
        return self.served


@pytest.fixture
def index() -> ClusterIndex:
    index = ClusterIndex()
    index.upsert_wrapped(WrappedEntry.from_object(wrapped_obj(spec=SPEC, uid="uid-1")))
    return index


def tenant(namespace: str, hostname: str) -> Any:
    return route(namespace=namespace, hostnames=[hostname], parents=THROUGH_SET)


def reconcile(
    index: ClusterIndex, api: ListenerSetApi, reconciler: Reconciler | None = None
) -> str:
    return asyncio.run((reconciler or Reconciler(index, api)).reconcile(KEY))  # type: ignore[arg-type]


def observe(index: ClusterIndex, api: ListenerSetApi) -> None:
    """What the watches would bring after the applies."""
    for manifest in api.listener_sets:
        index.upsert_listener_set(LiveListenerSet.from_object(manifest))


def test_each_tenant_namespace_gets_its_listener_set_once(index: ClusterIndex) -> None:
    api = ListenerSetApi()
    index.upsert_route(tenant("team-a", "a.example.com"))
    index.upsert_route(tenant("team-b", "b.example.com"))
    assert reconcile(index, api) == "applied"
    assert sorted(m["metadata"]["namespace"] for m in api.listener_sets) == ["team-a", "team-b"]
    assert api.statuses[-1]["listeners"] == 3
    observe(index, api)
    applied = len(api.listener_sets)
    assert reconcile(index, api) == "unchanged"
    assert len(api.listener_sets) == applied


def test_a_namespace_without_routes_loses_its_listener_set(index: ClusterIndex) -> None:
    api = ListenerSetApi()
    index.upsert_route(tenant("team-a", "a.example.com"))
    index.upsert_route(tenant("team-b", "b.example.com"))
    reconcile(index, api)
    observe(index, api)
    index.remove_route(index.routes_for(KEY)[0].kind, "team-b", "r")
    reconcile(index, api)
    assert api.deleted == [("team-b", "gw")]


def test_a_listener_set_someone_else_wrote_is_left_alone_and_reported(
    index: ClusterIndex,
) -> None:
    api = ListenerSetApi()
    index.upsert_listener_set(
        LiveListenerSet.from_object({"metadata": {"name": "gw", "namespace": "team-a"}})
    )
    index.upsert_route(tenant("team-a", "a.example.com"))
    reconcile(index, api)
    assert api.listener_sets == []
    assert api.deleted == []
    assert api.statuses[-1]["refusedRoutes"][0]["reason"] == "ListenerSetNotOwned"
    assert [e["reason"] for e in api.events] == ["ListenerSetNotOwned"]


def test_without_the_listener_set_crd_the_status_says_so(index: ClusterIndex) -> None:
    api = ListenerSetApi(served=False)
    index.upsert_route(tenant("team-a", "a.example.com"))
    assert reconcile(index, api) == "unavailable"
    assert api.gateways == []
    ready = api.statuses[-1]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "ListenerSetsUnavailable")
    assert "Gateway API v1.5" in ready["message"]


def test_a_deleted_wrapped_gateway_takes_its_listener_sets_along(index: ClusterIndex) -> None:
    api = ListenerSetApi()
    index.upsert_route(tenant("team-a", "a.example.com"))
    reconciler = Reconciler(index, api)  # type: ignore[arg-type]
    reconcile(index, api, reconciler)
    observe(index, api)
    index.remove_wrapped(*KEY)
    assert reconcile(index, api, reconciler) == "deleted"
    assert api.deleted == [("team-a", "gw")]
