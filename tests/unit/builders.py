"""Small builders for the objects the core reads, so each test states only what matters to it."""

from typing import Any, TypedDict, Unpack

from wrapped_gateway.listeners import Refusal
from wrapped_gateway.routes import Route, RouteKind, parse_route
from wrapped_gateway.wrapped import WrappedGateway, parse_wrapped_gateway

GROUP = "gateway.networking.k8s.io"
VERSION_OF = {
    "HTTPRoute": "v1",
    "GRPCRoute": "v1",
    "TLSRoute": "v1",
    "TCPRoute": "v1",
    "UDPRoute": "v1",
}


def wrapped_obj(
    name: str = "gw",
    namespace: str = "infra",
    spec: dict[str, Any] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {"name": name, "namespace": namespace, **metadata},
        "spec": {"gatewayClassName": "example", **(spec or {})},
    }


def wrapped(
    name: str = "gw",
    namespace: str = "infra",
    *,
    routes: dict[str, Any] | None = None,
    listeners: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> WrappedGateway:
    body = dict(spec)
    if routes is not None:
        body["routes"] = routes
    if listeners is not None:
        body["listeners"] = listeners
    return parse_wrapped_gateway(wrapped_obj(name, namespace, body))


def parent(name: str = "gw", namespace: str | None = "infra", **extra: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": name, **extra}
    if namespace is not None:
        ref["namespace"] = namespace
    return ref


class RouteFields(TypedDict, total=False):
    """The optional parts of a route object; each is left out, or defaulted, when absent."""

    hostnames: list[str]
    parents: list[dict[str, Any]]  # default: one parentRef to infra/gw
    annotations: dict[str, str]
    labels: dict[str, str]
    created: str | None  # creationTimestamp; default 2026-01-01T00:00:00Z, None leaves it out
    version: str  # default: the kind's version in VERSION_OF


def route_obj(
    kind: str = "HTTPRoute",
    name: str = "r",
    namespace: str = "infra",
    **fields: Unpack[RouteFields],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if fields.get("annotations"):
        metadata["annotations"] = fields["annotations"]
    if fields.get("labels"):
        metadata["labels"] = fields["labels"]
    created = fields.get("created", "2026-01-01T00:00:00Z")
    if created:
        metadata["creationTimestamp"] = created
    parents = fields.get("parents")
    spec: dict[str, Any] = {"parentRefs": parents if parents is not None else [parent()]}
    hostnames = fields.get("hostnames")
    if hostnames is not None:
        spec["hostnames"] = hostnames
    return {
        "apiVersion": f"{GROUP}/{fields.get('version') or VERSION_OF[kind]}",
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    }


def route(kind: str = "HTTPRoute", name: str = "r", namespace: str = "infra", **kw: Any) -> Route:
    if kind in ("HTTPRoute", "GRPCRoute", "TLSRoute") and "hostnames" not in kw:
        kw["hostnames"] = ["app.example.com"]
    return parse_route(route_obj(kind, name, namespace, **kw))


def listeners_of(gateway: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    assert gateway is not None
    return {listener["name"]: listener for listener in gateway["spec"]["listeners"]}


def refusal(message: str = "m") -> Refusal:
    """A HostnameConflict of HTTPRoute team/web on a.example.com, port 443."""
    return Refusal(RouteKind.HTTP, "team", "web", "HostnameConflict", message, "a.example.com", 443)
