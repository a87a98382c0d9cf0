"""spec.dnsEndpoint in a reconcile: the DNSEndpoint follows the accepted names and the Gateway's
addresses, is written only when it changes, and is deleted when no longer asked for."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException

from tests.unit.builders import route, wrapped_obj
from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller.existing import LiveGateway, WrappedEntry
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.reconciler import Reconciler

KEY = ObjectKey("infra", "gw")


class RecordingApi:
    """Stands in for KubeApi, recording what is written."""

    def __init__(self) -> None:
        self.dns_endpoints: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str]] = []

    def apply(self, generated: dict[str, Any]) -> None:
        pass

    def apply_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        pass

    def create_event(self, event: dict[str, Any]) -> None:
        pass

    def apply_dns_endpoint(self, manifest: dict[str, Any]) -> None:
        self.dns_endpoints.append(manifest)

    def delete_dns_endpoint(self, namespace: str, name: str) -> None:
        self.deleted.append((namespace, name))


def entry(spec: dict[str, Any]) -> WrappedEntry:
    spec = {"routes": {"namespaces": {"from": "All"}}, **spec}
    return WrappedEntry.from_object(wrapped_obj(uid="uid-1", generation=1, spec=spec))


def live_gateway(addresses: list[str]) -> LiveGateway:
    owner = {"kind": "WrappedGateway", "uid": "uid-1", "controller": True}
    return LiveGateway.from_object(
        {
            "metadata": {"name": "gw", "namespace": "infra", "ownerReferences": [owner]},
            "spec": {},
            "status": {"addresses": [{"type": "IPAddress", "value": a} for a in addresses]},
        }
    )


def names(manifest: dict[str, Any]) -> dict[str, list[str]]:
    return {e["dnsName"]: e["targets"] for e in manifest["spec"]["endpoints"]}


def test_the_dns_endpoint_follows_names_and_addresses_and_goes_when_not_asked_for() -> None:
    index, api = ClusterIndex(), RecordingApi()
    reconciler = Reconciler(index, api, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]

    def reconcile() -> None:
        asyncio.run(reconciler.reconcile(KEY))

    index.upsert_wrapped(entry({"dnsEndpoint": {}}))
    index.upsert_route(route(namespace="team-a"))
    reconcile()
    assert names(api.dns_endpoints[-1]) == {}  # no address yet: nothing to point at
    index.upsert_gateway(live_gateway(["10.0.0.1"]))
    reconcile()
    assert names(api.dns_endpoints[-1]) == {"app.example.com": ["10.0.0.1"]}
    reconcile()
    assert len(api.dns_endpoints) == 2  # unchanged: not written again
    index.upsert_route(route(name="api", namespace="team-b", hostnames=["api.example.com"]))
    reconcile()
    assert names(api.dns_endpoints[-1]) == {
        "app.example.com": ["10.0.0.1"],
        "api.example.com": ["10.0.0.1"],
    }
    index.upsert_wrapped(entry({}))
    reconcile()
    assert api.deleted == [("infra", "gw")]
    reconcile()
    assert api.deleted == [("infra", "gw")]  # once


class RefusingApi(RecordingApi):
    """An API server without external-dns's CRD."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[dict[str, Any]] = []

    def apply_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    def apply_dns_endpoint(self, manifest: dict[str, Any]) -> None:
        raise ApiException(status=404, reason="Not Found")


def test_a_dns_endpoint_that_cannot_be_written_holds_back_neither_gateway_nor_status() -> None:
    index, api = ClusterIndex(), RefusingApi()
    reconciler = Reconciler(index, api, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]
    index.upsert_wrapped(entry({"dnsEndpoint": {}}))
    index.upsert_route(route(namespace="team-a"))
    assert asyncio.run(reconciler.reconcile(KEY)) == "applied"
    assert len(api.statuses) == 1
