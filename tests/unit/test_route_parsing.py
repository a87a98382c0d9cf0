from datetime import UTC, datetime

import pytest

from tests.unit.builders import parent, route, route_obj
from wrapped_gateway.listeners.reach import route_targets
from wrapped_gateway.routes import (
    ParentKind,
    ParentRef,
    Protocol,
    RouteKind,
    TLSMode,
    parse_route,
    route_kind,
)


@pytest.mark.parametrize(
    ("kind", "version", "protocol"),
    [
        ("HTTPRoute", "v1", Protocol.HTTPS),
        ("HTTPRoute", "v1beta1", Protocol.HTTPS),
        ("GRPCRoute", "v1", Protocol.HTTPS),
        ("GRPCRoute", "v1alpha2", Protocol.HTTPS),  # Gateway API v1.0 and v1.1
        ("TLSRoute", "v1", Protocol.TLS),
        ("TLSRoute", "v1alpha3", Protocol.TLS),
        ("TLSRoute", "v1alpha2", Protocol.TLS),
        ("TCPRoute", "v1", Protocol.TCP),
        ("TCPRoute", "v1alpha2", Protocol.TCP),
        ("UDPRoute", "v1", Protocol.UDP),
        ("UDPRoute", "v1alpha2", Protocol.UDP),
    ],
)
def test_every_served_kind_and_version_is_read(kind: str, version: str, protocol: Protocol) -> None:
    parsed = parse_route(route_obj(kind, version=version, hostnames=["a.example.com"]))
    assert parsed.kind == RouteKind(kind)
    assert parsed.protocol is protocol
    assert parsed.parents == (ParentRef("infra", "gw"),)


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("gateway.networking.k8s.io/v1", "Gateway"),
        ("gateway.networking.k8s.io/v1alpha2", "HTTPRoute"),  # never served
        ("gateway.networking.k8s.io/v1alpha9", "TLSRoute"),
        ("example.com/v1", "HTTPRoute"),
        ("v1", "Service"),
    ],
)
def test_other_objects_are_not_routes(api_version: str, kind: str) -> None:
    assert route_kind(api_version, kind) is None
    with pytest.raises(ValueError, match="not a Gateway API route"):
        parse_route({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}})


def test_parent_namespace_defaults_to_the_routes_namespace() -> None:
    parsed = route(namespace="team-a", parents=[parent(namespace=None)])
    assert parsed.parents == (ParentRef("team-a", "gw"),)
    assert route_targets(parsed) == {(ParentKind.GATEWAY, "team-a", "gw")}


def test_a_parent_ref_written_twice_is_one_parent() -> None:
    # however its namespace is spelled: it is one attachment, claimed and refused once
    parsed = route(namespace="infra", parents=[parent(), parent(namespace=None), parent(port=80)])
    assert parsed.parents == (ParentRef("infra", "gw"), ParentRef("infra", "gw", port=80))


def test_parent_refs_to_other_kinds_and_groups_are_ignored() -> None:
    parsed = route(
        parents=[
            parent(kind="Service", group=""),
            parent(group="example.com", kind="Gateway"),
            parent(group="example.com", kind="ListenerSet"),
            parent(name="real", sectionName="web", port=8443),
        ]
    )
    assert parsed.parents == (ParentRef("infra", "real", "web", 8443),)


def test_a_parent_ref_to_a_listener_set_is_read_with_its_kind() -> None:
    parsed = route(namespace="team-a", parents=[parent(kind="ListenerSet", namespace=None)])
    assert parsed.parents == (ParentRef("team-a", "gw", kind=ParentKind.LISTENER_SET),)
    assert parsed.listener_set_refs("gw") == list(parsed.parents)
    # a ListenerSet is not the Gateway, and any namespace's may reach a WrappedGateway
    assert route_targets(parsed) == {(ParentKind.LISTENER_SET, "", "gw")}


@pytest.mark.parametrize(
    ("annotation", "ports"),
    [
        ("8443", (8443,)),
        ("8443,8444", (8443, 8444)),
        (" 8444 , 8443 ", (8443, 8444)),
        ("8443,8443", (8443,)),
        ("1,65535", (1, 65535)),
    ],
)
def test_ports_annotation_lists_ports(annotation: str, ports: tuple[int, ...]) -> None:
    parsed = route("TCPRoute", annotations={"wrapped-gateway.dev/ports": annotation})
    assert parsed.annotated_ports == ports
    assert parsed.defects == ()


@pytest.mark.parametrize(
    "annotation", ["", "http", "0", "65536", "8443;8444", "8443,", "-1", "1e3"]
)
def test_unusable_ports_annotation_is_a_defect(annotation: str) -> None:
    parsed = route("TCPRoute", annotations={"wrapped-gateway.dev/ports": annotation})
    assert [d.reason for d in parsed.defects] == ["InvalidPorts"]
    assert repr(annotation) in parsed.defects[0].message


@pytest.mark.parametrize("port", [0, 70000, "443", True])
def test_out_of_range_parent_port_is_a_defect(port: object) -> None:
    parsed = route(parents=[parent(port=port)])
    assert [d.reason for d in parsed.defects] == ["InvalidPorts"]


@pytest.mark.parametrize(
    "annotations",
    [
        {
            "gateway-route-sync.homelab-helper.benfiola.com/ports": "5432",
            "gateway-route-sync.homelab-helper.benfiola.com/hostname": "db.example.com",
        },
        # as its users annotate TCP routes: the one port, and the name for external-dns
        {
            "gateway-route-sync.homelab-helper.benfiola.com/port": "5432",
            "external-dns.alpha.kubernetes.io/hostname": "db.example.com",
        },
    ],
    ids=["ports-and-hostname", "port-and-external-dns"],
)
def test_gateway_route_sync_annotations_are_honoured(annotations: dict[str, str]) -> None:
    parsed = route("TCPRoute", annotations=annotations)
    assert parsed.annotated_ports == (5432,)
    assert parsed.hostnames == ("db.example.com",)
    assert parsed.defects == ()


def test_own_annotations_win_over_gateway_route_sync_and_external_dns_names_are_added() -> None:
    parsed = route(
        "UDPRoute",
        annotations={
            "wrapped-gateway.dev/ports": "53",
            "wrapped-gateway.dev/hostname": "dns.example.com",
            "gateway-route-sync.homelab-helper.benfiola.com/ports": "54",
            "gateway-route-sync.homelab-helper.benfiola.com/hostname": "old.example.com",
            "external-dns.alpha.kubernetes.io/hostname": "ext.example.com",
        },
    )
    assert parsed.annotated_ports == (53,)
    assert parsed.hostnames == ("dns.example.com", "ext.example.com")


def test_external_dns_hostname_annotation_names_a_tcp_route() -> None:
    parsed = route(
        "TCPRoute", annotations={"external-dns.alpha.kubernetes.io/hostname": "db.example.com"}
    )
    assert parsed.hostnames == ("db.example.com",)


def test_hostname_annotation_is_ignored_on_routes_with_hostnames() -> None:
    parsed = route(
        hostnames=["a.example.com", "a.example.com"],
        annotations={"wrapped-gateway.dev/hostname": "b.example.com"},
    )
    assert parsed.hostnames == ("a.example.com",)


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("Passthrough", TLSMode.PASSTHROUGH),
        ("passthrough", TLSMode.PASSTHROUGH),
        ("Terminate", TLSMode.TERMINATE),
    ],
)
def test_tls_mode_annotation_selects_the_mode_of_a_tls_route(value: str, mode: TLSMode) -> None:
    parsed = route("TLSRoute", annotations={"wrapped-gateway.dev/tls-mode": value})
    assert parsed.tls_mode is mode
    assert parsed.defects == ()


def test_tls_route_terminates_by_default() -> None:
    assert route("TLSRoute").tls_mode is TLSMode.TERMINATE


@pytest.mark.parametrize(
    ("kind", "value"), [("TLSRoute", "Reencrypt"), ("HTTPRoute", "Passthrough")]
)
def test_unusable_tls_mode_is_a_defect(kind: str, value: str) -> None:
    parsed = route(kind, annotations={"wrapped-gateway.dev/tls-mode": value})
    assert [d.reason for d in parsed.defects] == ["InvalidTLSMode"]


def test_creation_timestamp_is_read_as_utc() -> None:
    assert route(created="2026-03-04T05:06:07Z").created == datetime(
        2026, 3, 4, 5, 6, 7, tzinfo=UTC
    )
    assert route(created=None).created is None
    assert route(created="yesterday").created is None


def test_undated_routes_come_after_dated_ones_then_by_namespace_and_name() -> None:
    routes = [
        route(name="b", created=None),
        route(name="a", created=None),
        route(name="z", created="2026-01-02T00:00:00Z"),
        route(name="y", namespace="zz", created="2026-01-01T00:00:00Z"),
        route(name="x", namespace="aa", created="2026-01-01T00:00:00Z"),
    ]
    assert [r.name for r in sorted(routes, key=lambda r: r.precedence)] == ["x", "y", "z", "a", "b"]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("ports", 8443, "InvalidPorts"),
        ("ports", "²", "InvalidPorts"),
        ("ports", "٤٤٣", "InvalidPorts"),
        ("tls-mode", True, "InvalidTLSMode"),
        ("hostname", 5432, "InvalidHostname"),
        ("sectionName", 6443, "InvalidSectionName"),
        ("parentRef", "gw", "InvalidParentRef"),
        ("parentRefs", {"name": "gw"}, "InvalidParentRef"),
        ("hostnames", "a.example.com", "InvalidHostname"),
        ("hostnames", [1], "InvalidHostname"),
    ],
)
def test_fields_of_the_wrong_type_are_defects_not_exceptions(
    field: str, value: object, reason: str
) -> None:
    obj = route_obj("TCPRoute" if field == "hostname" else "HTTPRoute", hostnames=["a.example.com"])
    if field in ("ports", "tls-mode", "hostname"):
        obj["metadata"]["annotations"] = {f"wrapped-gateway.dev/{field}": value}
    elif field == "sectionName":
        obj["spec"]["parentRefs"][0]["sectionName"] = value
    elif field == "parentRef":
        obj["spec"]["parentRefs"].append(value)
    else:
        obj["spec"][field] = value
    assert reason in [d.reason for d in parse_route(obj).defects]
