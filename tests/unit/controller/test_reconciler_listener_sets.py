"""A reconcile in ListenerSets mode: which ListenerSets are written, deleted or left alone."""

import asyncio

import pytest

from tests.unit.builders import route, wrapped_obj
from tests.unit.controller.test_reconciler import RecordingApi
from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller.existing import LiveGateway, LiveListenerSet, WrappedEntry
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.reconciler import Reconciler
from wrapped_gateway.controller.refusal_events import RefusalEvents
from wrapped_gateway.routes import Route, RouteKind

KEY = ObjectKey("infra", "gw")
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
        self.deleted: list[tuple[str, str]] = []

    def delete_listener_set(self, namespace: str, name: str) -> None:
        self.deleted.append((namespace, name))

    def serves_listener_sets(self) -> bool:
        return self.served


class Controller:
    """The index, the API recorder and one reconciler, as a controller holds them."""

    def __init__(self, served: bool = True) -> None:
        self.index = ClusterIndex()
        self.index.upsert_wrapped(WrappedEntry.from_object(wrapped_obj(spec=SPEC, uid="uid-1")))
        self.api = ListenerSetApi(served)
        self.events = RefusalEvents(self.api, self.index)  # type: ignore[arg-type]
        self.reconciler = Reconciler(self.index, self.api, self.events)  # type: ignore[arg-type]

    def reconcile(self) -> str:
        """A reconcile, and the Events it offered posted."""

        async def reconcile_and_post() -> str:
            result = await self.reconciler.reconcile(KEY)
            while await self.events.post_next() is not None:
                pass
            return result

        return asyncio.run(reconcile_and_post())

    def watch(self) -> None:
        """What the watches bring after the applies."""
        for gateway in self.api.gateways:
            self.index.upsert_gateway(LiveGateway.from_object(gateway))
            self.reconciler.observed("Gateway", KEY, LiveGateway.from_object(gateway))
        for manifest in self.api.listener_sets:
            live = LiveListenerSet.from_object(manifest)
            self.index.upsert_listener_set(live)
            self.reconciler.observed("ListenerSet", (live.namespace, live.name), live)


@pytest.fixture
def controller() -> Controller:
    return Controller()


def tenant(namespace: str, hostname: str) -> Route:
    return route(namespace=namespace, hostnames=[hostname], parents=THROUGH_SET)


def test_each_tenant_namespace_gets_its_listener_set_once(controller: Controller) -> None:
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    controller.index.upsert_route(tenant("team-b", "b.example.com"))
    assert controller.reconcile() == "applied"
    applied = sorted(m["metadata"]["namespace"] for m in controller.api.listener_sets)
    assert applied == ["team-a", "team-b"]
    assert controller.api.statuses[-1]["listeners"] == 3
    assert controller.reconcile() == "unchanged"  # before the watch shows what was applied
    controller.watch()
    assert controller.reconcile() == "unchanged"  # and after
    assert len(controller.api.listener_sets) == 2


def test_a_listener_set_edited_by_someone_else_is_applied_again(controller: Controller) -> None:
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    controller.reconcile()
    controller.watch()
    edited = LiveListenerSet.from_object(
        {**controller.api.listener_sets[0], "spec": {"listeners": []}}
    )
    controller.index.upsert_listener_set(edited)
    assert not controller.reconciler.observed("ListenerSet", ("team-a", "gw"), edited)
    controller.reconcile()
    assert len(controller.api.listener_sets) == 2


def test_a_namespace_without_routes_loses_its_listener_set(controller: Controller) -> None:
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    controller.index.upsert_route(tenant("team-b", "b.example.com"))
    controller.reconcile()
    controller.watch()
    controller.index.remove_route(RouteKind.HTTP, "team-b", "r")
    controller.reconcile()
    assert controller.api.deleted == [("team-b", "gw")]


def test_a_listener_set_someone_else_wrote_is_left_alone_and_reported(
    controller: Controller,
) -> None:
    controller.index.upsert_listener_set(
        LiveListenerSet.from_object({"metadata": {"name": "gw", "namespace": "team-a"}})
    )
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    controller.reconcile()
    assert controller.api.listener_sets == []
    assert controller.api.deleted == []
    assert controller.api.statuses[-1]["refusedRoutes"][0]["reason"] == "ListenerSetNotOwned"
    assert [e["reason"] for e in controller.api.events] == ["ListenerSetNotOwned"]


def test_without_the_listener_set_crd_the_status_says_so() -> None:
    controller = Controller(served=False)
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    assert controller.reconcile() == "unavailable"
    assert controller.api.gateways == []
    ready = controller.api.statuses[-1]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "ListenerSetsUnavailable")
    assert "Gateway API v1.5" in ready["message"]


def test_a_deleted_wrapped_gateway_takes_its_listener_sets_along(controller: Controller) -> None:
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    controller.reconcile()
    controller.watch()
    controller.index.remove_wrapped(*KEY)
    assert controller.reconcile() == "deleted"
    assert controller.api.deleted == [("team-a", "gw")]


def admitted(controller: Controller) -> list[str]:
    selector = controller.api.gateways[-1]["spec"]["allowedListeners"]["namespaces"]["selector"]
    return list(selector["matchExpressions"][0]["values"])


def test_a_tenant_listener_set_joining_the_gateway_shuts_its_namespace_out(
    controller: Controller,
) -> None:
    """Attack: the Gateway admits ListenerSets by namespace, so a tenant who may write one
    would attach any hostname beside the generated ListenerSet of its namespace."""
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    controller.index.upsert_route(tenant("team-b", "b.example.com"))
    controller.reconcile()
    controller.watch()
    assert admitted(controller) == ["team-a", "team-b"]
    joining = controller.index.upsert_listener_set(
        LiveListenerSet.from_object(
            {
                "metadata": {"name": "mine", "namespace": "team-a"},
                "spec": {
                    "parentRef": {"name": "gw", "namespace": "infra"},
                    "listeners": [{"name": "x", "port": 443, "hostname": "b.example.com"}],
                },
            }
        )
    )
    assert joining == {KEY}, "the Gateway it joins is reconciled"
    controller.reconcile()
    assert admitted(controller) == ["team-b"]
    assert controller.api.deleted == [("team-a", "gw")]
    refusal = controller.api.statuses[-1]["refusedRoutes"][0]
    assert refusal["reason"] == "ListenerSetNotOwned"
    assert "ListenerSet team-a/mine, which wrapped-gateway did not write" in refusal["message"]


def test_a_listener_another_manager_adds_to_a_generated_listener_set_shuts_it_out(
    controller: Controller,
) -> None:
    """Attack: a listener added to the generated ListenerSet by another field manager survives
    the controller's applies, which only set the controller's own fields."""
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    controller.index.upsert_route(tenant("team-b", "b.example.com"))
    controller.reconcile()
    controller.watch()
    generated = next(
        m for m in controller.api.listener_sets if m["metadata"]["namespace"] == "team-a"
    )
    tampered = {
        **generated,
        "metadata": {
            **generated["metadata"],
            "managedFields": [
                {"manager": "wrapped-gateway", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
                {"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {}}},
                {"manager": "traefik", "operation": "Update", "fieldsV1": {"f:status": {}}},
            ],
        },
    }
    live = LiveListenerSet.from_object(tampered)
    assert live.spec_writers == ("kubectl-edit",), "a status writer is no spec writer"
    controller.index.upsert_listener_set(live)
    controller.reconcile()
    assert admitted(controller) == ["team-b"]
    assert controller.api.deleted == [("team-a", "gw")]
    message = controller.api.statuses[-1]["refusedRoutes"][0]["message"]
    assert "team-a/gw holds fields written by kubectl-edit" in message


def test_a_younger_wrapped_gateway_of_the_same_name_writes_no_listener_sets(
    controller: Controller,
) -> None:
    """Attack: a route names its ListenerSet without a namespace, so a tenant allowed to create
    WrappedGateways would create one named like the platform's, in ListenerSets mode, to have
    the controller write the other tenants' ListenerSets for its own Gateway (their traffic,
    their certificates, their DNS through external-dns)."""
    older = wrapped_obj(spec=SPEC, uid="uid-1", creationTimestamp="2026-01-01T00:00:00Z")
    controller.index.upsert_wrapped(WrappedEntry.from_object(older))
    impostor = wrapped_obj(
        namespace="evil", spec=SPEC, uid="uid-2", creationTimestamp="2026-02-01T00:00:00Z"
    )
    touched = controller.index.upsert_wrapped(WrappedEntry.from_object(impostor))
    assert touched == {KEY, ("evil", "gw")}
    controller.index.upsert_route(tenant("team-a", "a.example.com"))
    assert asyncio.run(controller.reconciler.reconcile(ObjectKey("evil", "gw"))) == "name-taken"
    assert controller.api.listener_sets == controller.api.gateways == []
    ready = controller.api.statuses[-1]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "ListenerSetNameTaken")
    assert "WrappedGateway infra/gw is older" in ready["message"]
    controller.reconcile()
    assert [m["metadata"]["annotations"]["wrapped-gateway.dev/owner"] for m in
            controller.api.listener_sets] == ["infra/gw"]  # fmt: skip
    # the elder gone, the other takes over
    assert ("evil", "gw") in controller.index.remove_wrapped(*KEY)
    assert asyncio.run(controller.reconciler.reconcile(ObjectKey("evil", "gw"))) != "name-taken"
    owner = controller.api.listener_sets[-1]["metadata"]["annotations"]["wrapped-gateway.dev/owner"]
    assert owner == "evil/gw"
