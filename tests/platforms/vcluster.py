"""The routes vCluster's syncer writes into its host namespace, rebuilt in Python.

vCluster cannot be built here (its module is not served by the Go module proxy), so the tests
write exactly what its syncer would. This follows loft-sh/vcluster v0.36.1 (commit
0c3bb166eeeb, 2026-07-29, the newest release; these files are unchanged on main at 487667546c58,
2026-08-21), read with the search tool:

- ``pkg/util/translate/single_namespace.go``: every namespaced object of the vCluster goes to
  its one host namespace, named ``SingleNamespaceHostName(name, namespace, vcluster)`` =
  ``SafeConcatName(name, "x", namespace, "x", vcluster)``.
- ``pkg/util/translate/translate.go``: ``SafeConcatName`` (joined with ``-``; beyond 63
  characters the first 52, ``-``, and 10 hex digits of the SHA-256 of the whole, ``.-`` made
  ``-``); ``HostMetadata`` / ``HostAnnotations`` / ``ApplyMaps``: the tenant's annotations
  copied, ``vcluster.loft.sh/managed-annotations`` listing them, and ``vcluster.loft.sh/object-*``
  set by the syncer; ``GetOwnerReference``: the vCluster's Service, ``controller: false``
  (``experimental.syncSettings.setOwner``, true by default).
- ``pkg/util/translate/labels.go`` (``HostLabelsMap``): labels kept, except ``release``,
  ``vcluster.loft.sh/namespace``, ``vcluster.loft.sh/managed-by`` and
  ``vcluster.loft.sh/controlled-by``, renamed ``vcluster.loft.sh/label-<vcluster>-x-<sha256[:10]>``
  (and a tenant's label already spelt that way is dropped); then ``managed-by: <vcluster>`` and
  ``vcluster.loft.sh/namespace: <virtual namespace>`` are set.
- ``pkg/controllers/resources/httproutes/translate.go``, ``tlsroutes/translate.go``: the spec
  copied, parentRefs and backendRefs rewritten by
  ``pkg/controllers/resources/gatewayroutes/translate/translate.go`` (``objectRefToHost``: name and
  namespace only; group, kind, sectionName and port kept; an implicit namespace made explicit when
  the host object is elsewhere). Only Gateway and Service parents are supported
  (``parentReferenceGVK``), so a ListenerSet parentRef is never synced.
- ``pkg/mappings/resources/gateways.go``: a Gateway imported with
  ``sync.fromHost.gateways.mappings.byName`` (``"host-ns/name": "virtual-ns/name"``) maps back to
  its host namespace and name; a name that maps to no import is left as it is (with tenant
  Gateway sync off), and the syncer then requires the host Gateway to be covered by a mapping
  (``ensureManagedHostObject``).
- ``pkg/controllers/resources/gatewayroutes/translate/policy.go``: an import's
  ``allowedHostnames`` is checked only for parentRefs whose virtual name maps to that import.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any

GROUP = "gateway.networking.k8s.io"
# pkg/util/translate/types.go
NAME_ANNOTATION = "vcluster.loft.sh/object-name"
NAMESPACE_ANNOTATION = "vcluster.loft.sh/object-namespace"
UID_ANNOTATION = "vcluster.loft.sh/object-uid"
KIND_ANNOTATION = "vcluster.loft.sh/object-kind"
HOST_NAME_ANNOTATION = "vcluster.loft.sh/object-host-name"
HOST_NAMESPACE_ANNOTATION = "vcluster.loft.sh/object-host-namespace"
MANAGED_ANNOTATIONS = "vcluster.loft.sh/managed-annotations"
MANAGED_LABELS = "vcluster.loft.sh/managed-labels"
NAMESPACE_LABEL = "vcluster.loft.sh/namespace"
MARKER_LABEL = "vcluster.loft.sh/managed-by"
CONTROLLER_LABEL = "vcluster.loft.sh/controlled-by"
RELEASE_LABEL = "release"
LABEL_PREFIX = "vcluster.loft.sh/label"
TRANSLATED_LABELS = (RELEASE_LABEL, NAMESPACE_LABEL, MARKER_LABEL, CONTROLLER_LABEL)
_SYNCER_ANNOTATIONS = (
    NAME_ANNOTATION,
    HOST_NAME_ANNOTATION,
    HOST_NAMESPACE_ANNOTATION,
    UID_ANNOTATION,
    KIND_ANNOTATION,
    NAMESPACE_ANNOTATION,
)


class NotSynced(Exception):
    """The syncer would refuse the route (an error Event on the tenant's route); the reason."""


def safe_concat_name(*parts: str) -> str:
    full = "-".join(parts)
    if len(full) > 63:
        digest = hashlib.sha256(full.encode()).hexdigest()
        return (full[:52] + "-" + digest[:10]).replace(".-", "-")
    return full


def host_name(name: str, namespace: str, vcluster: str) -> str:
    return safe_concat_name(name, "x", namespace, "x", vcluster)


def host_label(key: str, vcluster: str) -> str:
    if key not in TRANSLATED_LABELS:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return safe_concat_name(LABEL_PREFIX, vcluster, "x", digest[:10])


@dataclass(frozen=True)
class VCluster:
    """A vCluster as its syncer sees itself: its name, its host namespace, the host Gateways it
    imports (``sync.fromHost.gateways.mappings.byName``, host -> virtual ``namespace/name``) and
    the ``allowedHostnames`` of each (``allowedRoutes.overrides``), and its Service's uid (the
    owner of every synced object; None: no ownerReference)."""

    name: str
    host_namespace: str
    imports: dict[str, str] = field(default_factory=dict)
    allowed_hostnames: dict[str, tuple[str, ...]] = field(default_factory=dict)
    service_uid: str | None = None

    def synced_route(self, route: dict[str, Any]) -> dict[str, Any]:
        """The host object the syncer writes for the tenant's ``route`` (an HTTPRoute or TLSRoute
        as the tenant's API server stored it, uid included), or NotSynced."""
        vmeta = route["metadata"]
        vname, vnamespace = vmeta["name"], vmeta.get("namespace") or "default"
        spec = copy.deepcopy(route["spec"])
        self._check_hostname_policy(vnamespace, spec)
        for ref in spec.get("parentRefs") or []:
            self._parent_ref_to_host(vnamespace, ref)
        for rule in spec.get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                self._service_ref_to_host(vnamespace, ref)
        name = host_name(vname, vnamespace, self.name)
        metadata: dict[str, Any] = {
            "name": name,
            "namespace": self.host_namespace,
            "labels": self._labels(vmeta.get("labels") or {}, vnamespace),
            "annotations": self._annotations(route, name),
        }
        if self.service_uid:
            metadata["ownerReferences"] = [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": self.name,
                    "uid": self.service_uid,
                    "controller": False,
                }
            ]
        return {
            "apiVersion": route["apiVersion"],
            "kind": route["kind"],
            "metadata": metadata,
            "spec": spec,
        }

    def _labels(self, labels: dict[str, str], vnamespace: str) -> dict[str, str]:
        translated = {host_label(key, self.name) for key in TRANSLATED_LABELS}
        result = {
            host_label(key, self.name): value
            for key, value in labels.items()
            if key not in translated
        }
        result[MARKER_LABEL] = self.name
        result[NAMESPACE_LABEL] = vnamespace
        return result

    def _annotations(self, route: dict[str, Any], name: str) -> dict[str, str]:
        vmeta = route["metadata"]
        virtual = dict(vmeta.get("annotations") or {})
        excluded = (MANAGED_ANNOTATIONS, MANAGED_LABELS, *_SYNCER_ANNOTATIONS)
        managed = sorted(key for key in virtual if key not in excluded)
        result = {key: virtual[key] for key in managed}
        # ApplyMaps keeps the excluded keys of the target map, a copy of the tenant's own
        result.update({key: value for key, value in virtual.items() if key in excluded})
        if managed:
            result[MANAGED_ANNOTATIONS] = "\n".join(managed)
        else:
            result.pop(MANAGED_ANNOTATIONS, None)
        group, version = route["apiVersion"].split("/")
        result.update(
            {
                NAME_ANNOTATION: vmeta["name"],
                UID_ANNOTATION: vmeta.get("uid", ""),
                HOST_NAME_ANNOTATION: name,
                HOST_NAMESPACE_ANNOTATION: self.host_namespace,
                NAMESPACE_ANNOTATION: vmeta.get("namespace") or "default",
                KIND_ANNOTATION: f"{group}/{version}, Kind={route['kind']}",
            }
        )
        return result

    def _imported(self, namespace: str, name: str) -> str | None:
        """The host ``namespace/name`` of the import the tenant sees as ``namespace/name``."""
        for source, target in self.imports.items():
            target_namespace, target_name = target.split("/")
            source_namespace, source_name = source.split("/")
            if target_namespace == namespace and target_name in ("*", name):
                return f"{source_namespace}/{name if source_name == '*' else source_name}"
        return None

    def _covered(self, host: str) -> bool:
        return host in self.imports or f"{host.split('/', maxsplit=1)[0]}/*" in self.imports

    def _check_hostname_policy(self, vnamespace: str, spec: dict[str, Any]) -> None:
        for ref in spec.get("parentRefs") or []:
            if ref.get("group", GROUP) != GROUP or ref.get("kind", "Gateway") != "Gateway":
                continue
            host = self._imported(ref.get("namespace") or vnamespace, ref["name"])
            allowed = self.allowed_hostnames.get(host or "")
            if not allowed:
                continue
            for hostname in spec.get("hostnames") or []:
                if not any(_hostname_allowed(hostname, pattern) for pattern in allowed):
                    raise NotSynced(
                        f"hostname {hostname!r} is not permitted by imported Gateway "
                        f"{ref['name']!r} hostname policy"
                    )

    def _parent_ref_to_host(self, vnamespace: str, ref: dict[str, Any]) -> None:
        group, kind = ref.get("group", GROUP), ref.get("kind", "Gateway")
        if (group, kind) == ("", "Service"):
            self._service_ref_to_host(vnamespace, ref)
            return
        if (group, kind) != (GROUP, "Gateway"):
            raise NotSynced(f"parentRef group {group!r} kind {kind!r} is not supported")
        virtual = (ref.get("namespace") or vnamespace, ref["name"])
        host = self._imported(*virtual) or "/".join(virtual)
        if not self._covered(host):
            raise NotSynced(
                f"referenced Gateway {virtual[1]!r} in namespace {virtual[0]!r}: host Gateway "
                f"{host} is not managed by vCluster"
            )
        host_namespace, host_gateway = host.split("/")
        ref["name"] = host_gateway
        if ref.get("namespace") or host_namespace != self.host_namespace:
            ref["namespace"] = host_namespace

    def _service_ref_to_host(self, vnamespace: str, ref: dict[str, Any]) -> None:
        if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
            raise NotSynced(f"backendRef kind {ref.get('kind')!r} is not supported")
        ref["name"] = host_name(ref["name"], ref.get("namespace") or vnamespace, self.name)
        if ref.get("namespace"):
            ref["namespace"] = self.host_namespace


def _hostname_allowed(hostname: str, pattern: str) -> bool:
    hostname, pattern = hostname.strip().lower(), pattern.strip().lower()
    if pattern == hostname:
        return True
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return hostname.endswith(suffix) and hostname != suffix[1:]
    return False
