"""Through which parents a route reaches a WrappedGateway: the one rule render, the controller's
index and the synthesis share.

A route reaches a WrappedGateway through a parentRef to its Gateway (namespace and name) and,
in ListenerSets mode, through a parentRef to a ListenerSet named like it in any namespace
(every namespace's generated ListenerSet has that name; which namespace is allowed is the
synthesis' business).
"""

from wrapped_gateway.routes import ParentKind, ParentRef, Route
from wrapped_gateway.wrapped import Output, WrappedGateway

# (kind, namespace, name) of a parent; the namespace of a ListenerSet target is "": any.
Target = tuple[ParentKind, str, str]


def route_targets(route: Route) -> set[Target]:
    return {_target(parent) for parent in route.parents}


def _target(parent: ParentRef) -> Target:
    return (parent.kind, parent.namespace if parent.kind is ParentKind.GATEWAY else "", parent.name)


def wrapped_targets(wrapped: WrappedGateway) -> tuple[Target, ...]:
    gateway = (ParentKind.GATEWAY, wrapped.namespace, wrapped.name)
    if wrapped.output is Output.LISTENER_SETS:
        return gateway, (ParentKind.LISTENER_SET, "", wrapped.name)
    return (gateway,)


def reaches(route: Route, wrapped: WrappedGateway) -> bool:
    targets = wrapped_targets(wrapped)
    return any(_target(parent) in targets for parent in route.parents)
