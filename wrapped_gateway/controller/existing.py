"""What already exists in the cluster that the core's decisions depend on: the WrappedGateway
as stored (parsed, or why it cannot be), the generated Gateway and ListenerSets as they are,
who controls or wrote them, and therefore which namespaces get no listeners.

Projections of API objects, like the route model: only the part the controller compares its
desired objects with, and the ownership that decides whether it may write them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wrapped_gateway.constants import (
    FIELD_MANAGER,
    GATEWAY_GROUP,
    GATEWAY_KIND,
    OWNER_ANNOTATION,
    WRAPPED_KIND,
    Namespaced,
    ObjectKey,
)
from wrapped_gateway.wrapped import (
    InvalidWrappedGateway,
    Output,
    WrappedGateway,
    parse_wrapped_gateway,
)


@dataclass(frozen=True, slots=True)
class WrappedEntry(Namespaced):
    """A WrappedGateway as the controller needs it: parsed, or why it cannot be."""

    namespace: str
    name: str
    uid: str
    generation: int
    model: WrappedGateway | None
    error: str | None
    status: Mapping[str, Any] = field(compare=False, default_factory=dict)
    # creationTimestamp as the API server writes it (RFC 3339, UTC, whole seconds): strings
    # that sort in time order. "" when unknown.
    created: str = ""

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "WrappedEntry":
        metadata = obj.get("metadata") or {}
        model: WrappedGateway | None = None
        error: str | None = None
        try:
            model = parse_wrapped_gateway(obj)
        except InvalidWrappedGateway as problem:
            error = str(problem)
        return cls(
            namespace=str(metadata.get("namespace")),
            name=str(metadata.get("name")),
            uid=str(metadata.get("uid") or ""),
            generation=int(metadata.get("generation") or 0),
            model=model,
            error=error,
            status=dict(obj.get("status") or {}),
            created=str(metadata.get("creationTimestamp") or ""),
        )

    @property
    def writes_listener_sets(self) -> bool:
        return self.model is not None and self.model.output is Output.LISTENER_SETS

    @property
    def precedence(self) -> tuple[str, str]:
        """Oldest first, then by "namespace/name", as the Gateway API breaks ties."""
        return self.created, str(self.key)


@dataclass(frozen=True, slots=True)
class LiveGateway(Namespaced):
    """The part of a Gateway the controller compares its desired Gateway with."""

    namespace: str
    name: str
    controller_uid: str | None  # uid of the controlling owner, if any
    controller_kind: str | None
    metadata: Mapping[str, Any]  # labels and annotations
    spec: Mapping[str, Any]
    # status.addresses' values, as the Gateway implementation reports them: where the names
    # of a WrappedGateway with spec.dnsEndpoint point
    addresses: tuple[str, ...] = ()

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "LiveGateway":
        metadata = obj.get("metadata") or {}
        controller: Mapping[str, Any] = next(
            (ref for ref in metadata.get("ownerReferences") or () if ref.get("controller")),
            {},
        )
        return cls(
            namespace=str(metadata.get("namespace")),
            name=str(metadata.get("name")),
            controller_uid=controller.get("uid"),
            controller_kind=controller.get("kind"),
            metadata={
                "labels": dict(metadata.get("labels") or {}),
                "annotations": dict(metadata.get("annotations") or {}),
            },
            spec=dict(obj.get("spec") or {}),
            addresses=tuple(
                str(address["value"])
                for address in (obj.get("status") or {}).get("addresses") or ()
                if isinstance(address, Mapping) and address.get("value")
            ),
        )

    def owned_by(self, uid: str) -> bool:
        return self.controller_kind == WRAPPED_KIND and self.controller_uid == uid

    @property
    def writer(self) -> ObjectKey:
        """The WrappedGateway that writes it: the one of its name."""
        return self.key


@dataclass(frozen=True, slots=True)
class LiveListenerSet(Namespaced):
    """The part of a ListenerSet the controller compares its desired ListenerSets with."""

    namespace: str
    name: str
    owner: str | None  # "namespace/name" of the WrappedGateway that wrote it, as it claims
    metadata: Mapping[str, Any]  # labels and annotations
    spec: Mapping[str, Any]
    parent: ObjectKey | None  # the Gateway it attaches to
    # Field managers other than the controller holding part of its spec: a listener anyone
    # else adds survives the controller's applies, which only ever set their own fields.
    spec_writers: tuple[str, ...]

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> "LiveListenerSet":
        metadata = obj.get("metadata") or {}
        annotations = dict(metadata.get("annotations") or {})
        spec = dict(obj.get("spec") or {})
        namespace = str(metadata.get("namespace"))
        return cls(
            namespace=namespace,
            name=str(metadata.get("name")),
            owner=annotations.get(OWNER_ANNOTATION),
            metadata={"labels": dict(metadata.get("labels") or {}), "annotations": annotations},
            spec=spec,
            parent=_parent_gateway(spec.get("parentRef"), namespace),
            spec_writers=_other_spec_writers(metadata.get("managedFields")),
        )

    @property
    def writer(self) -> ObjectKey | None:
        """The WrappedGateway that wrote it, as it claims."""
        return ObjectKey.parse(self.owner) if self.owner else None


def _parent_gateway(ref: Any, namespace: str) -> ObjectKey | None:
    if not isinstance(ref, Mapping) or ref.get("kind", GATEWAY_KIND) != GATEWAY_KIND:
        return None
    if ref.get("group", GATEWAY_GROUP) != GATEWAY_GROUP:
        return None
    return ObjectKey(str(ref.get("namespace") or namespace), str(ref.get("name")))


def _other_spec_writers(managed_fields: Any) -> tuple[str, ...]:
    writers = {
        str(entry.get("manager"))
        for entry in managed_fields or ()
        if isinstance(entry, Mapping)
        and entry.get("manager") != FIELD_MANAGER
        and "f:spec" in (entry.get("fieldsV1") or {})
    }
    return tuple(sorted(writers))


def foreign_listener_sets(
    wrapped: WrappedGateway,
    named: Iterable[LiveListenerSet],
    attached: Iterable[LiveListenerSet],
) -> dict[str, str]:
    """Namespaces holding a ListenerSet that `wrapped` cannot vouch for, and what it is, of
    the ListenerSets `named` as the generated ones and those `attached` to its Gateway.

    The Gateway admits ListenerSets by namespace, not by name: a namespace is admitted only
    while every ListenerSet there that joins the Gateway, or has the generated name, is the
    controller's own and holds nothing anyone else wrote.
    """
    foreign: dict[str, str] = {}
    for live in named:
        where = f"ListenerSet {live.key}"
        if live.writer != wrapped.key:
            foreign[live.namespace] = f"{where} exists and " + (
                f"belongs to WrappedGateway {live.owner}"
                if live.owner
                else "was not written by wrapped-gateway"
            )
        elif live.spec_writers:
            foreign[live.namespace] = (
                f"{where} holds fields written by {', '.join(live.spec_writers)}, not by "
                "wrapped-gateway; it is deleted"
            )
    for live in attached:
        if live.name != wrapped.name:
            foreign.setdefault(
                live.namespace,
                f"ListenerSet {live.key}, which wrapped-gateway did not "
                f"write, attaches to Gateway {wrapped.key}",
            )
    return foreign


def elder_listener_set_writer(
    entry: WrappedEntry, same_named: Iterable[WrappedEntry]
) -> WrappedEntry | None:
    """The oldest other ListenerSets-mode WrappedGateway of `same_named` (those with the name of
    `entry`), if it is older: a route's parentRef names a ListenerSet by name alone, so of the
    WrappedGateways that would write ListenerSets of one name, only the oldest may."""
    rivals = [
        other for other in same_named if other.key != entry.key and other.writes_listener_sets
    ]
    elder = min(rivals, key=lambda rival: rival.precedence, default=None)
    return elder if elder is not None and elder.precedence < entry.precedence else None
