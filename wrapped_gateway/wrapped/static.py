"""Static listeners: the ones a platform team writes in a WrappedGateway, copied verbatim.

They are checked here against the rules the Gateway CRD enforces (its schema and CEL), so a
mistake is reported as an invalid WrappedGateway naming the field, instead of an apply the API
server rejects on every reconcile.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from wrapped_gateway.constants import MAX_LISTENERS
from wrapped_gateway.hostnames import hostname_problem

LISTENER_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
MAX_LISTENER_NAME_LENGTH = 253
# A core protocol name, or a domain-prefixed implementation-specific one.
_PROTOCOL = re.compile(
    r"[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?"
    r"|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]+"
)
_MAX_PROTOCOL_LENGTH = 255
_NO_TLS_PROTOCOLS = frozenset({"HTTP", "TCP", "UDP"})
_NO_HOSTNAME_PROTOCOLS = frozenset({"TCP", "UDP"})
_TLS_MODES = ("Terminate", "Passthrough")
_NAMESPACES_FROM = ("All", "Same", "Selector")
_MAX_CERTIFICATE_REFS = 64
_MAX_ROUTE_KINDS = 8
_MAX_TLS_OPTIONS = 16
_MAX_TLS_OPTION_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class _Field:
    """A string field of a reference, as the Gateway CRD's schema has it."""

    what: str  # for the message: "a Kubernetes kind"
    max_length: int
    pattern: re.Pattern[str] | None = None
    min_length: int = 1
    required: bool = False


_GROUP = _Field("an API group", 253, re.compile(r"|" + LISTENER_NAME.pattern), min_length=0)
_KIND = _Field("a Kubernetes kind", 63, re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?"))
_CERTIFICATE_REF_FIELDS = {
    "group": _GROUP,
    "kind": _KIND,
    "name": _Field("a name", 253, required=True),
    "namespace": _Field("a namespace", 63, re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")),
}
_ROUTE_KIND_FIELDS = {"group": _GROUP, "kind": replace(_KIND, required=True)}


class InvalidStaticListener(ValueError):
    """A static listener the API server would refuse; the message names the field."""


@dataclass(frozen=True, slots=True)
class StaticListener:
    """A listener written in the WrappedGateway: copied verbatim, it claims its name and key."""

    name: str
    port: int
    protocol: str
    hostname: str | None
    manifest: Mapping[str, Any]


# Protocols whose listeners match requests by hostname: without one, they match every name.
_NAMED_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TLS"})


def shared_catch_all_listeners(listeners: Iterable[StaticListener]) -> tuple[str, ...]:
    """What is wrong with each static listener that has no hostname yet admits other namespaces.

    Such a listener matches every name, so any namespace it admits can serve every other
    tenant's names on it, whoever owns them, and the controller cannot stop it: the Gateway
    implementation attaches routes to it as its allowedRoutes say. What else is at stake depends
    on the protocol (`_at_stake`).
    """
    warnings = []
    for listener in listeners:
        namespaces = (listener.manifest.get("allowedRoutes") or {}).get("namespaces") or {}
        source = namespaces.get("from", "Same")
        if listener.protocol in _NAMED_PROTOCOLS and listener.hostname is None and source != "Same":
            warnings.append(
                f"static listener {listener.name!r} ({listener.port}/{listener.protocol}) has no "
                f"hostname and admits routes from {source} namespaces: any of them can serve "
                + _at_stake(listener)
            )
    return tuple(warnings)


def _at_stake(listener: StaticListener) -> str:
    """What the namespaces a hostname-less listener admits can do with other tenants' names.

    ACME validates HTTP-01 over plain HTTP (port 80) and TLS-ALPN-01 over TLS on port 443 with
    the name's own certificate, which only a Passthrough listener leaves to the route's backend;
    a Terminating listener serves its own certificate, and another port serves no challenge.
    """
    if listener.protocol == "HTTP":
        return (
            "every name on it, other tenants' included, and answer their ACME HTTP-01 "
            "challenges; give it a hostname or allowedRoutes.namespaces.from Same (the "
            "controller generates a plain-HTTP listener per hostname for its owner)"
        )
    mode = (listener.manifest.get("tls") or {}).get("mode", "Terminate")
    alpn = (
        ", and answer their ACME TLS-ALPN-01 challenges"
        if listener.protocol == "TLS" and mode == "Passthrough" and listener.port == 443
        else ""
    )
    return (
        f"every name on port {listener.port}, other tenants' included{alpn}; give it a hostname "
        "or allowedRoutes.namespaces.from Same, or admit only namespaces whose routes the "
        "platform team writes"
    )


def is_listener_name(name: str) -> bool:
    return len(name) <= MAX_LISTENER_NAME_LENGTH and bool(LISTENER_NAME.fullmatch(name))


def parse_static_listeners(value: Any) -> tuple[StaticListener, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidStaticListener("spec.listeners must be a list of Gateway listeners")
    if len(value) > MAX_LISTENERS:
        raise InvalidStaticListener(
            f"spec.listeners has {len(value)} listeners; a Gateway allows {MAX_LISTENERS}"
        )
    listeners: list[StaticListener] = []
    names: set[str] = set()
    keys: set[tuple[int, str, str | None]] = set()
    for index, raw in enumerate(value):
        listener = _static_listener(f"spec.listeners[{index}]", raw)
        key = (listener.port, listener.protocol, listener.hostname)
        if listener.name in names:
            raise InvalidStaticListener(
                f"spec.listeners[{index}]: the name {listener.name!r} is used twice"
            )
        if key in keys:
            raise InvalidStaticListener(
                f"spec.listeners[{index}]: another listener already has port {key[0]}, "
                f"protocol {key[1]} and hostname {key[2] or '(none)'}"
            )
        names.add(listener.name)
        keys.add(key)
        listeners.append(listener)
    return tuple(listeners)


def _static_listener(where: str, raw: Any) -> StaticListener:
    if not isinstance(raw, Mapping):
        raise InvalidStaticListener(f"{where} must be a mapping, not {type(raw).__name__}")
    name, port, protocol = raw.get("name"), raw.get("port"), raw.get("protocol")
    if not isinstance(name, str) or not is_listener_name(name):
        raise InvalidStaticListener(f"{where}.name {name!r} is not a valid listener name")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidStaticListener(f"{where}.port {port!r} is not a port (1-65535)")
    if not isinstance(protocol, str) or not protocol:
        raise InvalidStaticListener(f"{where}.protocol is required")
    if len(protocol) > _MAX_PROTOCOL_LENGTH or not _PROTOCOL.fullmatch(protocol):
        raise InvalidStaticListener(f"{where}.protocol {protocol!r} is not a protocol name")
    hostname = _hostname(where, protocol, raw.get("hostname"))
    _check_tls(where, protocol, raw.get("tls"))
    _check_allowed_routes(where, raw.get("allowedRoutes"))
    return StaticListener(name, port, protocol, hostname, raw)


def _hostname(where: str, protocol: str, hostname: Any) -> str | None:
    if hostname is None:
        return None
    problem = hostname_problem(hostname) if isinstance(hostname, str) else "not a string"
    if problem:
        raise InvalidStaticListener(f"{where}.hostname: {problem}")
    if protocol in _NO_HOSTNAME_PROTOCOLS:
        raise InvalidStaticListener(
            f"{where}.hostname must not be set for protocol {protocol} (Gateway API rule)"
        )
    return str(hostname)


def _check_tls(where: str, protocol: str, tls: Any) -> None:
    if tls is None:
        if protocol == "TLS":
            raise InvalidStaticListener(f"{where}.tls with a mode is required for protocol TLS")
        return
    if protocol in _NO_TLS_PROTOCOLS:
        raise InvalidStaticListener(f"{where}.tls must not be set for protocol {protocol}")
    if not isinstance(tls, Mapping):
        raise InvalidStaticListener(f"{where}.tls must be a mapping")
    mode = tls.get("mode", "Terminate")  # the CRD's default
    if mode not in _TLS_MODES:
        raise InvalidStaticListener(
            f"{where}.tls.mode {mode!r} is not one of {', '.join(_TLS_MODES)}"
        )
    if protocol == "HTTPS" and mode != "Terminate":
        raise InvalidStaticListener(f"{where}.tls.mode must be Terminate for protocol HTTPS")
    refs = tls.get("certificateRefs") or []
    if not isinstance(refs, list) or not all(isinstance(r, Mapping) for r in refs):
        raise InvalidStaticListener(f"{where}.tls.certificateRefs must be a list of references")
    if len(refs) > _MAX_CERTIFICATE_REFS:
        raise InvalidStaticListener(
            f"{where}.tls.certificateRefs has {len(refs)} items; at most {_MAX_CERTIFICATE_REFS}"
        )
    for index, ref in enumerate(refs):
        _check_fields(f"{where}.tls.certificateRefs[{index}]", ref, _CERTIFICATE_REF_FIELDS)
    _check_options(f"{where}.tls.options", tls.get("options"))
    if mode == "Terminate" and not refs and not tls.get("options"):
        raise InvalidStaticListener(
            f"{where}.tls: certificateRefs or options must be specified when mode is Terminate"
        )


def _check_allowed_routes(where: str, allowed: Any) -> None:
    if allowed is None:
        return
    if not isinstance(allowed, Mapping):
        raise InvalidStaticListener(f"{where}.allowedRoutes must be a mapping")
    namespaces = allowed.get("namespaces") or {}
    if not isinstance(namespaces, Mapping):
        raise InvalidStaticListener(f"{where}.allowedRoutes.namespaces must be a mapping")
    source = namespaces.get("from", "Same")
    if source not in _NAMESPACES_FROM:
        raise InvalidStaticListener(
            f"{where}.allowedRoutes.namespaces.from {source!r} is not one of "
            f"{', '.join(_NAMESPACES_FROM)}"
        )
    kinds = allowed.get("kinds") or []
    if not isinstance(kinds, list) or len(kinds) > _MAX_ROUTE_KINDS:
        raise InvalidStaticListener(
            f"{where}.allowedRoutes.kinds must be a list of at most {_MAX_ROUTE_KINDS} kinds"
        )
    for index, kind in enumerate(kinds):
        _check_fields(f"{where}.allowedRoutes.kinds[{index}]", kind, _ROUTE_KIND_FIELDS)


def _check_fields(where: str, value: Any, fields: Mapping[str, _Field]) -> None:
    """`value` holds its required fields, and each field present is a string of the form the
    Gateway CRD's schema demands."""
    if not isinstance(value, Mapping):
        raise InvalidStaticListener(f"{where} must be a mapping")
    for name, field in fields.items():
        text = value.get(name)
        if text is None:
            if field.required:
                raise InvalidStaticListener(f"{where}.{name} is required")
            continue
        if (
            not isinstance(text, str)
            or not field.min_length <= len(text) <= field.max_length
            or (field.pattern is not None and not field.pattern.fullmatch(text))
        ):
            raise InvalidStaticListener(f"{where}.{name} {text!r} is not {field.what}")


def _check_options(where: str, options: Any) -> None:
    if options is None:
        return
    if not isinstance(options, Mapping) or len(options) > _MAX_TLS_OPTIONS:
        raise InvalidStaticListener(f"{where} must be a mapping of at most {_MAX_TLS_OPTIONS}")
    for key, value in options.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidStaticListener(f"{where}: {key!r} must map a string to a string")
        if len(value) > _MAX_TLS_OPTION_LENGTH:
            raise InvalidStaticListener(
                f"{where}.{key} is longer than {_MAX_TLS_OPTION_LENGTH} characters"
            )
