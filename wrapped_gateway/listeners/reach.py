"""Through which parents a route reaches a WrappedGateway: the one rule render, the controller's
index and the synthesis share, and the one lookup of the routes that do.

A route reaches a WrappedGateway through a parentRef to its Gateway (namespace and name) and,
in ListenerSets mode, through a parentRef to a ListenerSet named like it in any namespace
(every namespace's generated ListenerSet has that name; which namespace is allowed is the
synthesis' business).
"""

from collections.abc import Mapping, Sequence

from wrapped_gateway.routes import ParentKind, ParentRef, Route, RouteId
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


class RoutesByTarget:
    """The routes filed under each parent they name, so that the routes that may reach a
    WrappedGateway are found without a pass over all of them. The controller's index keeps one
    up to date with every route event; render fills one from its input."""

    def __init__(self) -> None:
        # dicts, so that a reconcile takes a target's routes in C
        self._by_target: dict[Target, dict[RouteId, Route]] = {}

    def add(self, route: Route) -> set[Target]:
        """Files `route` under each of its targets; which those are."""
        targets = route_targets(route)
        for target in targets:
            self._by_target.setdefault(target, {})[route.identity] = route
        return targets

    def remove(self, route: Route) -> set[Target]:
        """Takes `route`, as it was added, out again; the targets it was filed under."""
        targets = route_targets(route)
        for target in targets:
            routes = self._by_target.get(target)
            if routes is not None:
                routes.pop(route.identity, None)
                if not routes:
                    del self._by_target[target]  # no key kept for every target ever seen
        return targets

    def to(self, targets: Sequence[Target]) -> Mapping[RouteId, Route]:
        """The routes filed under any of `targets`, each once."""
        if len(targets) == 1:
            return self._by_target.get(targets[0], {})
        found: dict[RouteId, Route] = {}
        for target in targets:
            found.update(self._by_target.get(target, {}))
        return found

    def reaching(self, wrapped: WrappedGateway) -> Mapping[RouteId, Route]:
        """The routes that may reach `wrapped` (the synthesis decides which do)."""
        return self.to(wrapped_targets(wrapped))
