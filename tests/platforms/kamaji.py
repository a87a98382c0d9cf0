"""The objects Kamaji writes for a TenantControlPlane exposed through a Gateway, rebuilt in Python.

Kamaji's controller cannot be built here (its module is not served by the Go module proxy), so
the tests write exactly what it would. This follows clastix/kamaji 26.8.2-edge (commit
ddbabd87ed0e, 2026-08-03; Kamaji publishes edge releases only), read with the search tool:

- ``internal/resources/k8s_gateway_resource.go`` (``KubernetesGatewayResource.Define`` and
  ``mutate``): for ``spec.controlPlane.gateway`` a TLSRoute named like the TenantControlPlane,
  in its namespace; labels ``KamajiLabels(tcp, "gateway_routes")`` merged with
  ``additionalMetadata.labels``; annotations ``additionalMetadata.annotations``; parentRefs
  ``spec.controlPlane.gateway.parentRefs`` verbatim; ``hostnames: [gateway.hostname]``; one
  rule to the Service ``status.kubernetes.service`` (name, port); a controller ownerReference
  to the TenantControlPlane (``controllerutil.SetControllerReference``).
- ``internal/resources/konnectivity/gateway_resource.go``: with ``spec.addons.konnectivity``, a
  second TLSRoute ``<tcp>-konnectivity``, the same but labelled
  ``konnectivity_gateway_routes``, backend ``status.addons.konnectivity.service``, and every
  parentRef a copy with ``port`` (the konnectivity Service port) and
  ``sectionName: konnectivity-server`` forced (``newParentRefsSpecWithPortAndSection``).
- ``internal/utilities/utilities.go`` (``KamajiLabels``), ``internal/constants/labels.go``.
- ``internal/resources/k8s_service_resource.go`` and ``konnectivity/service_resource.go``: the
  Service ``<tcp>``, port 0 ``kube-apiserver`` (``networkProfile.port``) and port 1
  ``konnectivity-server`` (``addons.konnectivity.server.port``, default 8132).
- ``internal/resources/k8s_gateway_utils.go`` and ``UpdateTenantControlPlaneStatus`` of both
  resources: how Kamaji reads the route status back (``status_problem``, ``access_points``).

Kamaji writes TLSRoute ``gateway.networking.k8s.io/v1`` since 26.6.2-edge (#1162); up to
26.6.1-edge it wrote the same objects as ``v1alpha2`` (the only difference in these files
between the two releases), which is what Traefik v3.6 reads, so the end-to-end test writes
them as v1alpha2.
"""

from __future__ import annotations

import copy
from typing import Any

GROUP = "gateway.networking.k8s.io"
KAMAJI_API_VERSION = "kamaji.clastix.io/v1alpha1"
KONNECTIVITY_SECTION = "konnectivity-server"  # forced by Kamaji on every konnectivity parentRef
DEFAULT_API_PORT = 6443
DEFAULT_KONNECTIVITY_PORT = 8132
# internal/constants/labels.go
PROJECT_LABEL = "kamaji.clastix.io/project"
NAME_LABEL = "kamaji.clastix.io/name"
COMPONENT_LABEL = "kamaji.clastix.io/component"
# the resources' GetName(), the value of COMPONENT_LABEL on their routes
API_COMPONENT = "gateway_routes"
KONNECTIVITY_COMPONENT = "konnectivity_gateway_routes"


def tenant_control_plane(
    name: str,
    namespace: str,
    gateway: dict[str, Any],
    *,
    api_port: int = DEFAULT_API_PORT,
    konnectivity_port: int | None = DEFAULT_KONNECTIVITY_PORT,
) -> dict[str, Any]:
    """A TenantControlPlane with ``spec.controlPlane.gateway`` = ``gateway`` (``hostname``,
    ``parentRefs``, ``additionalMetadata``), konnectivity unless ``konnectivity_port`` is None,
    and the status fields Kamaji fills in before it writes the routes (its Service's name and
    ports)."""
    spec: dict[str, Any] = {
        "controlPlane": {"gateway": gateway, "service": {"serviceType": "ClusterIP"}},
        "networkProfile": {"port": api_port, "certSANs": [gateway["hostname"]]},
        "addons": {},
    }
    status: dict[str, Any] = {"kubernetes": {"service": {"name": name, "port": api_port}}}
    if konnectivity_port is not None:
        spec["addons"]["konnectivity"] = {"server": {"port": konnectivity_port}}
        status["addons"] = {"konnectivity": {"service": {"name": name, "port": konnectivity_port}}}
    return {
        "apiVersion": KAMAJI_API_VERSION,
        "kind": "TenantControlPlane",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": status,
    }


def service_ports(tcp: dict[str, Any]) -> list[tuple[str, int]]:
    """The ports of the Service ``<tcp>`` Kamaji writes: (name, port), in Kamaji's order."""
    ports = [("kube-apiserver", tcp["spec"]["networkProfile"]["port"])]
    konnectivity = tcp["spec"]["addons"].get("konnectivity")
    if konnectivity is not None:
        ports.append(("konnectivity-server", konnectivity["server"]["port"]))
    return ports


def tls_routes(tcp: dict[str, Any], *, version: str = "v1") -> list[dict[str, Any]]:
    """The TLSRoutes Kamaji writes for ``tcp``: ``<name>`` and, with konnectivity,
    ``<name>-konnectivity``. ``tcp["metadata"]["uid"]``, when set, goes into the controller
    ownerReference, as Kamaji sets it."""
    gateway = tcp["spec"]["controlPlane"]["gateway"]
    routes = [
        _route(
            tcp,
            API_COMPONENT,
            copy.deepcopy(gateway["parentRefs"]),
            tcp["status"]["kubernetes"]["service"],
            version,
        )
    ]
    if tcp["spec"]["addons"].get("konnectivity") is not None:
        service = tcp["status"]["addons"]["konnectivity"]["service"]
        forced = [
            {**copy.deepcopy(ref), "port": service["port"], "sectionName": KONNECTIVITY_SECTION}
            for ref in gateway["parentRefs"]
        ]
        routes.append(
            _route(
                tcp,
                KONNECTIVITY_COMPONENT,
                forced,
                service,
                version,
            )
        )
    return routes


def _route(
    tcp: dict[str, Any],
    component: str,
    parent_refs: list[dict[str, Any]],
    service: dict[str, Any],
    version: str,
) -> dict[str, Any]:
    additional = tcp["spec"]["controlPlane"]["gateway"].get("additionalMetadata", {})
    labels = {
        PROJECT_LABEL: "kamaji",
        NAME_LABEL: tcp["metadata"]["name"],
        COMPONENT_LABEL: component,
        **additional.get("labels", {}),
    }
    name = tcp["metadata"]["name"]
    metadata: dict[str, Any] = {
        "name": f"{name}-konnectivity" if component == KONNECTIVITY_COMPONENT else name,
        "namespace": tcp["metadata"]["namespace"],
        "labels": labels,
    }
    if additional.get("annotations"):
        metadata["annotations"] = dict(additional["annotations"])
    if tcp["metadata"].get("uid"):
        metadata["ownerReferences"] = [
            {
                "apiVersion": KAMAJI_API_VERSION,
                "kind": "TenantControlPlane",
                "name": tcp["metadata"]["name"],
                "uid": tcp["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": f"{GROUP}/{version}",
        "kind": "TLSRoute",
        "metadata": metadata,
        "spec": {
            "parentRefs": parent_refs,
            "hostnames": [tcp["spec"]["controlPlane"]["gateway"]["hostname"]],
            "rules": [{"backendRefs": [{"name": service["name"], "port": service["port"]}]}],
        },
    }


def status_problem(route: dict[str, Any]) -> str | None:
    """The error Kamaji's ``UpdateTenantControlPlaneStatus`` returns for this route's status
    (it then retries and never reports the access points), or None."""
    parents = (route.get("status") or {}).get("parents") or []
    hostnames = route["spec"].get("hostnames") or []
    if not parents:
        return "no gateway attached to the route"
    if len(parents) > 1:
        return "too many gateway attached to the route"
    if len(hostnames) != 1:
        return "no hostname in the route" if not hostnames else "too many hostnames in the route"
    return None


def access_points(route: dict[str, Any], gateway: dict[str, Any]) -> list[str]:
    """``BuildGatewayAccessPointsStatus``: the URLs Kamaji reports for the route.

    For each Accepted parent: with a sectionName, that listener of a Programmed Gateway (if it
    is TLS and on the parentRef's port); without, every TLS listener of the Gateway on the
    parentRef's port. One ``https://<hostname>:<listener port>`` per listener and hostname.
    """
    if not _condition_true(gateway.get("status") or {}, "Programmed"):
        return []
    points = []
    for parent in (route.get("status") or {}).get("parents") or []:
        if not _condition_true(parent, "Accepted"):
            continue
        ref = parent["parentRef"]
        namespace = ref.get("namespace") or route["metadata"]["namespace"]
        if (namespace, ref["name"]) != (
            gateway["metadata"]["namespace"],
            gateway["metadata"]["name"],
        ):
            continue
        listeners = gateway["spec"]["listeners"]
        if ref.get("sectionName"):
            listeners = [item for item in listeners if item["name"] == ref["sectionName"]]
        for listener in listeners:
            if listener["protocol"] != "TLS":
                continue
            if ref.get("port") is not None and listener["port"] != ref["port"]:
                continue
            points.extend(
                f"https://{hostname}:{listener['port']}" for hostname in route["spec"]["hostnames"]
            )
    return points


def _condition_true(obj: dict[str, Any], kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in obj.get("conditions") or [])
