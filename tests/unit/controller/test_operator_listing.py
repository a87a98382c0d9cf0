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
