"""What the listener core produces: generated listeners and the desired Gateway."""

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from wrapped_gateway.constants import Namespaced
from wrapped_gateway.listeners.refusals import Refusals
from wrapped_gateway.routes import RouteKind, TLSMode


class ListenerKey(NamedTuple):
    """What makes a listener distinct: the Gateway API's (port, protocol, hostname).

    A tuple, not a dataclass: keys are hashed on every claim, and tuples hash in C.
    """

    port: int
    protocol: str
    hostname: str | None

    def __str__(self) -> str:
        where = f"{self.port}/{self.protocol}"
        return f"{where} {self.hostname}" if self.hostname else where


@dataclass(slots=True)
class GeneratedListener:
    """A listener derived from routes; the namespace of its first route owns it."""

    name: str
    key: ListenerKey
    tls_mode: TLSMode | None
    owner_namespace: str
    kinds: set[RouteKind] = field(default_factory=set)
    routes: set[str] = field(default_factory=set)
    # Hostnames of the TCP/UDP routes it serves, shown on the Gateway since it cannot carry them.
    route_hostnames: set[str] = field(default_factory=set)
    first_route: str = ""
    # Namespaces besides the owner whose ACME solver routes it admits: the platform's, answering
    # the challenges of certificates cert-manager keeps beside the Gateway (plain HTTP only).
    solver_namespaces: set[str] = field(default_factory=set)

    def copy(self) -> "GeneratedListener":
        """An independent copy: routes attached to either leave the other as it was."""
        return replace(
            self,
            kinds=set(self.kinds),
            routes=set(self.routes),
            route_hostnames=set(self.route_hostnames),
            solver_namespaces=set(self.solver_namespaces),
        )

    @property
    def holder(self) -> str:
        """How conflict messages name it."""
        return f"listener {self.name!r} of {self.first_route}"


@dataclass(frozen=True, slots=True)
class DesiredGateway(Namespaced):
    """The Gateway a WrappedGateway should produce, and what was refused on the way.

    `gateway` is None when there is nothing to listen on (no static listener, no generated
    one): the Gateway API requires at least one listener, so no valid Gateway exists.
    """

    namespace: str
    name: str
    gateway: dict[str, Any] | None
    listeners: tuple[GeneratedListener, ...]
    # In claim order (oldest route first), with their count by reason; equal to a tuple of
    # the same refusals.
    refusals: Refusals
    # ListenerSets mode: the ListenerSets holding the generated listeners, one per namespace.
    listener_sets: tuple[dict[str, Any], ...] = ()
    # What is wrong with each static listener that lets tenants serve each other's names.
    shared_catch_alls: tuple[str, ...] = ()

    @property
    def listener_count(self) -> int:
        """Listeners of the Gateway and of its ListenerSets."""
        manifests = (self.gateway, *self.listener_sets) if self.gateway else self.listener_sets
        return sum(len(m["spec"]["listeners"]) for m in manifests)
