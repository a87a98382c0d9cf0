"""API groups, annotation names, refusal reasons and how an object is named, once for the whole
project."""

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

GATEWAY_GROUP: Final = "gateway.networking.k8s.io"
GATEWAY_API_VERSION: Final = f"{GATEWAY_GROUP}/v1"
GATEWAY_KIND: Final = "Gateway"
LISTENER_SET_KIND: Final = "ListenerSet"
LISTENER_SET_PLURAL: Final = "listenersets"
# external-dns's CRD (read with --source=crd): spec.dnsEndpoint publishes the accepted names there
DNS_ENDPOINT_GROUP: Final = "externaldns.k8s.io"
DNS_ENDPOINT_VERSION: Final = "v1alpha1"
DNS_ENDPOINT_API_VERSION: Final = f"{DNS_ENDPOINT_GROUP}/{DNS_ENDPOINT_VERSION}"
DNS_ENDPOINT_KIND: Final = "DNSEndpoint"
DNS_ENDPOINT_PLURAL: Final = "dnsendpoints"

WRAPPED_GROUP: Final = "wrapped-gateway.dev"
# A label of an allowed hostname pattern that stands for the route's namespace.
NAMESPACE_PLACEHOLDER: Final = "{namespace}"
# The controller's server-side applies; a field any other manager holds is not the controller's.
FIELD_MANAGER: Final = "wrapped-gateway"
WRAPPED_VERSION: Final = "v1alpha1"
WRAPPED_API_VERSION: Final = f"{WRAPPED_GROUP}/{WRAPPED_VERSION}"
WRAPPED_KIND: Final = "WrappedGateway"
WRAPPED_PLURAL: Final = "wrappedgateways"

Resource = tuple[str, str, str]  # an API resource: group ("" for core), version, plural


class ObjectKey(NamedTuple):
    """A namespaced object's identity, spelled "namespace/name" wherever it is written out."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return self.spell(self.namespace, self.name)

    @staticmethod
    def spell(namespace: str, name: str) -> str:
        """How a key is written out; for the hot paths that need only that, not the key."""
        return f"{namespace}/{name}"

    @classmethod
    def parse(cls, spelled: str) -> "ObjectKey":
        """The key that `str` spelled `spelled`."""
        namespace, _, name = spelled.partition("/")
        return cls(namespace, name)

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> "ObjectKey":
        """The key of an API object, from its metadata."""
        metadata = obj.get("metadata") or {}
        return cls(str(metadata.get("namespace")), str(metadata.get("name")))


class Namespaced:
    """A model of a namespaced object: its `namespace` and `name`, and so its `key`."""

    __slots__ = ()
    namespace: str
    name: str

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.namespace, self.name)


# Annotations a route may carry. Ours come first; gateway-route-sync's are honoured so its
# users migrate without touching their routes; external-dns's hostname annotation is the one
# external-dns itself reads on TCP/UDP routes, so one annotation can serve both tools.
PORTS_ANNOTATION: Final = f"{WRAPPED_GROUP}/ports"
HOSTNAME_ANNOTATION: Final = f"{WRAPPED_GROUP}/hostname"
TLS_MODE_ANNOTATION: Final = f"{WRAPPED_GROUP}/tls-mode"
LEGACY_PREFIX: Final = "gateway-route-sync.homelab-helper.benfiola.com"
LEGACY_PORTS_ANNOTATION: Final = f"{LEGACY_PREFIX}/ports"
# The one port of a TCP/UDP route, as gateway-route-sync's users annotate their routes (its
# hostname they give in external-dns's annotation, which is read anyway).
LEGACY_PORT_ANNOTATION: Final = f"{LEGACY_PREFIX}/port"
LEGACY_HOSTNAME_ANNOTATION: Final = f"{LEGACY_PREFIX}/hostname"
# external-dns reads a comma-separated list; since v0.22 its default prefix is the second.
EXTERNAL_DNS_HOSTNAME_ANNOTATION: Final = "external-dns.alpha.kubernetes.io/hostname"
EXTERNAL_DNS_V022_HOSTNAME_ANNOTATION: Final = "external-dns.kubernetes.io/hostname"

PORTS_ANNOTATIONS: Final = (PORTS_ANNOTATION, LEGACY_PORTS_ANNOTATION, LEGACY_PORT_ANNOTATION)
HOSTNAME_ANNOTATIONS: Final = (HOSTNAME_ANNOTATION, LEGACY_HOSTNAME_ANNOTATION)
# external-dns publishes the names of the annotation its prefix names, whatever else the route
# carries: each one present is read besides the route's own, so none escapes the checks.
EXTERNAL_DNS_HOSTNAME_ANNOTATIONS: Final = (
    EXTERNAL_DNS_V022_HOSTNAME_ANNOTATION,
    EXTERNAL_DNS_HOSTNAME_ANNOTATION,
)

# cert-manager labels the temporary HTTPRoute of an ACME HTTP-01 challenge with this. Such a
# route must reach the HTTP listener the platform provides (port 80), not get an HTTPS one.
ACME_SOLVER_LABEL: Final = "acme.cert-manager.io/http01-solver"

# Written on the generated Gateway: which TCP/UDP listener serves which route hostname, since
# the Gateway API forbids a hostname on those listeners.
LISTENER_HOSTNAMES_ANNOTATION: Final = f"{WRAPPED_GROUP}/listener-hostnames"

# Metadata of a WrappedGateway that belongs to the object itself, not to the Gateway.
NOT_COPIED_ANNOTATION_PREFIXES: Final = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "kopf.zalando.org/",
)

# On every generated ListenerSet: the uid of the WrappedGateway that wrote it. ListenerSets live
# in the routes' namespaces, where an owner reference to the WrappedGateway is not allowed, so the
# controller finds (and deletes) its own ListenerSets by this label.
OWNER_UID_LABEL: Final = f"{WRAPPED_GROUP}/owner-uid"
OWNER_ANNOTATION: Final = f"{WRAPPED_GROUP}/owner"  # "namespace/name", for people

NAMESPACE_NAME_LABEL: Final = "kubernetes.io/metadata.name"

MAX_LISTENERS: Final = 64
# The listener-hostnames annotation stays far below the API server's 256 KiB limit on all of an
# object's annotations, whatever the number of TCP/UDP routes.
MAX_LISTENER_HOSTNAMES_SIZE: Final = 32 * 1024
# What a WrappedGateway's annotations may add to its Gateway: the API server's 256 KiB for all
# annotations, less the listener hostnames and room for the controller's own (the digest).
MAX_COPIED_ANNOTATIONS_SIZE: Final = 256 * 1024 - MAX_LISTENER_HOSTNAMES_SIZE - 4 * 1024
DEFAULT_TLS_PORT: Final = 443


class Reason:
    """Why a route, or one of its hostnames or ports, contributes no listener."""

    NOT_ALLOWED_NAMESPACE: Final = "NotAllowedNamespace"
    HOSTNAME_NOT_ALLOWED: Final = "HostnameNotAllowed"
    HOSTNAME_CONFLICT: Final = "HostnameConflict"
    PORT_CONFLICT: Final = "PortConflict"
    PORT_NOT_ALLOWED: Final = "PortNotAllowed"
    SECTION_NAME_CONFLICT: Final = "SectionNameConflict"
    AMBIGUOUS_SECTION_NAME: Final = "AmbiguousSectionName"
    TLS_MODE_CONFLICT: Final = "TLSModeConflict"
    TOO_MANY_LISTENERS: Final = "TooManyListeners"
    TOO_MANY_HOSTNAMES: Final = "TooManyHostnames"
    INVALID_PORTS: Final = "InvalidPorts"
    MISSING_PORTS: Final = "MissingPorts"
    NO_HOSTNAMES: Final = "NoHostnames"
    INVALID_HOSTNAME: Final = "InvalidHostname"
    INVALID_TLS_MODE: Final = "InvalidTLSMode"
    INVALID_SECTION_NAME: Final = "InvalidSectionName"
    INVALID_PARENT_REF: Final = "InvalidParentRef"
    INVALID_METADATA: Final = "InvalidMetadata"
    # ListenerSets mode
    NEEDS_LISTENER_SET_REF: Final = "NeedsListenerSetRef"
    CROSS_NAMESPACE_LISTENER_SET: Final = "CrossNamespaceListenerSet"
    SERVED_BY_STATIC_LISTENER: Final = "ServedByStaticListener"
    LISTENER_SET_NOT_OWNED: Final = "ListenerSetNotOwned"
