"""The controller's LISTs: a page at a time, following the API server's continue tokens."""

import argparse
import asyncio
from typing import Any

import pytest
from kubernetes import client
from pytest_mock import MockerFixture

from wrapped_gateway.controller import operator
from wrapped_gateway.controller.settings import add_run_arguments, settings_from
from wrapped_gateway.routes import RouteKind


class PagedApi:
    """A CustomObjectsApi whose LIST answers `total` objects in pages of `limit`."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.calls: list[dict[str, Any]] = []

    def list_cluster_custom_object(
        self, group: str, version: str, plural: str, **paging: Any
    ) -> dict[str, Any]:
        self.calls.append(paging)
        start = int(paging.get("_continue") or 0)
        end = min(self.total, start + paging["limit"])
        items = [{"metadata": {"namespace": "ns", "name": f"r{i}"}} for i in range(start, end)]
        return {"items": items, "metadata": {"continue": str(end) if end < self.total else ""}}


def test_a_large_resource_is_listed_a_page_at_a_time(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    controller = operator.Controller(settings_from(parser.parse_args([])), client.ApiClient())
    api = PagedApi(total=operator.LIST_PAGE * 2 + 7)
    mocker.patch.object(client, "CustomObjectsApi", return_value=api)

    async def names() -> list[str]:
        listed = controller._listed("gateway.networking.k8s.io", "v1", "httproutes")
        return [item["metadata"]["name"] async for item in listed]

    listed = asyncio.run(names())
    assert listed == [f"r{i}" for i in range(api.total)]
    assert [call["limit"] for call in api.calls] == [operator.LIST_PAGE] * 3
    page = operator.LIST_PAGE
    assert [call.get("_continue") for call in api.calls] == [None, str(page), str(2 * page)]


class NamespaceApi:
    """A CoreV1Api with a labelled namespace and one being deleted, in pages of one."""

    def __init__(self) -> None:
        self.calls = 0

    def list_namespace(self, **paging: Any) -> client.V1NamespaceList:
        self.calls += 1
        namespaces = [
            client.V1ObjectMeta(name="team-a", labels={"gw": "yes"}),
            client.V1ObjectMeta(name="gone", deletion_timestamp="2026-01-01T00:00:00Z"),
        ]
        index = int(paging.get("_continue") or 0)
        more = str(index + 1) if index + 1 < len(namespaces) else None
        return client.V1NamespaceList(
            items=[client.V1Namespace(metadata=namespaces[index])],
            metadata=client.V1ListMeta(_continue=more),
        )


def test_namespaces_are_listed_once_with_their_labels_and_deletion_whatever_is_watched(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Selector policies read the labels, and a namespace being deleted is not reconciled;
    `--namespace` limits the routes watched, not the namespaces known."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    settings = settings_from(parser.parse_args(["--namespace", "a", "--namespace", "b"]))
    controller = operator.Controller(settings, client.ApiClient())
    api = NamespaceApi()
    mocker.patch.object(client, "CoreV1Api", return_value=api)

    async def listed() -> None:
        async for obj in controller._listed("", "v1", "namespaces"):
            controller.on_namespace({"type": None, "object": obj})

    asyncio.run(listed())
    assert api.calls == 2  # two pages, once: not once per watched namespace
    assert controller.index.namespace_labels == {"team-a": {"gw": "yes"}, "gone": {}}
    assert controller.index.terminating("gone")
    assert not controller.index.terminating("team-a")


def _route(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"namespace": "team", "name": name, "resourceVersion": "1"},
        "spec": {"parentRefs": [{"name": "shared"}], "hostnames": [f"{name}.example.com"]},
    }


Cluster = dict[str, list[dict[str, Any]]]
EventHandlers = dict[str, Any]  # plural -> kopf's handler of its events


def _starting_controller(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> tuple[operator.Controller, Cluster, EventHandlers]:
    """A controller whose LISTs answer from the returned cluster (two routes on one
    WrappedGateway), and the handlers it gives kopf for the events of each resource."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    controller = operator.Controller(settings_from(parser.parse_args([])), client.ApiClient())
    wrapped = {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {"namespace": "team", "name": "shared", "uid": "u1", "generation": 1},
        "spec": {"gatewayClassName": "shared"},
    }
    cluster: Cluster = {
        "httproutes": [_route("kept"), _route("deleted")],
        "wrappedgateways": [wrapped],
    }

    def list_page(
        resource: tuple[str, str, str], namespace: str | None, token: str | None
    ) -> dict[str, Any]:
        return {"items": list(cluster.get(resource[2], [])), "metadata": {}}

    mocker.patch.object(controller, "_list_page", side_effect=list_page)
    mocker.patch.object(controller.api, "serves_listener_sets", return_value=False)
    registry = controller.registry({RouteKind.HTTP: "v1"})
    handlers = {
        handler.id.partition(".")[0]: handler.fn
        for handler in registry._watching.get_all_handlers()
    }
    return controller, cluster, handlers


def test_a_route_deleted_between_the_controllers_listing_and_kopfs_is_forgotten(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller lists everything, then kopf lists again and watches from there: a route
    deleted in between is in no event of kopf's, and must not keep its listener."""
    controller, cluster, handlers = _starting_controller(mocker, monkeypatch)
    versions = {RouteKind.HTTP: "v1"}
    on_routes = handlers["httproutes"]

    def attached() -> list[str]:
        return sorted(route.name for route in controller.index.routes_for(("team", "shared")))

    async def start_up() -> None:
        await controller.initial_sync(versions)
        assert attached() == ["deleted", "kept"]
        cluster["httproutes"] = [_route("kept")]  # deleted before kopf's watches start
        started = set(controller._background)
        await on_routes(event={"type": None, "object": _route("kept")})  # kopf's listing
        await asyncio.gather(*(controller._background - started))

    asyncio.run(start_up())
    assert attached() == ["kept"]


def test_ready_only_once_kopf_has_handed_over_everything_the_controller_listed(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until then kopf is still working through its own listing, and a change would wait."""
    controller, cluster, handlers = _starting_controller(mocker, monkeypatch)

    async def start_up() -> list[bool]:
        await controller.initial_sync({RouteKind.HTTP: "v1"})
        readiness = [controller.ready, controller.caught_up]
        for plural, objects in cluster.items():
            for obj in objects:
                await handlers[plural](event={"type": None, "object": obj})
                readiness.append(controller.caught_up)
        return readiness

    assert asyncio.run(start_up()) == [True, False, False, False, True]


def test_a_kind_whose_objects_kopf_never_lists_is_listed_again_after_a_grace(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kopf's listing of a kind whose every object went between the two listings delivers no
    event; the controller lists that kind again and forgets them."""
    controller, cluster, handlers = _starting_controller(mocker, monkeypatch)
    mocker.patch.object(operator, "UNLISTED_GRACE", 0.01)

    async def start_up() -> None:
        await controller.initial_sync({RouteKind.HTTP: "v1"})
        for obj in cluster["wrappedgateways"]:  # kopf's listing of those
            await handlers["wrappedgateways"](event={"type": None, "object": obj})
        cluster["httproutes"] = []  # both routes deleted: kopf's listing of routes is empty
        await asyncio.wait_for(asyncio.gather(*controller._background), timeout=5)

    asyncio.run(start_up())
    assert controller.caught_up
    assert controller.index.route_count == 0
