"""The WrappedGateway resource read into one small model: its Gateway spec, static listeners
and route policy."""

from wrapped_gateway.wrapped.model import (
    DnsEndpointPolicy,
    NamespacesFrom,
    Output,
    PortRange,
    WrappedGateway,
)
from wrapped_gateway.wrapped.parse import InvalidWrappedGateway, parse_wrapped_gateway
from wrapped_gateway.wrapped.static import StaticListener

__all__ = [
    "DnsEndpointPolicy",
    "InvalidWrappedGateway",
    "NamespacesFrom",
    "Output",
    "PortRange",
    "StaticListener",
    "WrappedGateway",
    "parse_wrapped_gateway",
]
