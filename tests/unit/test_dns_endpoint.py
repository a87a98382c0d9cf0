"""The DNSEndpoint of spec.dnsEndpoint: exactly the names the controller accepted, nothing a
refused route carries, pointing where external-dns's Gateway sources would."""

import json
from typing import Any

import pytest

from tests.unit.builders import route, wrapped, wrapped_obj
from wrapped_gateway.listeners import desired_gateway
from wrapped_gateway.listeners.dns_endpoint import dns_endpoint_manifest
from wrapped_gateway.wrapped import InvalidWrappedGateway, parse_wrapped_gateway

ALL = {"namespaces": {"from": "All"}}
OLD, NEW = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"


def published(manifest: dict[str, Any] | None) -> dict[str, tuple[str, list[str]]]:
    assert manifest is not None
    return {e["dnsName"]: (e["recordType"], e["targets"]) for e in manifest["spec"]["endpoints"]}


def tcp(namespace: str, name: str, names: str, *, created: str = NEW) -> Any:
    annotations = {
        "wrapped-gateway.dev/ports": "5432",
        "external-dns.kubernetes.io/hostname": names,
    }
    return route("TCPRoute", name, namespace, annotations=annotations, created=created)


def test_no_dns_endpoint_unless_asked_for() -> None:
    gw = wrapped(routes=ALL)
    result = desired_gateway(gw, [route(namespace="team-a")], {})
    assert dns_endpoint_manifest(gw, result.listeners, ["10.0.0.1"]) is None


def test_the_accepted_names_point_at_the_gateway_addresses() -> None:
    gw = wrapped(routes=ALL, dnsEndpoint={"recordTTL": 30, "labels": {"dns": "public"}})
    routes = [
        route(namespace="team-a", hostnames=["app.example.com", "*.apps.example.com"]),
        tcp("team-b", "db", "db.example.com, db-eu.example.com", created=OLD),
    ]
    result = desired_gateway(gw, routes, {})
    manifest = dns_endpoint_manifest(gw, result.listeners, ["10.0.0.1", "2001:db8::1"])
    assert manifest is not None
    assert manifest["kind"] == "DNSEndpoint"
    assert manifest["metadata"]["namespace"] == "infra"  # the platform's, not a tenant's
    assert manifest["metadata"]["labels"] == {"dns": "public"}
    names = {"app.example.com", "*.apps.example.com", "db.example.com", "db-eu.example.com"}
    assert {(e["dnsName"], e["recordType"]) for e in manifest["spec"]["endpoints"]} == {
        (name, record_type) for name in names for record_type in ("A", "AAAA")
    }
    assert all(e["recordTTL"] == 30 for e in manifest["spec"]["endpoints"])


def test_the_target_annotation_overrides_the_status_addresses() -> None:
    gw = wrapped(routes=ALL, dnsEndpoint={})
    target = {"external-dns.kubernetes.io/target": "lb.example.net"}
    spec = {"routes": ALL, "dnsEndpoint": {}}
    gw_obj_annotated = parse_wrapped_gateway(wrapped_obj(spec=spec, annotations=target))
    result = desired_gateway(gw, [route(namespace="team-a")], {})
    assert published(dns_endpoint_manifest(gw, result.listeners, ["10.0.0.1"])) == {
        "app.example.com": ("A", ["10.0.0.1"])
    }
    assert published(dns_endpoint_manifest(gw_obj_annotated, result.listeners, ["10.0.0.1"])) == {
        "app.example.com": ("CNAME", ["lb.example.net"])
    }


def test_without_targets_nothing_is_published() -> None:
    """So that external-dns withdraws what it published while the Gateway had an address."""
    gw = wrapped(routes=ALL, dnsEndpoint={})
    result = desired_gateway(gw, [route(namespace="team-a")], {})
    assert published(dns_endpoint_manifest(gw, result.listeners, [])) == {}


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        # a second TCPRoute on the tenant's own TCP listener, annotated with another's name:
        # the Gateway implementation attaches it (the listener admits the tenant's TCPRoutes)
        (tcp("team-b", "steal", "victim.example.com"), "HostnameConflict"),
        (
            route(namespace="team-b", hostnames=["victim.example.com"], created=NEW),
            "HostnameConflict",
        ),
        (tcp("team-b", "outside", "www.other.org"), "HostnameNotAllowed"),
    ],
)
def test_a_refused_name_is_never_published(attack: Any, reason: str) -> None:
    gw = wrapped(
        routes={**ALL, "hostnames": ["*.example.com"]},
        dnsEndpoint={},
    )
    victim = route(namespace="team-a", hostnames=["victim.example.com"], created=OLD)
    own_tcp = tcp("team-b", "db", "db.example.com", created=OLD)
    result = desired_gateway(gw, [victim, own_tcp, attack], {})
    assert {(r.name, r.reason) for r in result.refusals} == {(attack.name, reason)}
    names = published(dns_endpoint_manifest(gw, result.listeners, ["10.0.0.1"]))
    assert set(names) == {"victim.example.com", "db.example.com"}
    # the victim's name is published once, for its owner's listener
    assert names["victim.example.com"] == ("A", ["10.0.0.1"])


def test_spec_dns_endpoint_is_checked() -> None:
    with pytest.raises(InvalidWrappedGateway, match="recordTTL"):
        wrapped(routes=ALL, dnsEndpoint={"recordTTL": "a minute"})
    assert "dnsEndpoint" not in wrapped(routes=ALL, dnsEndpoint={}).gateway_spec


def test_tcp_names_past_the_listener_hostnames_annotation_are_not_published() -> None:
    """TooManyHostnames: the route still attaches (the Gateway implementation serves it), but
    the names the Gateway cannot show are reported, and the DNSEndpoint leaves them out too."""
    gw = wrapped(routes=ALL, dnsEndpoint={})
    label = "x" * 60
    routes = [
        tcp(
            "team-a",
            f"db{i}",
            ",".join(f"{label}.{label}.{label}.n{i}-{j}.example.com" for j in range(16)),
            created=OLD,
        )
        for i in range(12)
    ]
    result = desired_gateway(gw, routes, {})
    hidden = {r.hostname for r in result.refusals if r.reason == "TooManyHostnames"}
    assert hidden, "the annotation must overflow for this test"
    assert result.gateway is not None
    shown = json.loads(
        result.gateway["metadata"]["annotations"]["wrapped-gateway.dev/listener-hostnames"]
    )
    names = set(published(dns_endpoint_manifest(gw, result.listeners, ["10.0.0.1"])))
    assert names == {name for listener_names in shown.values() for name in listener_names}
    assert not names & hidden
