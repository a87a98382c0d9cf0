"""Routes of every kind and served version, read into one small model."""

from wrapped_gateway.routes.model import (
    Defect,
    ParentKind,
    ParentRef,
    Protocol,
    Route,
    RouteId,
    RouteKind,
    TLSMode,
)
from wrapped_gateway.routes.parse import parse_route, route_kind

__all__ = [
    "Defect",
    "ParentKind",
    "ParentRef",
    "Protocol",
    "Route",
    "RouteId",
    "RouteKind",
    "TLSMode",
    "parse_route",
    "route_kind",
]
