"""Reading a WrappedGateway object into its model, refusing what the controller cannot render."""

import re
from collections.abc import Mapping
from typing import Any

from wrapped_gateway.constants import (
    MAX_COPIED_ANNOTATIONS_SIZE,
    MAX_LISTENER_HOSTNAMES_SIZE,
    MAX_LISTENERS,
    NAMESPACE_PLACEHOLDER,
    NOT_COPIED_ANNOTATION_PREFIXES,
)
from wrapped_gateway.hostnames import ALLOWED_HOSTNAME_PATTERN, hostname_problem
from wrapped_gateway.routes import Protocol
from wrapped_gateway.wrapped.model import (
    DEFAULT_HTTP_PORT,
    DnsEndpointPolicy,
    NamespacesFrom,
    Output,
    PortRange,
    WrappedGateway,
)
from wrapped_gateway.wrapped.selectors import InvalidSelector, LabelSelector, parse_selector
from wrapped_gateway.wrapped.static import (
    InvalidStaticListener,
    StaticListener,
    parse_static_listeners,
)

# spec.routes.ports governs these; plain HTTP has one port of its own (spec.routes.httpPort).
_GENERATED_PROTOCOLS = tuple(p.value for p in Protocol if p is not Protocol.HTTP)
_PORT = re.compile(r"[0-9]{1,5}")


class InvalidWrappedGateway(ValueError):
    """The WrappedGateway cannot be rendered; the message names the field and the problem."""


# WrappedGateway fields that are the controller's policy, not the Gateway's.
_NOT_GATEWAY_FIELDS = frozenset({"routes", "listeners", "output", "dnsEndpoint"})


def parse_wrapped_gateway(obj: Mapping[str, Any]) -> WrappedGateway:
    """The WrappedGateway model of an object; raises InvalidWrappedGateway when malformed."""
    metadata = _mapping(obj.get("metadata"), "metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidWrappedGateway("metadata.name is required")
    spec = _mapping(obj.get("spec"), "spec")
    if not spec.get("gatewayClassName"):
        raise InvalidWrappedGateway("spec.gatewayClassName is required")
    routes = _mapping(spec.get("routes"), "spec.routes")
    namespaces = _mapping(routes.get("namespaces"), "spec.routes.namespaces")
    output = _output(spec)
    static_listeners = _static_listeners(spec.get("listeners"))
    if output is Output.LISTENER_SETS and not static_listeners:
        raise InvalidWrappedGateway(
            "spec.output ListenerSets needs at least one static listener in spec.listeners: the "
            "generated listeners go into ListenerSets, and a Gateway must have a listener"
        )
    return WrappedGateway(
        namespace=str(metadata.get("namespace") or "default"),
        name=name,
        uid=metadata.get("uid"),
        generation=metadata.get("generation"),
        labels=_string_map(metadata.get("labels"), "metadata.labels"),
        annotations=_copyable_annotations(metadata.get("annotations")),
        gateway_spec={k: v for k, v in spec.items() if k not in _NOT_GATEWAY_FIELDS},
        static_listeners=static_listeners,
        namespaces_from=_namespaces_from(namespaces.get("from")),
        namespace_selector=_namespace_selector(namespaces),
        allowed_hostnames=_allowed_hostnames(routes.get("hostnames")),
        output=output,
        listeners_per_namespace=_listeners_per_namespace(routes.get("listenersPerNamespace")),
        allowed_ports=_allowed_ports(routes.get("ports")),
        http_port=_http_port(routes.get("httpPort")),
        dns_endpoint=_dns_endpoint(spec.get("dnsEndpoint")),
    )


def _output(spec: Mapping[str, Any]) -> Output:
    value = spec.get("output") or Output.GATEWAY
    try:
        output = Output(value)
    except ValueError:
        choices = ", ".join(m.value for m in Output)
        raise InvalidWrappedGateway(
            f"spec.output is {value!r}; expected one of {choices}"
        ) from None
    if output is Output.LISTENER_SETS and "allowedListeners" in spec:
        raise InvalidWrappedGateway(
            "spec.allowedListeners is written by the controller when spec.output is ListenerSets "
            "(it admits exactly the namespaces holding generated ListenerSets); remove it"
        )
    return output


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidWrappedGateway(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _string_map(value: Any, where: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value, where).items()}


def _copyable_annotations(value: Any) -> dict[str, str]:
    """The annotations, refused when those copied to the Gateway leave its annotations no room
    for the listener hostnames: every apply would fail."""
    annotations = _string_map(value, "metadata.annotations")
    size = sum(
        len(k.encode()) + len(v.encode())
        for k, v in annotations.items()
        if not k.startswith(NOT_COPIED_ANNOTATION_PREFIXES)
    )
    if size > MAX_COPIED_ANNOTATIONS_SIZE:
        raise InvalidWrappedGateway(
            f"metadata.annotations copied to the Gateway take {size:,} bytes; at most "
            f"{MAX_COPIED_ANNOTATIONS_SIZE:,}, so that with the listener hostnames "
            f"({MAX_LISTENER_HOSTNAMES_SIZE:,}) they stay under the API server's 256 KiB"
        )
    return annotations


def _namespaces_from(value: Any) -> NamespacesFrom:
    try:
        return NamespacesFrom(value or NamespacesFrom.SAME)
    except ValueError:
        choices = ", ".join(m.value for m in NamespacesFrom)
        raise InvalidWrappedGateway(
            f"spec.routes.namespaces.from is {value!r}; expected one of {choices}"
        ) from None


def _namespace_selector(namespaces: Mapping[str, Any]) -> LabelSelector:
    try:
        selector = parse_selector(namespaces.get("selector"))
    except InvalidSelector as error:
        raise InvalidWrappedGateway(f"spec.routes.namespaces.selector: {error}") from None
    if namespaces.get("from") == NamespacesFrom.SELECTOR and "selector" not in namespaces:
        raise InvalidWrappedGateway("spec.routes.namespaces.from is Selector but has no selector")
    return selector


def _allowed_hostnames(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidWrappedGateway("spec.routes.hostnames must be a list of hostname patterns")
    for index, pattern in enumerate(value):
        problem = _pattern_problem(pattern) if isinstance(pattern, str) else "not a string"
        if problem:
            raise InvalidWrappedGateway(f"spec.routes.hostnames[{index}]: {problem}")
    return tuple(value)


def _allowed_ports(value: Any) -> dict[str, tuple[PortRange, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidWrappedGateway("spec.routes.ports must map protocols to lists of ports")
    allowed = {}
    for protocol, ports in value.items():
        where = f"spec.routes.ports.{protocol}"
        if protocol not in _GENERATED_PROTOCOLS:
            raise InvalidWrappedGateway(
                f"{where}: generated listeners are {', '.join(_GENERATED_PROTOCOLS)}"
            )
        if not isinstance(ports, list):
            raise InvalidWrappedGateway(f"{where} must be a list of ports and ranges")
        allowed[protocol] = tuple(
            _port_range(item, f"{where}[{i}]") for i, item in enumerate(ports)
        )
    return allowed


def _port_range(item: Any, where: str) -> PortRange:
    """A port (443) or an inclusive range ("5000-5999")."""
    text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
    bounds = text.split("-") if isinstance(text, str) else []
    if len(bounds) == 1:
        bounds *= 2
    if len(bounds) == 2 and all(_PORT.fullmatch(b) for b in bounds):
        first, last = int(bounds[0]), int(bounds[1])
        if 1 <= first <= last <= 65535:
            return PortRange(first, last)
    raise InvalidWrappedGateway(
        f"{where}: {item!r} is not a port (1-65535) or a range of them such as '5000-5999'"
    )


def _http_port(value: Any) -> int:
    if value is None:
        return DEFAULT_HTTP_PORT
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InvalidWrappedGateway(f"spec.routes.httpPort must be a port (1-65535), not {value!r}")
    return value


def _dns_endpoint(value: Any) -> DnsEndpointPolicy | None:
    if value is None:
        return None
    fields = _mapping(value, "spec.dnsEndpoint")
    ttl = fields.get("recordTTL")
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0):
        raise InvalidWrappedGateway(
            f"spec.dnsEndpoint.recordTTL must be a number of seconds, not {ttl!r}"
        )
    return DnsEndpointPolicy(
        record_ttl=ttl, labels=_string_map(fields.get("labels"), "spec.dnsEndpoint.labels")
    )


def _listeners_per_namespace(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LISTENERS:
        raise InvalidWrappedGateway(
            f"spec.routes.listenersPerNamespace must be a number from 1 to {MAX_LISTENERS}, "
            f"not {value!r}"
        )
    return value


def _pattern_problem(pattern: str) -> str | None:
    """Why an allowed hostname pattern is not one: a hostname, where whole labels may be
    `{namespace}` (checked with a namespace in their place)."""
    if "{" in pattern and not ALLOWED_HOSTNAME_PATTERN.fullmatch(pattern):
        return (
            f"{pattern!r}: {NAMESPACE_PLACEHOLDER} must be a whole label, as in "
            f"'*.{NAMESPACE_PLACEHOLDER}.example.com'"
        )
    return hostname_problem(pattern.replace(NAMESPACE_PLACEHOLDER, "ns"))


def _static_listeners(value: Any) -> tuple[StaticListener, ...]:
    try:
        return parse_static_listeners(value)
    except InvalidStaticListener as error:
        raise InvalidWrappedGateway(str(error)) from None
