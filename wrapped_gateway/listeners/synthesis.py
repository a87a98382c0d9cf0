"""desired_gateway: the pure function from a WrappedGateway and its routes to a Gateway."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from itertools import islice, product
from typing import Any

from wrapped_gateway.constants import (
    DEFAULT_TLS_PORT,
    GATEWAY_API_VERSION,
    GATEWAY_GROUP,
    GATEWAY_KIND,
    LISTENER_HOSTNAMES_ANNOTATION,
    MAX_LISTENERS,
    NAMESPACE_NAME_LABEL,
    WRAPPED_API_VERSION,
    WRAPPED_KIND,
    Reason,
)
from wrapped_gateway.hostnames import hostname_problem
from wrapped_gateway.listeners.book import ListenerBook
from wrapped_gateway.listeners.model import (
    DesiredGateway,
    GeneratedListener,
    ListenerKey,
    Refusal,
)
from wrapped_gateway.listeners.naming import secret_name
from wrapped_gateway.listeners.policy import hostname_allowed, namespace_allowed
from wrapped_gateway.listeners.static import is_listener_name
from wrapped_gateway.listeners.wrapped import NamespacesFrom, WrappedGateway
from wrapped_gateway.routes import GatewayRef, Protocol, Route, TLSMode
from wrapped_gateway.routes.model import HOSTNAMED_KINDS

NamespaceLabels = Mapping[str, Mapping[str, str]]
_PORTS_SHOWN = 5  # a refusal names this many ports and counts the rest


def desired_gateway(
    wrapped: WrappedGateway,
    routes: Iterable[Route],
    namespace_labels: NamespaceLabels,
) -> DesiredGateway:
    """The Gateway `wrapped` should produce from `routes`, and every refusal on the way.

    Routes not targeting `wrapped` are ignored; the others claim listeners oldest first, so
    the result does not depend on the order of `routes`.
    """
    book = ListenerBook(wrapped.static_listeners, wrapped.namespace)
    refusals: list[Refusal] = []
    targeting = sorted(
        (r for r in routes if r.targets(wrapped.namespace, wrapped.name)),
        key=lambda r: (*r.precedence, r.kind),
    )
    for route in targeting:
        refusals.extend(_claim_route(wrapped, route, namespace_labels, book))
    listeners = tuple(book.generated)
    return DesiredGateway(
        namespace=wrapped.namespace,
        name=wrapped.name,
        gateway=_gateway_manifest(wrapped, listeners),
        listeners=listeners,
        refusals=tuple(sorted(set(refusals), key=lambda r: r.sort_key)),
    )


def _claim_route(
    wrapped: WrappedGateway,
    route: Route,
    namespace_labels: NamespaceLabels,
    book: ListenerBook,
) -> list[Refusal]:
    if route.acme_solver:
        return []  # served by the HTTP listener the platform provides for ACME challenges
    if route.defects:
        return [Refusal.of(route, d.reason, d.message) for d in route.defects]
    # A ref naming a static listener attaches to it: that listener's own allowedRoutes decide,
    # and the route needs no hostname or port from us.
    generating = [
        parent
        for parent in route.parents
        if parent.namespace == wrapped.namespace
        and parent.name == wrapped.name
        and parent.section_name not in book.static_names
    ]
    if not generating:
        return []
    if not namespace_allowed(wrapped, route.namespace, namespace_labels):
        return [
            Refusal.of(
                route,
                Reason.NOT_ALLOWED_NAMESPACE,
                f"WrappedGateway {wrapped.key} accepts routes from "
                f"{_namespace_policy(wrapped)}, not from namespace {route.namespace!r}",
            )
        ]
    hostnames, refusals = _usable_hostnames(wrapped, route)
    if hostnames is None:
        return refusals
    for parent in generating:
        refusals.extend(_claim_parent(route, parent, hostnames, book))
    return _one_per_reason_and_hostname(refusals)


def _usable_hostnames(
    wrapped: WrappedGateway, route: Route
) -> tuple[tuple[str | None, ...] | None, list[Refusal]]:
    """The listener hostnames a route may claim (None: the route is refused outright)."""
    refusals: list[Refusal] = []
    usable: list[str] = []
    for hostname in route.hostnames:
        problem = hostname_problem(hostname)
        if problem:
            refusals.append(Refusal.of(route, Reason.INVALID_HOSTNAME, problem, hostname))
        elif not hostname_allowed(wrapped, hostname):
            refusals.append(
                Refusal.of(
                    route,
                    Reason.HOSTNAME_NOT_ALLOWED,
                    f"{hostname} is outside the hostnames WrappedGateway {wrapped.key} allows "
                    f"({', '.join(wrapped.allowed_hostnames or ())})",
                    hostname,
                )
            )
        else:
            usable.append(hostname)
    if route.kind not in HOSTNAMED_KINDS:
        # A TCP/UDP route's hostname only labels its listener; a refused one refuses the route.
        return (None if refusals else (None,)), refusals
    if not route.hostnames:
        refusals.append(
            Refusal.of(
                route,
                Reason.NO_HOSTNAMES,
                "the route has no spec.hostnames; a generated listener needs a hostname",
            )
        )
    return (tuple(usable) if usable else None), refusals


def _claim_parent(
    route: Route,
    parent: GatewayRef,
    hostnames: tuple[str | None, ...],
    book: ListenerBook,
) -> list[Refusal]:
    section = parent.section_name
    if section is not None and not is_listener_name(section):
        return [
            Refusal.of(
                route,
                Reason.INVALID_SECTION_NAME,
                f"sectionName {section!r} is not a valid listener name",
            )
        ]
    ports = _ports(route, parent)
    if not ports:
        return [
            Refusal.of(
                route,
                Reason.MISSING_PORTS,
                f"a {route.kind} needs a port: set parentRef.port or the "
                "wrapped-gateway.dev/ports annotation",
            )
        ]
    # A route never gets more listeners than a Gateway holds, and a sectionName names exactly
    # one: what it asks beyond that is refused up front, per hostname, so that no ports
    # annotation expands into millions of keys, refusals or Events.
    budget = 1 if section is not None else MAX_LISTENERS
    wanted = product(ports, hostnames)
    refusals = [
        refusal
        for port, hostname in islice(wanted, budget)
        if (
            refusal := book.claim(route, ListenerKey(port, route.protocol.value, hostname), section)
        )
    ]
    if len(ports) * len(hostnames) > budget:
        refusals.extend(_beyond_budget(route, section, ports, hostnames, budget))
    return refusals


def _beyond_budget(
    route: Route,
    section: str | None,
    ports: tuple[int, ...],
    hostnames: tuple[str | None, ...],
    budget: int,
) -> list[Refusal]:
    """One refusal per hostname for the keys after the first `budget` (ports, then hostnames)."""
    refusals = []
    for index, hostname in enumerate(hostnames):
        # keys run port by port: hostname `index` of port p is key p * len(hostnames) + index
        dropped = ports[max(0, -(-(budget - index) // len(hostnames))) :]
        if not dropped:
            continue
        where = f"{hostname or route.protocol.value} on {_describe_ports(dropped)}"
        if section is not None:
            reason = Reason.AMBIGUOUS_SECTION_NAME
            message = (
                f"sectionName {section!r} names one listener; {where} would need another, so "
                "the route would never attach to it"
            )
        else:
            reason = Reason.TOO_MANY_LISTENERS
            message = (
                f"{where} not added: the route asks for {len(ports) * len(hostnames)} listeners "
                f"and a Gateway holds at most {MAX_LISTENERS}"
            )
        refusal = Refusal.of(route, reason, message, hostname, dropped[0])
        refusals.append(replace(refusal, more_ports=dropped[1:]))
    return refusals


def _describe_ports(ports: tuple[int, ...]) -> str:
    shown = ", ".join(str(port) for port in ports[:_PORTS_SHOWN])
    more = len(ports) - _PORTS_SHOWN
    return (
        f"port {shown}"
        if len(ports) == 1
        else f"ports {shown}" + (f" and {more} more" if more > 0 else "")
    )


def _one_per_reason_and_hostname(refusals: list[Refusal]) -> list[Refusal]:
    """A route's refusals folded so that each (reason, hostname) is reported once, naming
    every port it was refused on."""
    if len(refusals) < 2:
        return refusals
    groups: dict[tuple[str, str | None], list[Refusal]] = {}
    for refusal in refusals:
        groups.setdefault((refusal.reason, refusal.hostname), []).append(refusal)
    return [_folded(first, others) for first, *others in groups.values()]


def _folded(first: Refusal, others: list[Refusal]) -> Refusal:
    if not others:
        return first
    ports = sorted({port for r in others for port in r.ports} - set(first.ports))
    if not ports:
        return first
    also = f" (also on {_describe_ports(tuple(ports))})"
    return replace(first, message=first.message + also, more_ports=(*first.more_ports, *ports))


def _ports(route: Route, parent: GatewayRef) -> tuple[int, ...]:
    if parent.port is not None:
        return (parent.port,)
    if route.annotated_ports:
        return route.annotated_ports
    if route.protocol in (Protocol.HTTPS, Protocol.TLS):
        return (DEFAULT_TLS_PORT,)
    return ()


def _namespace_policy(wrapped: WrappedGateway) -> str:
    if wrapped.namespaces_from is NamespacesFrom.SAME:
        return f"its own namespace {wrapped.namespace!r}"
    return "namespaces matching its selector"


def _gateway_manifest(
    wrapped: WrappedGateway, listeners: tuple[GeneratedListener, ...]
) -> dict[str, Any] | None:
    manifests = [dict(s.manifest) for s in wrapped.static_listeners]
    manifests.extend(_listener_manifest(wrapped, listener) for listener in listeners)
    if not manifests:
        return None
    metadata: dict[str, Any] = {"name": wrapped.name, "namespace": wrapped.namespace}
    if wrapped.labels:
        metadata["labels"] = dict(wrapped.labels)
    annotations = wrapped.gateway_annotations
    route_hostnames = {
        listener.name: sorted(listener.route_hostnames)
        for listener in listeners
        if listener.route_hostnames
    }
    if route_hostnames:
        annotations[LISTENER_HOSTNAMES_ANNOTATION] = json.dumps(
            route_hostnames, sort_keys=True, separators=(",", ":")
        )
    if annotations:
        metadata["annotations"] = annotations
    if wrapped.uid:
        metadata["ownerReferences"] = [
            {
                "apiVersion": WRAPPED_API_VERSION,
                "kind": WRAPPED_KIND,
                "name": wrapped.name,
                "uid": wrapped.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": GATEWAY_KIND,
        "metadata": metadata,
        "spec": {**wrapped.gateway_spec, "listeners": manifests},
    }


def _listener_manifest(wrapped: WrappedGateway, listener: GeneratedListener) -> dict[str, Any]:
    key = listener.key
    manifest: dict[str, Any] = {"name": listener.name, "port": key.port, "protocol": key.protocol}
    if key.hostname is not None:
        manifest["hostname"] = key.hostname
    if listener.tls_mode is TLSMode.PASSTHROUGH:
        manifest["tls"] = {"mode": TLSMode.PASSTHROUGH.value}
    elif listener.tls_mode is TLSMode.TERMINATE and key.hostname is not None:
        manifest["tls"] = {
            "mode": TLSMode.TERMINATE.value,
            "certificateRefs": [
                {"group": "", "kind": "Secret", "name": secret_name(key.port, key.hostname)}
            ],
        }
    manifest["allowedRoutes"] = {
        "namespaces": _owner_namespaces(wrapped, listener.owner_namespace),
        "kinds": [{"group": GATEWAY_GROUP, "kind": kind.value} for kind in sorted(listener.kinds)],
    }
    return manifest


def _owner_namespaces(wrapped: WrappedGateway, owner: str) -> dict[str, Any]:
    if owner == wrapped.namespace:
        return {"from": "Same"}
    return {
        "from": "Selector",
        "selector": {"matchLabels": {NAMESPACE_NAME_LABEL: owner}},
    }
