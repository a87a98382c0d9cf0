"""Offline rendering: manifests in, the Gateways and ListenerSets the controller would apply."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import yaml

from wrapped_gateway.constants import WRAPPED_API_VERSION, WRAPPED_KIND, ObjectKey
from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.listeners.reach import RoutesByTarget, wrapped_targets
from wrapped_gateway.render.manifests import Document, ManifestError, collector_paused
from wrapped_gateway.routes import Route, parse_route, route_kind
from wrapped_gateway.wrapped import InvalidWrappedGateway, WrappedGateway, parse_wrapped_gateway


@dataclass(frozen=True, slots=True)
class Rendered:
    gateways: list[DesiredGateway]
    notes: list[str]

    @property
    def manifests(self) -> list[dict[str, Any]]:
        """Each Gateway followed by its ListenerSets."""
        return [
            manifest
            for desired in self.gateways
            for manifest in ((desired.gateway,) if desired.gateway else ()) + desired.listener_sets
        ]

    @property
    def diagnostics(self) -> list[str]:
        """One line per note, refused route or hostname, and Gateway left unrendered."""
        lines = list(self.notes)
        for desired in self.gateways:
            lines.extend(
                f"warning: WrappedGateway {desired.key}: {w}" for w in desired.shared_catch_alls
            )
            lines.extend(f"WrappedGateway {desired.key}: {r}" for r in desired.refusals)
            if desired.gateway is None:
                lines.append(
                    f"WrappedGateway {desired.key}: NoListeners: no static listeners and no "
                    "route contributes one; the Gateway API requires at least one listener, "
                    "so no Gateway is rendered"
                )
        return lines


def render(documents: Iterable[Document]) -> Rendered:
    """Every WrappedGateway in `documents` rendered with the routes and namespaces beside it."""
    # Nearly everything built lives until the end: the collector's scans of it, as it grows,
    # would take a fifth of the time on large inputs and free nothing.
    with collector_paused():
        return _render(documents)


def _render(documents: Iterable[Document]) -> Rendered:
    wrapped: list[WrappedGateway] = []
    routes: list[Route] = []
    namespace_labels: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    seen: dict[tuple[str, str], str] = {}  # (group, identity) -> the source that defined it
    for document in documents:
        read_as = _read_as(document)
        _check_named(document, read_as)
        _check_defined_once(document, read_as, seen)
        if read_as is _ReadAs.WRAPPED_GATEWAY:
            wrapped.append(_wrapped_gateway(document))
        elif read_as is _ReadAs.ROUTE:
            routes.append(parse_route(document.obj))
        elif read_as is _ReadAs.NAMESPACE:
            namespace_labels[document.name] = _namespace_labels(document)
        else:
            notes.append(
                f"note: {document.source}: skipped {document.api_version} {document.identity} "
                "(not a WrappedGateway, route or Namespace)"
            )
    by_target = RoutesByTarget()
    known = {target for w in wrapped for target in wrapped_targets(w)}
    strays = [route for route in routes if known.isdisjoint(by_target.add(route))]
    notes.extend(
        f"note: {route} targets no WrappedGateway in the input"
        for route in sorted(strays, key=lambda r: (r.namespace, r.name, r.kind))
    )
    gateways = [
        desired_gateway(w, by_target.reaching(w).values(), namespace_labels)
        for w in sorted(wrapped, key=lambda w: (w.namespace, w.name))
    ]
    return Rendered(gateways, notes)


class _ReadAs(Enum):
    WRAPPED_GATEWAY = "WrappedGateway"
    ROUTE = "route"
    NAMESPACE = "Namespace"
    SKIPPED = "skipped"


def _read_as(document: Document) -> _ReadAs:
    if document.api_version == WRAPPED_API_VERSION and document.kind == WRAPPED_KIND:
        return _ReadAs.WRAPPED_GATEWAY
    if route_kind(document.api_version, document.kind) is not None:
        return _ReadAs.ROUTE
    if document.api_version == "v1" and document.kind == "Namespace":
        return _ReadAs.NAMESPACE
    return _ReadAs.SKIPPED


def _check_named(document: Document, read_as: _ReadAs) -> None:
    if read_as is not _ReadAs.SKIPPED and not document.name:
        raise ManifestError(f"{document.source}: {document.kind}: metadata.name is required")


def _check_defined_once(
    document: Document, read_as: _ReadAs, seen: dict[tuple[str, str], str]
) -> None:
    """Refuses a second definition of an object, however its namespace is spelled."""
    identity = _identity(document, read_as)
    # One object served at two versions (v1 and v1beta1 of one HTTPRoute) is still one.
    key = (document.api_version.rpartition("/")[0], identity)
    if key in seen:
        raise ManifestError(f"{document.source}: {identity} is also defined in {seen[key]}")
    seen[key] = document.source


def _identity(document: Document, read_as: _ReadAs) -> str:
    """The object as the API server names it. Routes and WrappedGateways are namespaced (an
    unset namespace is `default`); a Namespace is not (a namespace written on it is ignored).
    The scope of other kinds is unknown here: they are taken as written."""
    if read_as is _ReadAs.SKIPPED:
        return document.identity
    if read_as is _ReadAs.NAMESPACE:
        return f"{document.kind} {document.name}"
    return f"{document.kind} {ObjectKey.spell(document.namespace or 'default', document.name)}"


def _wrapped_gateway(document: Document) -> WrappedGateway:
    try:
        return parse_wrapped_gateway(document.obj)
    except InvalidWrappedGateway as error:
        raise ManifestError(f"{document.source}: {document.identity}: {error}") from None


def _namespace_labels(document: Document) -> dict[str, str]:
    """A Namespace's labels, which selector policies match: strings, as the API server has them."""
    labels = document.metadata.get("labels")
    if labels is None:
        return {}
    where = f"{document.source}: {document.identity}: metadata.labels"
    if not isinstance(labels, Mapping):
        raise ManifestError(f"{where} must be a mapping, not {type(labels).__name__}")
    for key, value in labels.items():
        if not isinstance(key, str):
            raise ManifestError(f"{where} has a {type(key).__name__} key; keys are strings")
        if not isinstance(value, str):
            raise ManifestError(f"{where}.{key} must be a string, not {type(value).__name__}")
    return dict(labels)


# libyaml's dumper writes the same bytes as the pure-Python one, several times faster.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(gateways: list[dict[str, Any]]) -> str:
    return yaml.dump_all(gateways, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


def to_json(gateways: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": gateways}, indent=2) + "\n"
