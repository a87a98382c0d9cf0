"""Offline rendering: manifests in, the Gateways the controller would apply out."""

import gc
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from wrapped_gateway.constants import WRAPPED_API_VERSION, WRAPPED_KIND
from wrapped_gateway.listeners import (
    DesiredGateway,
    InvalidWrappedGateway,
    WrappedGateway,
    desired_gateway,
    parse_wrapped_gateway,
)
from wrapped_gateway.manifests import Document, ManifestError
from wrapped_gateway.routes import Route, parse_route, route_kind


@dataclass(frozen=True, slots=True)
class Rendered:
    gateways: list[DesiredGateway]
    notes: list[str]

    @property
    def diagnostics(self) -> list[str]:
        """One line per note, refused route or hostname, and Gateway left unrendered."""
        lines = list(self.notes)
        for desired in self.gateways:
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
    # The input lives until the end; keeping it out of the collector's scans saves a fifth of
    # the time on large inputs.
    gc.freeze()
    try:
        return _render(documents)
    finally:
        gc.unfreeze()


def _render(documents: Iterable[Document]) -> Rendered:
    wrapped: list[WrappedGateway] = []
    routes: list[Route] = []
    namespace_labels: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    seen: dict[str, str] = {}
    for document in documents:
        # One object served at two versions (v1 and v1beta1 of one HTTPRoute) is still one.
        group = document.api_version.rpartition("/")[0]
        identity = f"{group} {document.identity}"
        if identity in seen:
            raise ManifestError(
                f"{document.source}: {document.identity} is also defined in {seen[identity]}"
            )
        seen[identity] = document.source
        if document.api_version == WRAPPED_API_VERSION and document.kind == WRAPPED_KIND:
            try:
                wrapped.append(parse_wrapped_gateway(document.obj))
            except InvalidWrappedGateway as error:
                raise ManifestError(f"{document.source}: {document.identity}: {error}") from None
        elif route_kind(document.api_version, document.kind) is not None:
            routes.append(parse_route(document.obj))
        elif document.api_version == "v1" and document.kind == "Namespace":
            metadata = document.obj.get("metadata") or {}
            labels = metadata.get("labels") or {}
            name = str(metadata.get("name"))
            namespace_labels[name] = {str(k): str(v) for k, v in labels.items()}
        else:
            notes.append(
                f"note: {document.source}: skipped {document.api_version} {document.identity} "
                "(not a WrappedGateway, route or Namespace)"
            )
    by_target: dict[tuple[str, str], list[Route]] = defaultdict(list)
    for route in routes:
        for target in {(p.namespace, p.name) for p in route.parents}:
            by_target[target].append(route)
    known = {(w.namespace, w.name) for w in wrapped}
    notes.extend(
        f"note: {route} targets no WrappedGateway in the input"
        for route in sorted(routes, key=lambda r: (r.namespace, r.name, r.kind))
        if not any((p.namespace, p.name) in known for p in route.parents)
    )
    gateways = [
        desired_gateway(w, by_target.get((w.namespace, w.name), ()), namespace_labels)
        for w in sorted(wrapped, key=lambda w: (w.namespace, w.name))
    ]
    return Rendered(gateways, notes)


# libyaml's dumper writes the same bytes as the pure-Python one, five times faster.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def to_yaml(gateways: list[dict[str, Any]]) -> str:
    return yaml.dump_all(gateways, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


def to_json(gateways: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": gateways}, indent=2) + "\n"
