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


def test_a_route_deleted_between_the_controllers_listing_and_kopfs_is_forgotten(
    mocker: MockerFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller lists everything, then kopf lists again and watches from there: a route
    deleted in between is in no event of kopf's, and must not keep its listener."""
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
    cluster: dict[str, list[dict[str, Any]]] = {
        "httproutes": [_route("kept"), _route("deleted")],
        "wrappedgateways": [wrapped],
    }

    def list_page(
        resource: tuple[str, str, str], namespace: str | None, token: str | None
    ) -> dict[str, Any]:
        return {"items": list(cluster.get(resource[2], [])), "metadata": {}}

    mocker.patch.object(controller, "_list_page", side_effect=list_page)
    mocker.patch.object(controller.api, "serves_listener_sets", return_value=False)
    versions = {RouteKind.HTTP: "v1"}
    on_routes = next(
        handler.fn
        for handler in controller.registry(versions)._watching.get_all_handlers()
        if handler.id == "httproutes.v1"
    )

    def attached() -> list[str]:
        return sorted(route.name for route in controller.index.routes_for(("team", "shared")))

    async def start_up() -> None:
        await controller.initial_sync(versions)
        assert attached() == ["deleted", "kept"]
        cluster["httproutes"] = [_route("kept")]  # deleted before kopf's watches start
        await on_routes(event={"type": None, "object": _route("kept")})  # kopf's listing
        await asyncio.gather(*controller._background)

    asyncio.run(start_up())
    assert attached() == ["kept"]
