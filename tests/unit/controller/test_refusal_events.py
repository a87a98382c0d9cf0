"""The Warning Event of a refused route, and its name: the same for the same refusal."""

import dataclasses
import re
from datetime import UTC, datetime

from tests.unit.builders import refusal, route, route_obj
from wrapped_gateway.controller.refusal_events.event import refusal_event
from wrapped_gateway.listeners import Refusal
from wrapped_gateway.routes import Route, parse_route

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_event_is_a_warning_on_the_route() -> None:
    web = route(name="web", namespace="team")
    event = refusal_event(refusal(), web, "infra/gw", NOW)
    assert event["type"] == "Warning"
    assert event["reason"] == "HostnameConflict"
    assert event["metadata"]["namespace"] == "team"
    assert event["involvedObject"] == {
        "kind": "HTTPRoute",
        "namespace": "team",
        "name": "web",
        "apiVersion": "gateway.networking.k8s.io/v1",
    }
    assert event["message"] == "WrappedGateway infra/gw: m"
    assert event["reportingComponent"] == "wrapped-gateway"


def with_uid(uid: str) -> Route:
    obj = route_obj(name="web", namespace="team")
    obj["metadata"]["uid"] = uid
    return parse_route(obj)


def name_of(refusal: Refusal, route: Route | None = None, gateway: str = "infra/gw") -> str:
    return str(refusal_event(refusal, route, gateway, NOW)["metadata"]["name"])


def test_the_same_refusal_gets_the_same_event_name_whenever_it_is_posted() -> None:
    later = datetime(2027, 6, 1, tzinfo=UTC)
    first = refusal_event(refusal(), with_uid("u1"), "infra/gw", NOW)
    again = refusal_event(refusal(), with_uid("u1"), "infra/gw", later)
    assert first["metadata"]["name"] == again["metadata"]["name"]
    assert first["metadata"]["name"].startswith("web.")
    assert "generateName" not in first["metadata"]


def test_event_names_differ_by_route_uid_reason_hostname_port_message_and_gateway() -> None:
    base = refusal()
    names = {
        name_of(base, with_uid("u1")),
        name_of(base, with_uid("u2")),  # the route deleted and created again
        name_of(base),  # no uid known
        name_of(dataclasses.replace(base, reason="PortConflict"), with_uid("u1")),
        name_of(dataclasses.replace(base, hostname="b.example.com"), with_uid("u1")),
        name_of(dataclasses.replace(base, port=8443), with_uid("u1")),
        name_of(dataclasses.replace(base, more_ports=(8443,)), with_uid("u1")),
        name_of(refusal("another message"), with_uid("u1")),
        name_of(base, with_uid("u1"), gateway="infra/other"),
    }
    assert len(names) == 9


def test_the_event_name_of_a_route_with_the_longest_name_is_a_dns_subdomain() -> None:
    long_name = ("a" * 62 + ".") * 3 + "b" * 60  # 249 characters
    name = name_of(dataclasses.replace(refusal(), name=long_name))
    assert len(name) <= 253
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name)
