"""Reading route objects of any kind and served version into the route model.

Nothing here refuses a route: problems are recorded as defects so that the listener core can
report them with everything else it refuses.
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from wrapped_gateway.constants import (
    ACME_SOLVER_LABEL,
    EXTERNAL_DNS_HOSTNAME_ANNOTATIONS,
    GATEWAY_GROUP,
    GATEWAY_KIND,
    HOSTNAME_ANNOTATIONS,
    MAX_LISTENERS,
    PORTS_ANNOTATIONS,
    TLS_MODE_ANNOTATION,
    Reason,
)
from wrapped_gateway.routes.model import (
    HOSTNAMED_KINDS,
    Defect,
    ParentKind,
    ParentRef,
    Route,
    RouteKind,
    TLSMode,
)

# Every version of each kind that a Gateway API release has served; the fields read here
# (parentRefs, hostnames) have the same shape in all of them.
SERVED_VERSIONS: dict[RouteKind, tuple[str, ...]] = {
    RouteKind.HTTP: ("v1", "v1beta1"),
    RouteKind.GRPC: ("v1", "v1alpha2"),
    RouteKind.TLS: ("v1", "v1alpha3", "v1alpha2"),
    RouteKind.TCP: ("v1", "v1alpha2"),
    RouteKind.UDP: ("v1", "v1alpha2"),
}


def versions_to_watch(
    preferred: str | None, kinds_by_version: Mapping[str, set[str]]
) -> dict[RouteKind, str]:
    """The version to watch of each route kind the API group serves, from the kinds served at
    each of its versions: the group's preferred version when it serves the kind (TLSRoute may
    be served only at v1alpha2 while the group prefers v1), else the newest served we know."""
    chosen: dict[RouteKind, str] = {}
    for kind, versions in SERVED_VERSIONS.items():
        candidates = [v for v in (preferred, *versions) if v and v in kinds_by_version]
        served = [v for v in candidates if kind.value in kinds_by_version[v]]
        if served:
            chosen[kind] = served[0]
    return chosen


# Looked up, not constructed (RouteKind(kind)): a lookup is several times faster, and render
# asks for every object of its input.
_ROUTE_KINDS = {kind.value: kind for kind in RouteKind}
PARENT_KINDS = {kind.value: kind for kind in ParentKind}
_MIN_PORT, _MAX_PORT = 1, 65535
# At most five ASCII digits: str.isdigit() also accepts digits int() cannot read, and int()
# raises on thousands of digits.
_PORT_DIGITS = re.compile(r"[0-9]{1,5}")
# external-dns takes any number of names; a route gets as many as spec.hostnames allows.
MAX_ANNOTATED_HOSTNAMES = 16
_MAX_SHOWN = 60


def route_kind(api_version: str, kind: str) -> RouteKind | None:
    """The route kind of an object, or None when it is not a Gateway API route."""
    group, _, version = api_version.rpartition("/")
    route = _ROUTE_KINDS.get(kind) if group == GATEWAY_GROUP else None
    return route if route is not None and version in SERVED_VERSIONS[route] else None


def parse_route(obj: Mapping[str, Any]) -> Route:
    """The route model of a route object; `obj` must be a route (see `route_kind`).

    Fields of the wrong type (possible in files given to `render`, where no API server
    validated them) become defects, never exceptions.
    """
    kind = route_kind(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if kind is None:
        raise ValueError(f"{obj.get('apiVersion')} {obj.get('kind')} is not a Gateway API route")
    metadata = _mapping(obj.get("metadata"))
    spec = _mapping(obj.get("spec"))
    namespace = str(metadata.get("namespace") or "default")
    defects: list[Defect] = []
    annotations = _metadata_map(metadata, "annotations", defects)
    labels = _metadata_map(metadata, "labels", defects)
    return Route(
        kind=kind,
        namespace=namespace,
        name=str(metadata.get("name", "")),
        created=_timestamp(metadata.get("creationTimestamp")),
        parents=_parent_refs(spec.get("parentRefs"), namespace, defects),
        hostnames=_hostnames(kind, spec, annotations, defects),
        annotated_ports=_annotated_ports(annotations, defects),
        tls_mode=_tls_mode(kind, annotations, defects),
        defects=tuple(defects),
        acme_solver=ACME_SOLVER_LABEL in labels,
        api_version=str(obj.get("apiVersion")),
        uid=str(metadata.get("uid") or ""),
    )


def _parent_refs(raw: Any, route_namespace: str, defects: list[Defect]) -> tuple[ParentRef, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        defects.append(Defect(Reason.INVALID_PARENT_REF, "spec.parentRefs must be a list"))
        return ()
    refs = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            defects.append(
                Defect(Reason.INVALID_PARENT_REF, f"spec.parentRefs[{index}] is not a mapping")
            )
        elif (ref := _parent_ref(item, route_namespace, defects)) is not None:
            refs.append(ref)
    # A parentRef written twice is one attachment (files given to `render` may hold one; the
    # API server refuses it): it must not be claimed, or refused, twice.
    return tuple(dict.fromkeys(refs))


def _parent_ref(
    raw: Mapping[str, Any], route_namespace: str, defects: list[Defect]
) -> ParentRef | None:
    group = raw.get("group", GATEWAY_GROUP)
    kind = raw.get("kind", GATEWAY_KIND)
    if not isinstance(group, str) or not isinstance(kind, str):
        defects.append(
            Defect(
                Reason.INVALID_PARENT_REF,
                f"parentRef group {_shown(group)} and kind {_shown(kind)} must be strings",
            )
        )
        return None
    if group != GATEWAY_GROUP or kind not in PARENT_KINDS:
        return None  # a Service (GAMMA) or another group: not ours
    port = raw.get("port")
    if port is not None and not _valid_port(port):
        defects.append(
            Defect(Reason.INVALID_PORTS, f"parentRef port {_shown(port)} is not a port (1-65535)")
        )
        port = None
    section_name = raw.get("sectionName") or None
    if section_name is not None and not isinstance(section_name, str):
        defects.append(
            Defect(
                Reason.INVALID_SECTION_NAME, f"sectionName {_shown(section_name)} is not a string"
            )
        )
        section_name = None
    return ParentRef(
        namespace=str(raw.get("namespace") or route_namespace),
        name=str(raw.get("name", "")),
        section_name=section_name,
        port=port,
        kind=PARENT_KINDS[kind],
    )


def _hostnames(
    kind: RouteKind,
    spec: Mapping[str, Any],
    annotations: Mapping[str, Any],
    defects: list[Defect],
) -> tuple[str, ...]:
    hostnames = spec.get("hostnames") or []
    if not isinstance(hostnames, list) or not all(isinstance(h, str) for h in hostnames):
        defects.append(
            Defect(Reason.INVALID_HOSTNAME, "spec.hostnames must be a list of hostnames")
        )
        return ()
    if kind in HOSTNAMED_KINDS:
        # Duplicates would only produce the same listener twice.
        return tuple(dict.fromkeys(hostnames))
    texts = [
        _annotation(annotations, names, Reason.INVALID_HOSTNAME, defects)
        for names in (HOSTNAME_ANNOTATIONS, *((n,) for n in EXTERNAL_DNS_HOSTNAME_ANNOTATIONS))
    ]
    # Comma-separated lists, as external-dns reads them; each name is checked on its own.
    names = [item.strip() for text in texts if text for item in text.split(",") if item.strip()]
    distinct = tuple(dict.fromkeys(names))
    if len(distinct) > MAX_ANNOTATED_HOSTNAMES:
        defects.append(
            Defect(
                Reason.INVALID_HOSTNAME,
                f"the hostname annotations list {len(distinct)} hostnames; at most "
                f"{MAX_ANNOTATED_HOSTNAMES} are read",
            )
        )
        return ()
    return distinct


def _annotated_ports(annotations: Mapping[str, Any], defects: list[Defect]) -> tuple[int, ...]:
    text = _annotation(annotations, PORTS_ANNOTATIONS, Reason.INVALID_PORTS, defects)
    if text is None:
        return ()
    items = text.split(",")
    if len(items) > MAX_LISTENERS:
        defects.append(
            Defect(
                Reason.INVALID_PORTS,
                f"the ports annotation lists {len(items)} ports; a route has at most "
                f"{MAX_LISTENERS} listeners",
            )
        )
        return ()
    ports: list[int] = []
    for raw in items:
        item = raw.strip()
        if _PORT_DIGITS.fullmatch(item) and _valid_port(int(item)):
            ports.append(int(item))
        else:
            defects.append(
                Defect(
                    Reason.INVALID_PORTS,
                    f"ports annotation {_shown(text)}: {_shown(item)} is not a port (1-65535); "
                    "expected a comma-separated list such as '8443,8444'",
                )
            )
            return ()
    return tuple(sorted(set(ports)))


def _tls_mode(kind: RouteKind, annotations: Mapping[str, Any], defects: list[Defect]) -> TLSMode:
    text = _annotation(annotations, (TLS_MODE_ANNOTATION,), Reason.INVALID_TLS_MODE, defects)
    if text is None:
        return TLSMode.TERMINATE
    by_name = {mode.value.lower(): mode for mode in TLSMode}
    mode = by_name.get(text.strip().lower())
    if mode is None:
        defects.append(
            Defect(
                Reason.INVALID_TLS_MODE,
                f"{TLS_MODE_ANNOTATION} is {_shown(text)}; expected Terminate or Passthrough",
            )
        )
        return TLSMode.TERMINATE
    if mode is TLSMode.PASSTHROUGH and kind is not RouteKind.TLS:
        defects.append(
            Defect(
                Reason.INVALID_TLS_MODE,
                f"{TLS_MODE_ANNOTATION}: Passthrough needs a TLSRoute; a {kind} is always "
                "terminated at the Gateway",
            )
        )
        return TLSMode.TERMINATE
    return mode


def _annotation(
    annotations: Mapping[str, Any], names: tuple[str, ...], reason: str, defects: list[Defect]
) -> str | None:
    """The first of `names` present; a value that is not a string is a defect."""
    if not annotations:  # most routes: every route pays for this function several times
        return None
    for name in names:
        if name in annotations:
            value = annotations[name]
            if isinstance(value, str):
                return value
            defects.append(
                Defect(reason, f"annotation {name} must be a string, not {_shown(value)}")
            )
            return None
    return None


def _shown(value: object) -> str:
    """A value for a message: any size of input gives a short line."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else f"{text[:_MAX_SHOWN]}... ({len(text)} characters)"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _metadata_map(
    metadata: Mapping[str, Any], field: str, defects: list[Defect]
) -> Mapping[str, Any]:
    """metadata.annotations or .labels; anything but a mapping is a defect (only files given to
    `render` can hold one), since what the route asks for through them would go unread."""
    value = metadata.get(field)
    if value is None or isinstance(value, Mapping):
        return value or {}
    defects.append(
        Defect(Reason.INVALID_METADATA, f"metadata.{field} must be a mapping, not {_shown(value)}")
    )
    return {}


def _valid_port(value: object) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return _MIN_PORT <= value <= _MAX_PORT


def _timestamp(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
