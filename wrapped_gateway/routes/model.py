"""One small typed model for every route kind and served version."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from wrapped_gateway.constants import Namespaced, ObjectKey


class RouteKind(StrEnum):
    HTTP = "HTTPRoute"
    GRPC = "GRPCRoute"
    TLS = "TLSRoute"
    TCP = "TCPRoute"
    UDP = "UDPRoute"


class Protocol(StrEnum):
    HTTP = "HTTP"  # plain HTTP, on the WrappedGateway's HTTP port only (ACME HTTP-01, redirects)
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    UDP = "UDP"


class TLSMode(StrEnum):
    TERMINATE = "Terminate"
    PASSTHROUGH = "Passthrough"


PROTOCOL_BY_KIND: dict[RouteKind, Protocol] = {
    RouteKind.HTTP: Protocol.HTTPS,
    RouteKind.GRPC: Protocol.HTTPS,
    RouteKind.TLS: Protocol.TLS,
    RouteKind.TCP: Protocol.TCP,
    RouteKind.UDP: Protocol.UDP,
}

# Kinds whose listeners carry hostnames; TCP and UDP listeners must not (Gateway API CEL rule).
HOSTNAMED_KINDS = frozenset({RouteKind.HTTP, RouteKind.GRPC, RouteKind.TLS})
# Kinds that are served on plain HTTP where they ask for the WrappedGateway's HTTP port.
PLAIN_HTTP_KINDS = frozenset({RouteKind.HTTP, RouteKind.GRPC})


class ParentKind(StrEnum):
    """The parents a route may name to reach a WrappedGateway's listeners."""

    GATEWAY = "Gateway"  # the generated Gateway: its own listeners
    LISTENER_SET = "ListenerSet"  # a generated ListenerSet (ListenerSets mode)


@dataclass(frozen=True, slots=True)
class ParentRef(Namespaced):
    """A route's parentRef to a generated Gateway or ListenerSet, and so to a WrappedGateway."""

    namespace: str
    name: str
    section_name: str | None = None
    port: int | None = None
    kind: ParentKind = ParentKind.GATEWAY


@dataclass(frozen=True, slots=True)
class Defect:
    """Something wrong with the route itself: it contributes nothing until it is fixed."""

    reason: str
    message: str


RouteId = tuple[RouteKind, str, str]  # a route's kind, namespace and name


@dataclass(frozen=True, slots=True)
class Route(Namespaced):
    kind: RouteKind
    namespace: str
    name: str
    created: datetime | None
    parents: tuple[ParentRef, ...]
    # spec.hostnames for HTTP/GRPC/TLS routes; the hostname annotation for TCP/UDP routes.
    hostnames: tuple[str, ...]
    # Ports from the ports annotation, used where a parentRef names no port.
    annotated_ports: tuple[int, ...]
    tls_mode: TLSMode
    defects: tuple[Defect, ...] = ()
    # cert-manager's temporary ACME HTTP-01 solver route: it asks for plain HTTP only, on the
    # WrappedGateway's HTTP port, under the same ownership rules as any route.
    acme_solver: bool = False
    # Identity for Events on the route; not part of what the route asks for, so a route seen
    # through two served versions compares equal.
    api_version: str = field(default="", compare=False)
    uid: str = field(default="", compare=False)

    @property
    def protocol(self) -> Protocol:
        """The protocol of its listeners on any port but the WrappedGateway's HTTP port."""
        return PROTOCOL_BY_KIND[self.kind]

    def protocol_on(self, port: int, http_port: int) -> Protocol:
        """The protocol of its listener on `port`: plain HTTP on the HTTP port for the kinds
        an HTTP listener serves."""
        if port == http_port and self.kind in PLAIN_HTTP_KINDS:
            return Protocol.HTTP
        return PROTOCOL_BY_KIND[self.kind]

    def __str__(self) -> str:
        return f"{self.kind} {ObjectKey.spell(self.namespace, self.name)}"

    @property
    def identity(self) -> RouteId:
        return (self.kind, self.namespace, self.name)

    @property
    def precedence(self) -> tuple[int, datetime, str]:
        """Gateway API precedence: oldest first, then the string "{namespace}/{name}"
        (so "team-b/x" comes before "team/x"); undated routes last."""
        spelled = ObjectKey.spell(self.namespace, self.name)
        return (0 if self.created else 1, self.created or datetime.min, spelled)

    def listener_set_refs(self, name: str) -> list[ParentRef]:
        """The parentRefs to a ListenerSet called `name`, in any namespace."""
        return [p for p in self.parents if p.kind is ParentKind.LISTENER_SET and p.name == name]
