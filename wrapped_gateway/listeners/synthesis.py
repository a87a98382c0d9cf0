"""desired_gateway: the pure function from a WrappedGateway and its routes to a Gateway."""

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from itertools import islice, product

from wrapped_gateway.constants import (
    DEFAULT_TLS_PORT,
    MAX_LISTENERS,
    ObjectKey,
    Reason,
)
from wrapped_gateway.hostnames import hostname_problem
from wrapped_gateway.listeners.book import ListenerBook
from wrapped_gateway.listeners.model import DesiredGateway, ListenerKey
from wrapped_gateway.listeners.output import gateway_manifest, listener_set_manifests
from wrapped_gateway.listeners.policy import (
    allowed_patterns,
    hostname_allowed,
    namespace_allowed,
    port_allowed,
)
from wrapped_gateway.listeners.reach import reaches
from wrapped_gateway.listeners.refusals import Refusal, Refusals
from wrapped_gateway.routes import ParentKind, ParentRef, Protocol, Route
from wrapped_gateway.routes.model import HOSTNAMED_KINDS
from wrapped_gateway.wrapped import NamespacesFrom, Output, WrappedGateway
from wrapped_gateway.wrapped.static import is_listener_name, shared_catch_all_listeners

NamespaceLabels = Mapping[str, Mapping[str, str]]
ClaimOrder = tuple[int, datetime, str, str]
_PORTS_SHOWN = 5  # a refusal names this many ports and counts the rest


def desired_gateway(
    wrapped: WrappedGateway,
    routes: Iterable[Route],
    namespace_labels: NamespaceLabels,
    foreign_listener_sets: Mapping[str, str] | None = None,
) -> DesiredGateway:
    """The Gateway `wrapped` should produce from `routes`, and every refusal on the way.

    Routes not targeting `wrapped` are ignored; the others claim listeners oldest first, so
    the result does not depend on the order of `routes`. `foreign_listener_sets` maps a
    namespace to the ListenerSet there that the controller did not write, described (ListenerSets
    mode): that namespace gets no listeners, and the Gateway does not admit it.
    """
    book = new_book(wrapped)
    refusals: list[Refusal] = []
    for route in sorted((r for r in routes if reaches(r, wrapped)), key=claim_order):
        refusals.extend(
            claim_route(wrapped, route, namespace_labels, foreign_listener_sets or {}, book)
        )
    return desired_from(wrapped, book, Refusals((tuple(refusals),)))


def claim_order(route: Route) -> ClaimOrder:
    """Where `route` claims its listeners among the others: oldest first (Gateway API
    precedence), so the claims of a route never depend on those of the routes after it."""
    return (*route.precedence, route.kind)


def new_book(wrapped: WrappedGateway) -> ListenerBook:
    """The book of `wrapped` before any route claimed a listener."""
    return ListenerBook(
        wrapped.static_listeners,
        wrapped.namespace,
        per_namespace=wrapped.output is Output.LISTENER_SETS,
        quota=wrapped.listeners_per_namespace,
    )


def desired_from(wrapped: WrappedGateway, book: ListenerBook, refusals: Refusals) -> DesiredGateway:
    """The DesiredGateway once every route has claimed its listeners in `book`."""
    listeners = tuple(book.generated)
    listener_sets = wrapped.output is Output.LISTENER_SETS
    return DesiredGateway(
        namespace=wrapped.namespace,
        name=wrapped.name,
        gateway=gateway_manifest(wrapped, listeners),
        listeners=listeners,
        # In claim order (oldest route first), as the claims made them: sorting, copying or
        # counting them on every reconcile would let one tenant's thousands of refused routes
        # slow every change (a resumed synthesis shares the chunks of the claims it kept).
        refusals=refusals,
        listener_sets=listener_set_manifests(wrapped, listeners) if listener_sets else (),
        shared_catch_alls=shared_catch_all_listeners(wrapped.static_listeners),
    )


def claim_route(
    wrapped: WrappedGateway,
    route: Route,
    namespace_labels: NamespaceLabels,
    foreign_listener_sets: Mapping[str, str],
    book: ListenerBook,
) -> list[Refusal]:
    """Let `route` claim its listeners in `book`; what it is refused."""
    if route.defects:
        return [Refusal.of(route, d.reason, d.message) for d in route.defects]
    generating, refusals = _generating_parents(wrapped, route, book.static_names)
    if not generating:
        return refusals
    barred = _barred_namespace(wrapped, route, namespace_labels, foreign_listener_sets)
    if barred is not None:
        return [barred]
    hostnames, hostname_refusals = _usable_hostnames(wrapped, route)
    refusals.extend(hostname_refusals)
    if hostnames is None:
        return refusals
    for parent in generating:
        refusals.extend(_claim_parent(wrapped, route, parent, hostnames, book))
    return _one_per_reason_and_hostname(refusals)


def _barred_namespace(
    wrapped: WrappedGateway,
    route: Route,
    namespace_labels: NamespaceLabels,
    foreign_listener_sets: Mapping[str, str],
) -> Refusal | None:
    """Why no route of this namespace may have listeners of `wrapped`, if so."""
    if not namespace_allowed(wrapped, route.namespace, namespace_labels) and not (
        _platform_solver(wrapped, route)
    ):
        return Refusal.of(
            route,
            Reason.NOT_ALLOWED_NAMESPACE,
            f"WrappedGateway {wrapped.key} accepts routes from "
            f"{_namespace_policy(wrapped)}, not from namespace {route.namespace!r}",
        )
    if wrapped.output is Output.LISTENER_SETS and route.namespace in foreign_listener_sets:
        return Refusal.of(
            route,
            Reason.LISTENER_SET_NOT_OWNED,
            f"{foreign_listener_sets[route.namespace]}; namespace {route.namespace!r} gets no "
            f"listeners and the Gateway admits none of its ListenerSets until that is removed",
        )
    return None


def _generating_parents(
    wrapped: WrappedGateway, route: Route, static_names: frozenset[str]
) -> tuple[list[ParentRef], list[Refusal]]:
    """The parentRefs of `route` that ask `wrapped` for generated listeners.

    A ref naming a static listener attaches to it: that listener's own allowedRoutes decide,
    and the route needs no hostname or port from us.
    """
    to_gateway = [
        parent
        for parent in route.parents
        if parent.kind is ParentKind.GATEWAY
        and parent.namespace == wrapped.namespace
        and parent.name == wrapped.name
        and parent.section_name not in static_names
    ]
    if wrapped.output is Output.GATEWAY:
        return to_gateway, []
    # ListenerSets mode: the Gateway API attaches a route to a ListenerSet's listeners only
    # through a parentRef to that ListenerSet, which lives in the route's own namespace.
    to_listener_sets = route.listener_set_refs(wrapped.name)
    generating = [p for p in to_listener_sets if p.namespace == route.namespace]
    refusals = [
        Refusal.of(
            route,
            Reason.CROSS_NAMESPACE_LISTENER_SET,
            f"parentRef to ListenerSet {p.key}: WrappedGateway "
            f"{wrapped.key} writes a route's listeners into the ListenerSet "
            f"{ObjectKey(route.namespace, wrapped.name)} "
            "of the route's own namespace; refer to that one",
        )
        for p in to_listener_sets
        if p.namespace != route.namespace
    ]
    if to_gateway and not to_listener_sets:
        refusals.append(
            Refusal.of(
                route,
                Reason.NEEDS_LISTENER_SET_REF,
                f"WrappedGateway {wrapped.key} writes generated listeners into ListenerSets; "
                f"add the parentRef {{kind: ListenerSet, name: {wrapped.name}}} to get one "
                "(through the Gateway the route reaches only its static listeners)",
            )
        )
    return generating, refusals


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
        elif not hostname_allowed(wrapped, hostname, route.namespace):
            refusals.append(
                Refusal.of(
                    route,
                    Reason.HOSTNAME_NOT_ALLOWED,
                    f"{hostname} is outside the hostnames WrappedGateway {wrapped.key} allows "
                    f"namespace {route.namespace!r} ({_allowed_for(wrapped, route.namespace)})",
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
    wrapped: WrappedGateway,
    route: Route,
    parent: ParentRef,
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
    ports = _ports(wrapped, route, parent)
    if not ports:
        return [
            Refusal.of(
                route,
                Reason.MISSING_PORTS,
                f"a {route.kind} needs a port: set parentRef.port or the "
                "wrapped-gateway.dev/ports annotation",
            )
        ]
    ports, refusals = _allowed_ports(wrapped, route, ports)
    # A route never gets more listeners than a Gateway holds, and a sectionName names exactly
    # one: what it asks beyond that is refused up front, per hostname, so that no ports
    # annotation expands into millions of keys, refusals or Events.
    budget = 1 if section is not None else MAX_LISTENERS
    wanted = product(ports, hostnames)
    http_port = wrapped.http_port
    platform_solver = _platform_solver(wrapped, route) and wrapped.output is Output.GATEWAY
    refusals += [
        refusal
        for port, hostname in islice(wanted, budget)
        if (
            refusal := book.claim(
                route,
                ListenerKey(port, route.protocol_on(port, http_port).value, hostname),
                section,
                platform_solver,
            )
        )
    ]
    if len(ports) * len(hostnames) > budget:
        refusals.extend(_beyond_budget(route, section, ports, hostnames, budget))
    return refusals


def _allowed_ports(
    wrapped: WrappedGateway, route: Route, ports: tuple[int, ...]
) -> tuple[tuple[int, ...], list[Refusal]]:
    """The ports the policy lets the route use, and one refusal naming the rest.

    Plain HTTP has one port, spec.routes.httpPort, which the ports policy does not govern; an
    ACME solver route is served there only (its challenge is answered on plain HTTP).
    """
    protocol = route.protocol.value
    http_port = wrapped.http_port
    if route.acme_solver:
        refused = [port for port in ports if port != http_port]
        allowance = f"an ACME HTTP-01 solver route plain HTTP on its httpPort {http_port}"
    elif protocol in wrapped.allowed_ports:
        refused = [
            port
            for port in ports
            if route.protocol_on(port, http_port) is not Protocol.HTTP
            and not port_allowed(wrapped, protocol, port)
        ]
        ranges = ", ".join(str(r) for r in wrapped.allowed_ports[protocol])
        allowance = f"{protocol} listeners on {ranges}"
    else:
        return ports, []
    if not refused:
        return ports, []
    refusal = Refusal.of(
        route,
        Reason.PORT_NOT_ALLOWED,
        f"{protocol} on {_describe_ports(tuple(refused))}: WrappedGateway {wrapped.key} allows "
        f"{allowance} only",
        port=refused[0],
    )
    refused_ports = set(refused)
    allowed = tuple(port for port in ports if port not in refused_ports)
    return allowed, [replace(refusal, more_ports=tuple(refused[1:]))]


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
    if len(groups) == len(refusals):
        return refusals  # nothing to fold: most routes
    return [_folded(first, others) for first, *others in groups.values()]


def _folded(first: Refusal, others: list[Refusal]) -> Refusal:
    if not others:
        return first
    ports = sorted({port for r in others for port in r.ports} - set(first.ports))
    if not ports:
        return first
    also = f" (also on {_describe_ports(tuple(ports))})"
    return replace(first, message=first.message + also, more_ports=(*first.more_ports, *ports))


def _platform_solver(wrapped: WrappedGateway, route: Route) -> bool:
    """An ACME solver route of the WrappedGateway's own namespace: cert-manager answering a
    challenge for a certificate it keeps there, beside the Gateway (the gateway shim's)."""
    return route.acme_solver and route.namespace == wrapped.namespace


def _ports(wrapped: WrappedGateway, route: Route, parent: ParentRef) -> tuple[int, ...]:
    if parent.port is not None:
        return (parent.port,)
    if route.annotated_ports:
        return route.annotated_ports
    if route.acme_solver:
        return (wrapped.http_port,)
    if route.protocol in (Protocol.HTTPS, Protocol.TLS):
        return (DEFAULT_TLS_PORT,)
    return ()


def _allowed_for(wrapped: WrappedGateway, namespace: str) -> str:
    return ", ".join(allowed_patterns(wrapped.allowed_hostnames or (), namespace))


def _namespace_policy(wrapped: WrappedGateway) -> str:
    if wrapped.namespaces_from is NamespacesFrom.SAME:
        return f"its own namespace {wrapped.namespace!r}"
    return "namespaces matching its selector"
