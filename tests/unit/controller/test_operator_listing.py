"""The controller's LISTs: a page at a time, following the API server's continue tokens."""

import argparse
import asyncio
from typing import Any

import pytest
from kubernetes import client
from pytest_mock import MockerFixture

from wrapped_gateway.controller import operator
from wrapped_gateway.routes import RouteKind
from wrapped_gateway.run_options import add_run_arguments, settings_from

Listed = list[tuple[str, str | None, bool]]  # plural, continue token, metadata only


def _paged(listed: Listed, total: int, page: int = 2) -> Any:
    """KubeApi.list_page over `total` objects of every resource, `page` at a time."""

    def list_page(
        resource: tuple[str, str, str], namespace: str | None, token: str | None, metadata: bool
    ) -> dict[str, Any]:
        listed.append((resource[2], token, metadata))
        start = int(token or 0)
        end = min(total, start + page)
        items = [{"metadata": {"namespace": "ns", "name": f"r{i}"}} for i in range(start, end)]
        return {"items": items, "metadata": {"continue": str(end) if end < total else ""}}

    return list_page


def _controller(monkeypatch: pytest.MonkeyPatch, *arguments: str) -> operator.Controller:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return operator.Controller(settings_from(parser.parse_args(arguments)), client.ApiClient())


def test_a_large_resource_is_listed_a_page_at_a_time(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    controller = _controller(monkeypatch)
    listed: Listed = []
    mocker.patch.object(controller.api, "list_page", side_effect=_paged(listed, total=5))

    async def names() -> list[str]:
        routes = ("gateway.networking.k8s.io", "v1", "httproutes")
        return [item["metadata"]["name"] async for item in controller._listed(routes, False)]

    assert asyncio.run(names()) == [f"r{i}" for i in range(5)]
    assert listed == [
        ("httproutes", None, False),
        ("httproutes", "2", False),
        ("httproutes", "4", False),
    ]


def test_namespaces_are_listed_once_by_their_metadata_whatever_is_watched(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Selector policies read the labels, and a namespace being deleted is not reconciled;
    `--namespace` limits the routes watched, not the namespaces known."""
    controller = _controller(monkeypatch, "--namespace", "a", "--namespace", "b")
    namespaces = [
        {"metadata": {"name": "team-a", "labels": {"gw": "yes"}}},
        {"metadata": {"name": "gone", "deletionTimestamp": "2026-01-01T00:00:00Z"}},
    ]
    listed: Listed = []

    def list_page(
        resource: tuple[str, str, str], namespace: str | None, token: str | None, metadata: bool
    ) -> dict[str, Any]:
        if resource[2] != "namespaces":
            return {"items": [], "metadata": {}}
        listed.append((resource[2], token, metadata))
        index = int(token or 0)
        more = str(index + 1) if index + 1 < len(namespaces) else None
        return {"items": [namespaces[index]], "metadata": {"continue": more}}

    mocker.patch.object(controller.api, "list_page", side_effect=list_page)
    mocker.patch.object(controller.api, "serves_listener_sets", return_value=False)
    asyncio.run(controller.initial_sync({}))
    # two pages, once (not once per watched namespace), of metadata alone
    assert listed == [("namespaces", None, True), ("namespaces", "1", True)]
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
    controller = _controller(monkeypatch)
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
        resource: tuple[str, str, str], namespace: str | None, token: str | None, metadata: bool
    ) -> dict[str, Any]:
        objects = cluster.get(resource[2], [])
        if metadata:  # as the API server answers a PartialObjectMetadataList
            objects = [{"metadata": obj["metadata"]} for obj in objects]
        return {"items": objects, "metadata": {}}

    mocker.patch.object(controller.api, "list_page", side_effect=list_page)
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
