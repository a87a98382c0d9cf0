from datetime import UTC, datetime

from tests.unit.builders import route
from wrapped_gateway.controller.events import EventLedger, refusal_event
from wrapped_gateway.listeners import Refusal
from wrapped_gateway.routes import RouteKind

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def refusal(message: str = "m") -> Refusal:
    return Refusal(RouteKind.HTTP, "team", "web", "HostnameConflict", message, "a.example.com", 443)


def test_a_refusal_is_unreported_until_it_is_marked_reported() -> None:
    ledger = EventLedger()
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]
    assert ledger.unreported("infra/gw", [refusal()]) == [refusal()]  # asking marks nothing
    ledger.reported("infra/gw", refusal())
    assert ledger.unreported("infra/gw", [refusal()]) == []
    assert ledger.unreported("infra/other", [refusal()]) == [refusal()]
    assert ledger.unreported("infra/gw", [refusal("changed")]) == [refusal("changed")]


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
