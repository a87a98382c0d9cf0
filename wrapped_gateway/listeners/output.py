"""The objects a WrappedGateway produces: its Gateway and, in ListenerSets mode, ListenerSets."""

import json
from collections.abc import Iterable
from typing import Any

from wrapped_gateway.constants import (
    GATEWAY_API_VERSION,
    GATEWAY_GROUP,
    GATEWAY_KIND,
    LISTENER_HOSTNAMES_ANNOTATION,
    LISTENER_SET_KIND,
    NAMESPACE_NAME_LABEL,
    OWNER_ANNOTATION,
    OWNER_UID_LABEL,
    WRAPPED_API_VERSION,
    WRAPPED_KIND,
)
from wrapped_gateway.listeners.model import GeneratedListener
from wrapped_gateway.listeners.naming import secret_name
from wrapped_gateway.routes import TLSMode
from wrapped_gateway.wrapped import Output, WrappedGateway


def gateway_manifest(
    wrapped: WrappedGateway, generated: tuple[GeneratedListener, ...]
) -> dict[str, Any] | None:
    """The Gateway; None when it would have no listener, which the Gateway API forbids."""
    in_gateway = () if wrapped.output is Output.LISTENER_SETS else generated
    listeners = [dict(s.manifest) for s in wrapped.static_listeners]
    listeners.extend(_listener_manifest(wrapped, listener) for listener in in_gateway)
    if not listeners:
        return None
    metadata: dict[str, Any] = {"name": wrapped.name, "namespace": wrapped.namespace}
    if wrapped.labels:
        metadata["labels"] = dict(wrapped.labels)
    annotations = {**wrapped.gateway_annotations, **_hostnames_annotation(in_gateway)}
    if annotations:
        metadata["annotations"] = annotations
    if wrapped.uid:
        metadata["ownerReferences"] = [owner_reference(wrapped)]
    spec = {**wrapped.gateway_spec, "listeners": listeners}
    if wrapped.output is Output.LISTENER_SETS:
        spec["allowedListeners"] = _allowed_listeners({g.owner_namespace for g in generated})
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": GATEWAY_KIND,
        "metadata": metadata,
        "spec": spec,
    }


def listener_set_manifests(
    wrapped: WrappedGateway, generated: tuple[GeneratedListener, ...]
) -> tuple[dict[str, Any], ...]:
    """One ListenerSet per namespace that owns generated listeners, named like the Gateway.

    Its listeners' certificateRefs name Secrets in its own namespace, where cert-manager puts
    them, so a tenant's private keys never sit in the platform's namespace.
    """
    by_namespace: dict[str, list[GeneratedListener]] = {}
    for listener in generated:
        by_namespace.setdefault(listener.owner_namespace, []).append(listener)
    return tuple(
        _listener_set_manifest(wrapped, namespace, tuple(by_namespace[namespace]))
        for namespace in sorted(by_namespace)
    )


def _listener_set_manifest(
    wrapped: WrappedGateway, namespace: str, listeners: tuple[GeneratedListener, ...]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": wrapped.name, "namespace": namespace}
    if wrapped.uid:
        metadata["labels"] = {OWNER_UID_LABEL: wrapped.uid}
    metadata["annotations"] = {
        OWNER_ANNOTATION: str(wrapped.key),
        **_hostnames_annotation(listeners),
    }
    # An owner reference may only name an object of the same namespace; elsewhere the
    # controller deletes what it no longer wants (found by the owner-uid label).
    if wrapped.uid and namespace == wrapped.namespace:
        metadata["ownerReferences"] = [owner_reference(wrapped)]
    return {
        "apiVersion": GATEWAY_API_VERSION,
        "kind": LISTENER_SET_KIND,
        "metadata": metadata,
        "spec": {
            "parentRef": {
                "group": GATEWAY_GROUP,
                "kind": GATEWAY_KIND,
                "name": wrapped.name,
                "namespace": wrapped.namespace,
            },
            "listeners": [_listener_manifest(wrapped, listener) for listener in listeners],
        },
    }


def _allowed_listeners(namespaces: set[str]) -> dict[str, Any]:
    """Admits exactly the namespaces the generated ListenerSets live in."""
    return {"namespaces": _named(namespaces) if namespaces else {"from": "None"}}


def _named(namespaces: Iterable[str]) -> dict[str, Any]:
    """A namespaces selector admitting exactly `namespaces`, by the label of their name."""
    selector = {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(namespaces)}
    return {"from": "Selector", "selector": {"matchExpressions": [selector]}}


def _hostnames_annotation(listeners: Iterable[GeneratedListener]) -> dict[str, str]:
    """Which TCP/UDP listener serves which route hostnames, as those listeners cannot say."""
    route_hostnames = {
        listener.name: sorted(listener.route_hostnames)
        for listener in listeners
        if listener.route_hostnames
    }
    if not route_hostnames:
        return {}
    shown = json.dumps(route_hostnames, sort_keys=True, separators=(",", ":"))
    return {LISTENER_HOSTNAMES_ANNOTATION: shown}


def owner_reference(wrapped: WrappedGateway) -> dict[str, Any]:
    """The controller reference to `wrapped` on an object it generates in its namespace."""
    return {
        "apiVersion": WRAPPED_API_VERSION,
        "kind": WRAPPED_KIND,
        "name": wrapped.name,
        "uid": wrapped.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _listener_manifest(wrapped: WrappedGateway, listener: GeneratedListener) -> dict[str, Any]:
    key = listener.key
    manifest: dict[str, Any] = {"name": listener.name, "port": key.port, "protocol": key.protocol}
    if key.hostname is not None:
        manifest["hostname"] = key.hostname
    if listener.tls_mode is TLSMode.PASSTHROUGH:
        manifest["tls"] = {"mode": TLSMode.PASSTHROUGH.value}
    elif listener.tls_mode is TLSMode.TERMINATE and key.hostname is not None:
        manifest["tls"] = {
            "mode": TLSMode.TERMINATE.value,
            "certificateRefs": [
                {"group": "", "kind": "Secret", "name": secret_name(key.port, key.hostname)}
            ],
        }
    manifest["allowedRoutes"] = {
        "namespaces": _admitted_namespaces(wrapped, listener),
        "kinds": [{"group": GATEWAY_GROUP, "kind": kind.value} for kind in sorted(listener.kinds)],
    }
    return manifest


def _admitted_namespaces(wrapped: WrappedGateway, listener: GeneratedListener) -> dict[str, Any]:
    """The owner's namespace, and the namespaces of the solver routes it admits besides."""
    owner = listener.owner_namespace
    guests = listener.solver_namespaces - {owner}
    # A ListenerSet lives in its owner's namespace: "Same" is that namespace there.
    if not guests and (owner == wrapped.namespace or wrapped.output is Output.LISTENER_SETS):
        return {"from": "Same"}
    if not guests:
        return {"from": "Selector", "selector": {"matchLabels": {NAMESPACE_NAME_LABEL: owner}}}
    return _named({owner, *guests})
