"""The listeners of one Gateway as routes claim them, oldest route first.

The book answers one question per claim: may this route have a listener for this key, under
this name? It enforces the Gateway API's distinctness rules (no two listeners a Gateway would
mark Conflicted), tenancy (a hostname belongs to the namespace that claimed it first, see
`ownership`), unique listener names, the 64-listener limit and a bound on the hostnames shown
for TCP/UDP listeners, so that every Gateway built from it is one the API server accepts.
"""

import copy
from collections.abc import Iterable

from wrapped_gateway.constants import MAX_LISTENER_HOSTNAMES_SIZE, MAX_LISTENERS, Reason
from wrapped_gateway.listeners.model import GeneratedListener, ListenerKey
from wrapped_gateway.listeners.naming import disambiguated, listener_name
from wrapped_gateway.listeners.ownership import HostnameOwners
from wrapped_gateway.listeners.refusals import Refusal
from wrapped_gateway.routes import Protocol, Route
from wrapped_gateway.wrapped.static import StaticListener

# Protocols whose listeners on one port must differ by hostname (Gateway API distinctness).
_HOSTNAME_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TLS"})


class ListenerBook:
    """The listeners of one WrappedGateway.

    With `per_namespace` (ListenerSets mode) the generated listeners go into one ListenerSet per
    route namespace: the 64-listener limit and listener names are per namespace, while the
    distinctness and tenancy rules still span the whole Gateway, which merges every
    ListenerSet's listeners with its own.
    """

    def __init__(
        self,
        static: Iterable[StaticListener],
        platform_namespace: str,
        per_namespace: bool,
        quota: int | None = None,
    ) -> None:
        self._static = {ListenerKey(s.port, s.protocol, s.hostname): s for s in static}
        self._per_namespace = per_namespace
        self._quota = quota  # generated listeners one namespace may hold
        self.static_names = frozenset(s.name for s in self._static.values())
        # What claims change, below: `copy` must copy each of these containers.
        self._generated: dict[ListenerKey, GeneratedListener] = {}
        self._generated_in: dict[str, int] = {}  # listeners per namespace
        # (scope, name) -> what holds it, for conflict messages; a scope is a ListenerSet's
        # namespace, or "" for the Gateway's own listeners
        self._names: dict[tuple[str, str], str] = {
            ("", s.name): f"static listener {s.name!r}" for s in static
        }
        self._by_hostname_slot: dict[tuple[int, str | None], str] = {}
        self._hostname_ports: dict[int, str] = {}
        self._tcp_ports: dict[int, str] = {}
        self._http_ports: dict[int, str] = {}
        self._tls_ports: dict[int, str] = {}
        # Static listeners' hostnames belong to the platform team, the WrappedGateway's namespace.
        self._owners = HostnameOwners()
        # Size of the listener-hostnames annotation so far, bounded so that no number of
        # TCP/UDP routes can push the Gateway past the API server's metadata limit.
        self._shown_hostnames_size = 2  # "{}"
        for key, listener in self._static.items():
            holder = f"static listener {listener.name!r}"
            self._occupy(key, holder)
            if key.hostname is not None:
                self._owners.record(platform_namespace, key.hostname, holder)

    def copy(self) -> "ListenerBook":
        """An independent copy: claims in either leave the other as it was."""
        twin = copy.copy(self)  # the static listeners, settings and the size, shared or immutable
        twin._generated = {key: listener.copy() for key, listener in self._generated.items()}
        twin._generated_in = dict(self._generated_in)
        twin._names = dict(self._names)
        twin._by_hostname_slot = dict(self._by_hostname_slot)
        twin._hostname_ports = dict(self._hostname_ports)
        twin._tcp_ports = dict(self._tcp_ports)
        twin._http_ports = dict(self._http_ports)
        twin._tls_ports = dict(self._tls_ports)
        twin._owners = self._owners.copy()
        return twin

    @property
    def generated(self) -> list[GeneratedListener]:
        return sorted(
            self._generated.values(),
            key=lambda g: (g.key.port, g.key.protocol, g.key.hostname or "", g.name),
        )

    def claim(
        self,
        route: Route,
        key: ListenerKey,
        section_name: str | None,
        platform_solver: bool = False,
    ) -> Refusal | None:
        """Attach `route` to the listener for `key`, creating it when allowed.

        `platform_solver`: the route is an ACME solver route of the platform's namespace (in
        Gateway mode, where cert-manager keeps every generated listener's certificate). It may
        answer the challenge of a name another namespace owns: the plain-HTTP listener of that
        name stays the owner's and admits the platform's namespace besides.
        """
        if key in self._static:
            return self._on_static(route, key, section_name)
        if platform_solver and key.hostname is not None:
            owner = self._owners.owner_of(key.hostname)
            if owner is not None and owner.namespace != route.namespace:
                return self._admit_solver(route, key, owner.namespace)
        rival = self._rival(route, key)
        if rival is not None:
            return rival
        existing = self._generated.get(key)
        if existing is not None:
            return self._share(route, existing, section_name)
        conflict = self._conflict(key)
        if conflict is not None:
            reason, occupant = conflict
            return _refusal(route, key, reason, f"{key} would conflict with {occupant}")
        return self._create(route, key, section_name)

    def _on_static(
        self, route: Route, key: ListenerKey, section_name: str | None
    ) -> Refusal | None:
        """A claim of a key a static listener serves: the route attaches to it, in Gateway mode."""
        static = self._static[key]
        if self._per_namespace:
            return _refusal(
                route,
                key,
                Reason.SERVED_BY_STATIC_LISTENER,
                f"{key} is the Gateway's static listener {static.name!r}; a route attaches "
                "to it through a parentRef to the Gateway, not to a ListenerSet",
            )
        if section_name and section_name != static.name:
            return _refusal(
                route,
                key,
                Reason.SECTION_NAME_CONFLICT,
                f"sectionName {section_name!r} asks for a listener on {key}, which static "
                f"listener {static.name!r} already serves",
            )
        return None  # served by the static listener the platform team wrote

    def _rival(self, route: Route, key: ListenerKey) -> Refusal | None:
        """A refusal if another namespace owns a hostname the claim overlaps."""
        # A TCP/UDP listener has no hostname; the route's hostname annotation labels it.
        hostnames = route.hostnames if key.hostname is None else (key.hostname,)
        for hostname in hostnames:
            rival = self._owners.rival(route.namespace, hostname)
            if rival is not None:
                return Refusal.of(
                    route,
                    Reason.HOSTNAME_CONFLICT,
                    f"{hostname} on {key.port}/{key.protocol} overlaps {rival}; a hostname "
                    "belongs to the namespace that claimed it first, on every port",
                    hostname=hostname,
                    port=key.port,
                )
        return None

    def _admit_solver(self, route: Route, key: ListenerKey, owner: str) -> Refusal | None:
        """Let the platform's solver route onto the plain-HTTP listener of `owner`'s name,
        creating it for `owner` (counted against the platform's namespace) when missing."""
        listener = self._generated.get(key)
        if listener is None:
            conflict = self._conflict(key)
            if conflict is not None:
                reason, occupant = conflict
                return _refusal(route, key, reason, f"{key} would conflict with {occupant}")
            created = self._create(route, key, None, owner)
            if created is not None:
                return created
            listener = self._generated[key]
        listener.solver_namespaces.add(route.namespace)
        listener.kinds.add(route.kind)
        listener.routes.add(str(route))
        return None

    def _create(
        self, route: Route, key: ListenerKey, section_name: str | None, owner: str | None = None
    ) -> Refusal | None:
        """A new listener for `key`, named by the sectionName or after the key; it belongs to
        the route's namespace unless `owner` names another (see `_admit_solver`)."""
        # Checked first: past the limit most claims of a large Gateway end here, unnamed.
        full = self._full(route.namespace)
        if full:
            return _refusal(route, key, Reason.TOO_MANY_LISTENERS, f"{key} is not added: {full}")
        scope = route.namespace if self._per_namespace else ""
        name = section_name or listener_name(key.protocol, key.port, key.hostname)
        if (scope, name) in self._names:
            if section_name:
                holder = self._names[scope, name]
                return _refusal(
                    route,
                    key,
                    Reason.SECTION_NAME_CONFLICT,
                    f"sectionName {section_name!r} is already the name of {holder}",
                )
            name = self._free_name(scope, name, str(key))
        listener = GeneratedListener(
            name=name,
            key=key,
            tls_mode=route.tls_mode if key.protocol in (Protocol.HTTPS, Protocol.TLS) else None,
            owner_namespace=owner or route.namespace,
            first_route=str(route),
        )
        self._generated[key] = listener
        self._generated_in[route.namespace] = self._generated_in.get(route.namespace, 0) + 1
        self._names[scope, name] = listener.holder
        self._occupy(key, listener.holder)
        return None if owner else self._attach(listener, route)

    def _full(self, namespace: str) -> str | None:
        """Why there is no room for another listener of a route in `namespace`, if so."""
        held = self._generated_in.get(namespace, 0)
        limit = "the Gateway API's limit; older routes keep theirs"
        if self._quota is not None and held >= self._quota:
            return (
                f"namespace {namespace!r} already holds {held} generated listeners, as many "
                "as the WrappedGateway's spec.routes.listenersPerNamespace allows one namespace"
            )
        if self._per_namespace:
            if held >= MAX_LISTENERS:
                return (
                    f"the ListenerSet of namespace {namespace!r} already has {MAX_LISTENERS} "
                    f"listeners, {limit}"
                )
            return None
        if len(self._static) + len(self._generated) >= MAX_LISTENERS:
            return f"the Gateway already has {MAX_LISTENERS} listeners, {limit}"
        return None

    def _free_name(self, scope: str, name: str, salt: str) -> str:
        """`name` made unique: a tenant's sectionName may already hold any spelling."""
        attempt = 0
        candidate = disambiguated(name, salt)
        while (scope, candidate) in self._names:
            attempt += 1
            candidate = disambiguated(name, f"{salt}#{attempt}")
        return candidate

    def _share(
        self, route: Route, listener: GeneratedListener, section_name: str | None
    ) -> Refusal | None:
        if listener.owner_namespace != route.namespace:
            reason = (
                Reason.PORT_CONFLICT if listener.key.hostname is None else Reason.HOSTNAME_CONFLICT
            )
            return _refusal(
                route,
                listener.key,
                reason,
                f"{listener.key} belongs to namespace {listener.owner_namespace!r} "
                f"({listener.first_route} claimed it first)",
            )
        if section_name and section_name != listener.name:
            return _refusal(
                route,
                listener.key,
                Reason.SECTION_NAME_CONFLICT,
                f"{listener.key} is already served by listener {listener.name!r}, "
                f"not {section_name!r}",
            )
        if listener.tls_mode is not None and listener.tls_mode != route.tls_mode:
            return _refusal(
                route,
                listener.key,
                Reason.TLS_MODE_CONFLICT,
                f"{listener.key} is already a {listener.tls_mode} listener "
                f"({listener.first_route}); this route asks for {route.tls_mode}",
            )
        return self._attach(listener, route)

    def _attach(self, listener: GeneratedListener, route: Route) -> Refusal | None:
        listener.kinds.add(route.kind)
        listener.routes.add(str(route))
        if listener.key.hostname is not None:
            self._owners.record(route.namespace, listener.key.hostname, listener.holder)
            return None
        hidden: list[str] = []
        for hostname in route.hostnames:
            self._owners.record(route.namespace, hostname, listener.holder)
            if not self._show(listener, hostname):
                hidden.append(hostname)
        if not hidden:
            return None
        return Refusal.of(
            route,
            Reason.TOO_MANY_HOSTNAMES,
            f"{', '.join(hidden)} not shown in the Gateway's listener-hostnames annotation, "
            f"which is full ({MAX_LISTENER_HOSTNAMES_SIZE} bytes); the route still attaches "
            f"to listener {listener.name!r}",
            hostname=hidden[0],
            port=listener.key.port,
        )

    def _show(self, listener: GeneratedListener, hostname: str) -> bool:
        """Add a TCP/UDP route's hostname to its listener's entry in the annotation, if it fits."""
        if hostname in listener.route_hostnames:
            return True
        # JSON: `"hostname",`, and `"name":[],` for the listener's first one
        size = len(hostname) + 3 + (0 if listener.route_hostnames else len(listener.name) + 6)
        if self._shown_hostnames_size + size > MAX_LISTENER_HOSTNAMES_SIZE:
            return False
        self._shown_hostnames_size += size
        listener.route_hostnames.add(hostname)
        return True

    def _conflict(self, key: ListenerKey) -> tuple[str, str] | None:
        """Why `key` would conflict with another listener (not an identical key), and which."""
        if key.protocol in _HOSTNAME_PROTOCOLS:
            same_hostname = self._by_hostname_slot.get((key.port, key.hostname))
            if same_hostname:
                return Reason.HOSTNAME_CONFLICT, same_hostname
            # Plain HTTP and TLS-based listeners cannot share a port, nor can TCP and either.
            other_family = self._http_ports if key.protocol != "HTTP" else self._tls_ports
            same_port = self._tcp_ports.get(key.port) or other_family.get(key.port)
            return (Reason.PORT_CONFLICT, same_port) if same_port else None
        if key.protocol == Protocol.TCP and key.port in self._hostname_ports:
            return Reason.PORT_CONFLICT, self._hostname_ports[key.port]
        return None

    def _occupy(self, key: ListenerKey, holder: str) -> None:
        if key.protocol in _HOSTNAME_PROTOCOLS:
            self._by_hostname_slot.setdefault((key.port, key.hostname), holder)
            self._hostname_ports.setdefault(key.port, holder)
            family = self._http_ports if key.protocol == "HTTP" else self._tls_ports
            family.setdefault(key.port, holder)
        elif key.protocol == Protocol.TCP:
            self._tcp_ports.setdefault(key.port, holder)


def _refusal(route: Route, key: ListenerKey, reason: str, message: str) -> Refusal:
    return Refusal.of(route, reason, message, hostname=key.hostname, port=key.port)
