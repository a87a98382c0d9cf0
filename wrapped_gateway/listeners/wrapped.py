"""The WrappedGateway: a Gateway spec without its generated listeners, plus the route policy."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wrapped_gateway.constants import MAX_LISTENERS, NOT_COPIED_ANNOTATION_PREFIXES
from wrapped_gateway.hostnames import hostname_problem
from wrapped_gateway.listeners.selectors import InvalidSelector, LabelSelector, parse_selector

LISTENER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_LISTENER_NAME_LENGTH = 253


class InvalidWrappedGateway(ValueError):
    """The WrappedGateway cannot be rendered; the message names the field and the problem."""


class NamespacesFrom(StrEnum):
    SAME = "Same"
    ALL = "All"
    SELECTOR = "Selector"


@dataclass(frozen=True, slots=True)
class StaticListener:
    """A listener written in the WrappedGateway: copied verbatim, it claims its name and key."""

    name: str
    port: int
    protocol: str
    hostname: str | None
    manifest: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WrappedGateway:
    namespace: str
    name: str
    uid: str | None
    generation: int | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    # Every Gateway spec field but listeners, copied verbatim.
    gateway_spec: Mapping[str, Any]
    static_listeners: tuple[StaticListener, ...]
    namespaces_from: NamespacesFrom
    namespace_selector: LabelSelector
    # None: every hostname is allowed.
    allowed_hostnames: tuple[str, ...] | None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def gateway_annotations(self) -> dict[str, str]:
        return {
            k: v
            for k, v in self.annotations.items()
            if not k.startswith(NOT_COPIED_ANNOTATION_PREFIXES)
        }


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
    return WrappedGateway(
        namespace=str(metadata.get("namespace") or "default"),
        name=name,
        uid=metadata.get("uid"),
        generation=metadata.get("generation"),
        labels=_string_map(metadata.get("labels"), "metadata.labels"),
        annotations=_string_map(metadata.get("annotations"), "metadata.annotations"),
        gateway_spec={k: v for k, v in spec.items() if k not in ("routes", "listeners")},
        static_listeners=_static_listeners(spec.get("listeners")),
        namespaces_from=_namespaces_from(namespaces.get("from")),
        namespace_selector=_namespace_selector(namespaces),
        allowed_hostnames=_allowed_hostnames(routes.get("hostnames")),
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidWrappedGateway(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _string_map(value: Any, where: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value, where).items()}


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
        problem = hostname_problem(pattern) if isinstance(pattern, str) else "not a string"
        if problem:
            raise InvalidWrappedGateway(f"spec.routes.hostnames[{index}]: {problem}")
    return tuple(value)


def _static_listeners(value: Any) -> tuple[StaticListener, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidWrappedGateway("spec.listeners must be a list of Gateway listeners")
    if len(value) > MAX_LISTENERS:
        raise InvalidWrappedGateway(
            f"spec.listeners has {len(value)} listeners; a Gateway allows {MAX_LISTENERS}"
        )
    listeners: list[StaticListener] = []
    names: set[str] = set()
    keys: set[tuple[int, str, str | None]] = set()
    for index, raw in enumerate(value):
        listener = _static_listener(index, raw)
        key = (listener.port, listener.protocol, listener.hostname)
        if listener.name in names:
            raise InvalidWrappedGateway(
                f"spec.listeners[{index}]: the name {listener.name!r} is used twice"
            )
        if key in keys:
            raise InvalidWrappedGateway(
                f"spec.listeners[{index}]: another listener already has port {key[0]}, "
                f"protocol {key[1]} and hostname {key[2] or '(none)'}"
            )
        names.add(listener.name)
        keys.add(key)
        listeners.append(listener)
    return tuple(listeners)


def _static_listener(index: int, raw: Any) -> StaticListener:
    where = f"spec.listeners[{index}]"
    listener = _mapping(raw, where)
    name, port, protocol = listener.get("name"), listener.get("port"), listener.get("protocol")
    if not isinstance(name, str) or not is_listener_name(name):
        raise InvalidWrappedGateway(f"{where}.name {name!r} is not a valid listener name")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidWrappedGateway(f"{where}.port {port!r} is not a port (1-65535)")
    if not isinstance(protocol, str) or not protocol:
        raise InvalidWrappedGateway(f"{where}.protocol is required")
    hostname = listener.get("hostname")
    if hostname is not None:
        problem = hostname_problem(hostname) if isinstance(hostname, str) else "not a string"
        if problem:
            raise InvalidWrappedGateway(f"{where}.hostname: {problem}")
    return StaticListener(name, port, protocol, hostname, listener)


def is_listener_name(name: str) -> bool:
    return len(name) <= MAX_LISTENER_NAME_LENGTH and bool(LISTENER_NAME.match(name))
