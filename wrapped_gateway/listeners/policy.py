"""The WrappedGateway's route policy: which namespaces and hostnames may contribute listeners."""

from collections.abc import Mapping

from wrapped_gateway.constants import NAMESPACE_NAME_LABEL, NAMESPACE_PLACEHOLDER
from wrapped_gateway.hostnames import covers
from wrapped_gateway.listeners.wrapped import NamespacesFrom, WrappedGateway


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
    return any(
        covers(pattern.replace(NAMESPACE_PLACEHOLDER, route_namespace), hostname)
        for pattern in wrapped.allowed_hostnames
    )


def port_allowed(wrapped: WrappedGateway, protocol: str, port: int) -> bool:
    ranges = wrapped.allowed_ports.get(protocol)
    return ranges is None or any(port in allowed for allowed in ranges)
