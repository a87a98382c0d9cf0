"""What ``up`` can be asked to start besides the control plane (``ClusterOptions``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Traefik's entryPoints unless asked otherwise: unprivileged, so that no root is needed
DATA_PLANE_PORTS = (8443, 9443)
# The test zone of up --with-external-dns: the examples' names are in it
DNS_ZONE = "example.com"


@dataclass(frozen=True)
class ClusterOptions:
    """What ``up`` starts besides etcd, kube-apiserver and kube-controller-manager."""

    gateway_api: str | None = None
    with_cert_manager: bool = False
    # cert-manager's ListenerSet certificate shim (with with_cert_manager): None runs it where
    # the API server serves gateway.networking.k8s.io/v1 ListenerSet; True insists
    cert_manager_listener_sets: bool | None = None
    # DNS servers (host:port) cert-manager's ACME HTTP-01 self-check resolves names with
    # (with with_cert_manager); empty: the system resolver
    acme_http01_nameservers: tuple[str, ...] = ()
    with_data_plane: bool = False
    data_plane_ports: tuple[int, ...] = DATA_PLANE_PORTS
    # a kubelet node (containerd, runc, CNI bridge, kube-scheduler, kube-proxy) running Pods;
    # needs root, and only one can run per machine
    with_node: bool = False
    # Knot serving dns_zone on 127.0.0.1 and external-dns publishing into it (rfc2136)
    with_external_dns: bool = False
    dns_zone: str = DNS_ZONE
    # what external-dns reads: "crd" (DNSEndpoints) and/or its gateway-*route sources
    external_dns_sources: tuple[str, ...] = ("crd",)
    external_dns_listener_sets: bool = False  # its --gateway-listener-sets
    external_dns_annotation_prefix: str = "external-dns.kubernetes.io/"
    external_dns_interval: str = "10s"  # full syncs besides those on watched changes
    extra_crd_dirs: tuple[Path, ...] = ()
    timeout: float = 120.0  # seconds to wait for each component
