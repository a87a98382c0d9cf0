"""The WrappedGateway's route policy: which namespaces and hostnames may contribute listeners."""

from collections.abc import Mapping
from functools import lru_cache

from wrapped_gateway.constants import NAMESPACE_NAME_LABEL, NAMESPACE_PLACEHOLDER
from wrapped_gateway.hostnames import covers
from wrapped_gateway.wrapped import NamespacesFrom, WrappedGateway


def namespace_allowed(
    wrapped: WrappedGateway,
    route_namespace: str,
    namespace_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    if wrapped.namespaces_from is NamespacesFrom.ALL:
        return True
    if wrapped.namespaces_from is NamespacesFrom.SAME:
        return route_namespace == wrapped.namespace
    return wrapped.namespace_selector.matches(labels_of(route_namespace, namespace_labels))


def labels_of(
    namespace: str, namespace_labels: Mapping[str, Mapping[str, str]]
) -> Mapping[str, str]:
    """A namespace's labels, with the name label the API server puts on every namespace."""
    return {**namespace_labels.get(namespace, {}), NAMESPACE_NAME_LABEL: namespace}


def hostname_allowed(wrapped: WrappedGateway, hostname: str, route_namespace: str) -> bool:
    """Whether an allowed pattern covers `hostname`; a `{namespace}` label in a pattern is the
    route's namespace, so that each tenant is held to names of its own."""
    if wrapped.allowed_hostnames is None:
        return True
    for pattern in allowed_patterns(wrapped.allowed_hostnames, route_namespace):
        if covers(pattern, hostname):
            return True
    return False


@lru_cache(maxsize=4096)
def allowed_patterns(patterns: tuple[str, ...], route_namespace: str) -> tuple[str, ...]:
    """The allowed hostname patterns as they apply to the routes of `route_namespace`; the same
    few for every route of a namespace."""
    return tuple(pattern.replace(NAMESPACE_PLACEHOLDER, route_namespace) for pattern in patterns)


def port_allowed(wrapped: WrappedGateway, protocol: str, port: int) -> bool:
    ranges = wrapped.allowed_ports.get(protocol)
    return ranges is None or any(port in allowed for allowed in ranges)
