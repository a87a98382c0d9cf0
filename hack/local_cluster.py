"""A real, local Kubernetes control plane built from Go modules, for tests and demos.

``hack/local-cluster`` is the command line front end of this module; the e2e fixtures in
``tests/e2e/conftest.py`` import it directly (pytest puts ``hack/`` on ``sys.path``). This
module is the public face: the code lives in ``hack/local_cluster_parts/``, one module per
component, and what tests, benches and the demo use is re-exported here.

What ``up`` does:

1. builds (or reuses from the cache) etcd, kube-apiserver and kube-controller-manager with
   ``go build`` from the module versions pinned in ``hack/versions.json``;
2. creates a throw-away PKI with ``openssl`` (CA, API server serving cert, admin client cert,
   ServiceAccount signing key);
3. starts etcd, kube-apiserver (RBAC, client-cert admin, TokenRequest) and
   kube-controller-manager (garbage collector, namespace, serviceaccount controllers) in the
   background, on 127.0.0.1 and free ports, logging to ``DIR/logs/``;
4. installs the Gateway API CRDs from the Go module cache and the project's ``crds/*.yaml``
   (and cert-manager's, with ``with_cert_manager``), waits until all are Established and
   ``/readyz`` is ok;
5. with ``with_cert_manager``: starts cert-manager's controllers (our own small ``main`` in
   ``hack/cert-manager-controller/`` over cert-manager's public packages, built from its
   module) and waits until its informer caches have synced;
6. with ``with_node`` (root): a node, kubelet, kube-scheduler, kube-proxy, containerd, runc
   and a CNI bridge, with the pause and controller images built here (``image.py``) loaded;
   the API server then listens on the node's address (see ``node_lifecycle.py``);
7. with ``with_data_plane``: creates GatewayClass ``traefik`` and starts Traefik (its
   kubernetesGateway provider, one entryPoint per data-plane port on 127.0.0.1) and waits until
   it accepted the class;
7. with ``with_external_dns``: starts Knot, authoritative for a test zone on 127.0.0.1, and
   external-dns publishing into it over RFC 2136 (built from its module, cached); then writes
   ``DIR/kubeconfig``.

``down`` stops exactly the processes recorded in ``DIR/state.json`` and removes the state.
"""

from __future__ import annotations

import sys

from local_cluster_parts.api import Api, ApiError
from local_cluster_parts.build import (
    BUILDABLE,
    CONTROL_PLANE,
    _version_ldflags,  # checked by the tests
    binary_path,
    cache_dir,
    ensure_all_binaries,
    ensure_binaries,
    go_mod_download,
    load_versions,
)
from local_cluster_parts.cert_manager import cert_manager_crd_dir
from local_cluster_parts.cli import _port_list, main  # _port_list: checked by the tests
from local_cluster_parts.cluster import down, status, up
from local_cluster_parts.cni import NODE_IP, POD_SUBNET
from local_cluster_parts.crds import gateway_api_crd_dir
from local_cluster_parts.gomod import kubernetes_replaces, module_excludes, module_replaces
from local_cluster_parts.image import (
    DEB_TOOLS,
    chart_app_version,
    ensure_controller_image,
    ensure_pause_image,
)
from local_cluster_parts.knot import knotd_binary, query_addresses
from local_cluster_parts.node import NODE_NAME
from local_cluster_parts.node_lifecycle import node_traces
from local_cluster_parts.options import DATA_PLANE_PORTS, ClusterOptions
from local_cluster_parts.pki import kubeconfig_yaml, make_pki
from local_cluster_parts.processes import (
    Component,
    State,
    free_port,
    port_in_use,
    process_alive,
    start_process,
    stop_components,
    stop_process,
    wait_for,
)
from local_cluster_parts.reporting import ClusterError, log, timed
from local_cluster_parts.traefik import DATA_PLANE_GATEWAY_CLASS, gateway_class_accepted

__all__ = [
    "BUILDABLE",
    "CONTROL_PLANE",
    "DATA_PLANE_GATEWAY_CLASS",
    "DATA_PLANE_PORTS",
    "DEB_TOOLS",
    "NODE_IP",
    "NODE_NAME",
    "POD_SUBNET",
    "Api",
    "ApiError",
    "ClusterError",
    "ClusterOptions",
    "Component",
    "State",
    "_port_list",
    "_version_ldflags",
    "binary_path",
    "cache_dir",
    "cert_manager_crd_dir",
    "chart_app_version",
    "down",
    "ensure_all_binaries",
    "ensure_binaries",
    "ensure_controller_image",
    "ensure_pause_image",
    "free_port",
    "gateway_api_crd_dir",
    "gateway_class_accepted",
    "go_mod_download",
    "knotd_binary",
    "kubeconfig_yaml",
    "kubernetes_replaces",
    "load_versions",
    "log",
    "main",
    "make_pki",
    "module_excludes",
    "module_replaces",
    "node_traces",
    "port_in_use",
    "process_alive",
    "query_addresses",
    "start_process",
    "status",
    "stop_components",
    "stop_process",
    "timed",
    "up",
    "wait_for",
]

if __name__ == "__main__":
    sys.exit(main())
