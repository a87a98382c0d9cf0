"""The DNSEndpoint a WrappedGateway publishes: exactly the names the controller accepted.

external-dns's Gateway API route sources publish every route a Gateway implementation
accepted, and an implementation accepts routes the controller refused (a TCPRoute annotated
with another tenant's name on its owner's TCP listener, any route on a static listener without
a hostname), so they cannot keep a refused name out of DNS. external-dns with ``--source=crd``
publishes DNSEndpoints instead, and this one holds only the hostnames of the generated
listeners and the TCP/UDP names they carry, each owned by the namespace whose listener it is.
It lives in the WrappedGateway's namespace, where tenants write nothing.
"""

import ipaddress
from collections.abc import Iterable
from typing import Any

from wrapped_gateway.constants import (
    DNS_ENDPOINT_API_VERSION,
    DNS_ENDPOINT_KIND,
    OWNER_ANNOTATION,
)
from wrapped_gateway.listeners.model import GeneratedListener
from wrapped_gateway.listeners.output import owner_reference
from wrapped_gateway.wrapped import WrappedGateway

# The Gateway annotation external-dns's route sources take the targets from; read here, on the
# WrappedGateway (which copies it to the Gateway), so both designs point names at one place.
TARGET_ANNOTATIONS = (
    "external-dns.kubernetes.io/target",
    "external-dns.alpha.kubernetes.io/target",
)


def published_names(listeners: Iterable[GeneratedListener]) -> list[str]:
    """The names the generated listeners serve: their hostnames, and the TCP/UDP routes'
    names (which the listeners cannot carry), all accepted and owned."""
    names: set[str] = set()
    for listener in listeners:
        if listener.key.hostname is not None:
            names.add(listener.key.hostname)
        names.update(listener.route_hostnames)
    return sorted(names)


def dns_targets(wrapped: WrappedGateway, gateway_addresses: Iterable[str]) -> list[str]:
    """Where the names point: the WrappedGateway's target annotation (comma-separated), as
    external-dns reads it on a Gateway, else the addresses the Gateway's status reports."""
    for annotation in TARGET_ANNOTATIONS:
        value = wrapped.annotations.get(annotation)
        if value:
            return sorted({t.strip() for t in value.split(",") if t.strip()})
    return sorted(set(gateway_addresses))


def _record_type(target: str) -> str:
    try:
        address = ipaddress.ip_address(target)
    except ValueError:
        return "CNAME"
    return "A" if address.version == 4 else "AAAA"


def dns_endpoint_manifest(
    wrapped: WrappedGateway,
    listeners: Iterable[GeneratedListener],
    gateway_addresses: Iterable[str],
) -> dict[str, Any] | None:
    """The DNSEndpoint of `wrapped` (None unless spec.dnsEndpoint asks for one): one endpoint
    per published name and record type. Without targets it lists no endpoints, so that
    external-dns (--policy=sync) withdraws what it published before."""
    policy = wrapped.dns_endpoint
    if policy is None:
        return None
    by_type: dict[str, list[str]] = {}
    for target in dns_targets(wrapped, gateway_addresses):
        by_type.setdefault(_record_type(target), []).append(target)
    if "CNAME" in by_type:  # a name with a CNAME has no other record: the first name wins
        by_type = {"CNAME": by_type["CNAME"][:1]}
    endpoints = []
    for name in published_names(listeners):
        for record_type, targets in sorted(by_type.items()):
            endpoint: dict[str, Any] = {
                "dnsName": name,
                "recordType": record_type,
                "targets": targets,
            }
            if policy.record_ttl is not None:
                endpoint["recordTTL"] = policy.record_ttl
            endpoints.append(endpoint)
    metadata: dict[str, Any] = {
        "name": wrapped.name,
        "namespace": wrapped.namespace,
        "annotations": {OWNER_ANNOTATION: str(wrapped.key)},
    }
    if policy.labels:
        metadata["labels"] = dict(policy.labels)
    if wrapped.uid:
        metadata["ownerReferences"] = [owner_reference(wrapped)]
    return {
        "apiVersion": DNS_ENDPOINT_API_VERSION,
        "kind": DNS_ENDPOINT_KIND,
        "metadata": metadata,
        "spec": {"endpoints": endpoints},
    }
