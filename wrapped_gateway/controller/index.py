"""The controller's in-memory view of the cluster, as small projections.

Every watch event goes through `ClusterIndex`, which answers which WrappedGateways the change
touches (old and new targets alike), so that a route event never needs a LIST. It holds no
API objects, only the route model, parsed WrappedGateways, namespace labels and the part of
each generated Gateway and ListenerSet that the controller compares against.
"""

from collections import defaultdict
from collections.abc import Mapping
from typing import TypeVar

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller.existing import LiveGateway, LiveListenerSet, WrappedEntry
from wrapped_gateway.listeners.reach import RoutesByTarget, Target
from wrapped_gateway.routes import ParentKind, Route, RouteId, RouteKind
from wrapped_gateway.wrapped import NamespacesFrom

T = TypeVar("T")
U = TypeVar("U")


class ClusterIndex:
    def __init__(self) -> None:
        self._routes: dict[RouteId, Route] = {}
        self._by_target = RoutesByTarget()
        self._namespaces: dict[str, dict[str, str]] = {}
        self._terminating: set[str] = set()  # namespaces being deleted
        self._wrapped: dict[ObjectKey, WrappedEntry] = {}
        self._wrapped_by_name: dict[str, set[ObjectKey]] = defaultdict(set)
        self._gateways: dict[ObjectKey, LiveGateway] = {}
        self._listener_sets: dict[ObjectKey, LiveListenerSet] = {}
        self._sets_by_name: dict[str, set[ObjectKey]] = defaultdict(set)
        self._sets_by_parent: dict[ObjectKey, set[ObjectKey]] = defaultdict(set)

    # --- reads -------------------------------------------------------------------------
    def routes_for(self, key: ObjectKey) -> list[Route]:
        return list(self._targeting(key).values())

    def route(self, identity: RouteId) -> Route | None:
        return self._routes.get(identity)

    def listener_set(self, namespace: str, name: str) -> LiveListenerSet | None:
        return self._listener_sets.get(ObjectKey(namespace, name))

    def listener_sets_named(self, name: str) -> list[LiveListenerSet]:
        """The ListenerSets called `name`, in every namespace."""
        return [self._listener_sets[key] for key in self._sets_by_name.get(name, ())]

    def listener_sets_attached_to(self, gateway: ObjectKey) -> list[LiveListenerSet]:
        """The ListenerSets whose parentRef is the Gateway `gateway`, whatever their name."""
        return [self._listener_sets[key] for key in self._sets_by_parent.get(gateway, ())]

    def terminating(self, namespace: str) -> bool:
        """Whether `namespace` is being deleted, with everything in it."""
        return namespace in self._terminating

    @property
    def namespace_labels(self) -> Mapping[str, Mapping[str, str]]:
        return self._namespaces

    def wrapped(self, key: ObjectKey) -> WrappedEntry | None:
        return self._wrapped.get(key)

    def wrapped_named(self, name: str) -> list[WrappedEntry]:
        """The WrappedGateways called `name`, in every namespace."""
        return [self._wrapped[key] for key in self._wrapped_by_name.get(name, ())]

    def wrapped_keys(self) -> list[ObjectKey]:
        return sorted(self._wrapped)

    def gateway(self, key: ObjectKey) -> LiveGateway | None:
        return self._gateways.get(key)

    @property
    def route_count(self) -> int:
        return len(self._routes)

    @property
    def wrapped_count(self) -> int:
        return len(self._wrapped)

    # --- writes: each returns the WrappedGateways whose Gateway may change -----------------
    def upsert_route(self, route: Route) -> set[ObjectKey]:
        previous = self._routes.get(route.identity)
        if previous == route:
            return set()  # a status update, or the same route seen through another version
        touched = self._untarget(previous) if previous else set()
        self._routes[route.identity] = route
        for target in self._by_target.add(route):
            touched.update(self._reached(target))
        return touched

    def remove_route(self, kind: RouteKind, namespace: str, name: str) -> set[ObjectKey]:
        previous = self._routes.pop((kind, namespace, name), None)
        return self._untarget(previous) if previous else set()

    def upsert_namespace(
        self, name: str, labels: Mapping[str, str], terminating: bool = False
    ) -> set[ObjectKey]:
        if terminating:
            self._terminating.add(name)
        else:
            self._terminating.discard(name)
        labels = dict(labels)
        if self._namespaces.get(name) == labels:
            return set()
        self._namespaces[name] = labels
        return self._selector_gateways_with_routes_from(name)

    def remove_namespace(self, name: str) -> set[ObjectKey]:
        self._terminating.discard(name)
        if self._namespaces.pop(name, None) is None:
            return set()
        return self._selector_gateways_with_routes_from(name)

    def upsert_wrapped(self, entry: WrappedEntry) -> set[ObjectKey]:
        key = entry.key
        previous = self._wrapped.get(key)
        self._wrapped[key] = entry  # always: the status it carries is the latest
        self._wrapped_by_name[entry.name].add(key)
        if previous == entry:
            return set()
        if not entry.writes_listener_sets and not (previous and previous.writes_listener_sets):
            return {key}
        # Which of the same-named ones writes ListenerSets may have changed.
        return set(self._wrapped_by_name[entry.name])

    def remove_wrapped(self, namespace: str, name: str) -> set[ObjectKey]:
        key = ObjectKey(namespace, name)
        removed = self._wrapped.pop(key, None)
        if removed is None:
            return set()
        _discard(self._wrapped_by_name, name, key)
        if not removed.writes_listener_sets:
            return {key}
        # A same-named one may now be the oldest that writes ListenerSets.
        return {key, *self._wrapped_by_name.get(name, ())}

    def upsert_listener_set(self, live: LiveListenerSet) -> set[ObjectKey]:
        key = live.key
        previous = self._listener_sets.get(key)
        if previous == live:
            return set()
        touched = self.remove_listener_set(*key) if previous else set()
        self._listener_sets[key] = live
        self._sets_by_name[live.name].add(key)
        if live.parent is not None:
            self._sets_by_parent[live.parent].add(key)
        return touched | self._concerned_with(live)

    def remove_listener_set(self, namespace: str, name: str) -> set[ObjectKey]:
        key = ObjectKey(namespace, name)
        live = self._listener_sets.pop(key, None)
        if live is None:
            return set()
        _discard(self._sets_by_name, name, key)
        if live.parent is not None:
            _discard(self._sets_by_parent, live.parent, key)
        return self._concerned_with(live)

    def upsert_gateway(self, live: LiveGateway) -> set[ObjectKey]:
        key = live.key
        if self._gateways.get(key) == live:
            return set()
        self._gateways[key] = live
        return {key} if key in self._wrapped else set()

    def remove_gateway(self, namespace: str, name: str) -> set[ObjectKey]:
        key = ObjectKey(namespace, name)
        if self._gateways.pop(key, None) is None:
            return set()
        return {key} if key in self._wrapped else set()

    # --- internals -----------------------------------------------------------------------
    def _concerned_with(self, live: LiveListenerSet) -> set[ObjectKey]:
        """The WrappedGateways that write a ListenerSet of that name or whose Gateway it joins."""
        concerned = set(self._wrapped_by_name.get(live.name, ()))
        if live.parent in self._wrapped:
            concerned.add(live.parent)
        return concerned

    def _untarget(self, route: Route) -> set[ObjectKey]:
        touched: set[ObjectKey] = set()
        for target in self._by_target.remove(route):
            touched.update(self._reached(target))
        return touched

    def _reached(self, target: Target) -> set[ObjectKey]:
        """The WrappedGateways a parentRef to `target` may reach."""
        kind, namespace, name = target
        if kind is ParentKind.GATEWAY:
            return {ObjectKey(namespace, name)}
        return set(self._wrapped_by_name.get(name, ()))

    def _targeting(self, key: ObjectKey) -> Mapping[RouteId, Route]:
        """The routes with a parentRef that may reach the WrappedGateway `key`."""
        entry = self._wrapped.get(key)
        if entry is None or entry.model is None:
            return self._by_target.to(((ParentKind.GATEWAY, *key),))
        return self._by_target.reaching(entry.model)

    def _selector_gateways_with_routes_from(self, namespace: str) -> set[ObjectKey]:
        return {
            key
            for key, entry in self._wrapped.items()
            if entry.model is not None
            and entry.model.namespaces_from is NamespacesFrom.SELECTOR
            and any(route_id[1] == namespace for route_id in self._targeting(key))
        }


def _discard(groups: dict[T, set[U]], group: T, member: U) -> None:
    """Remove `member` from its group, and the group once empty, so that the index does not
    keep a key for every name it ever saw."""
    members = groups.get(group)
    if members is not None:
        members.discard(member)
        if not members:
            del groups[group]
