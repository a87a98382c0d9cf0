"""The controller's LISTs: a page at a time, following the API server's continue tokens."""

import argparse
import asyncio
from typing import Any

import pytest
from kubernetes import client
from pytest_mock import MockerFixture

from wrapped_gateway.controller import operator
from wrapped_gateway.controller.settings import add_run_arguments, settings_from


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
