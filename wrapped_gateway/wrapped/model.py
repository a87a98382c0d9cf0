"""The WrappedGateway: a Gateway spec without its generated listeners, plus the route policy."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wrapped_gateway.constants import NOT_COPIED_ANNOTATION_PREFIXES, Namespaced
from wrapped_gateway.wrapped.selectors import LabelSelector
from wrapped_gateway.wrapped.static import StaticListener


@dataclass(frozen=True, slots=True)
class PortRange:
    first: int
    last: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


DEFAULT_HTTP_PORT = 80  # spec.routes.httpPort when not set


class Output(StrEnum):
    """Where the generated listeners go."""

    GATEWAY = "Gateway"  # into the Gateway, up to the Gateway API's 64 listeners in all
    # Into one ListenerSet per route namespace, 64 listeners each, certificates in that namespace
    LISTENER_SETS = "ListenerSets"


class NamespacesFrom(StrEnum):
    SAME = "Same"
    ALL = "All"
    SELECTOR = "Selector"


@dataclass(frozen=True, slots=True)
class DnsEndpointPolicy:
    """spec.dnsEndpoint: publish the names the controller accepted as a DNSEndpoint, which
    external-dns reads with --source=crd."""

    # None: external-dns's default (the provider's)
    record_ttl: int | None = None
    # Labels of the DNSEndpoint, for an external-dns --label-filter
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WrappedGateway(Namespaced):
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
    output: Output = Output.GATEWAY
    # None: a namespace may hold as many generated listeners as there is room for.
    listeners_per_namespace: int | None = None
    # Protocol -> the port ranges its generated listeners may use; a protocol not named: any.
    allowed_ports: Mapping[str, tuple[PortRange, ...]] = field(default_factory=dict)
    # The port of the plain-HTTP listeners generated per hostname (ACME HTTP-01, redirects):
    # an HTTPRoute or GRPCRoute asking for it gets an HTTP listener there, not an HTTPS one.
    http_port: int = DEFAULT_HTTP_PORT
    # None: no DNSEndpoint is written
    dns_endpoint: DnsEndpointPolicy | None = None

    @property
    def gateway_annotations(self) -> dict[str, str]:
        return {
            k: v
            for k, v in self.annotations.items()
            if not k.startswith(NOT_COPIED_ANNOTATION_PREFIXES)
        }
