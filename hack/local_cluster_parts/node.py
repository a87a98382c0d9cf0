"""The node of ``up --with-node``: kubelet, kube-scheduler and kube-proxy, so that Pods run.

All three come from the same k8s.io/kubernetes module and version as the API server
(``kubernetes_node`` in versions.json). The kubelet registers node ``NODE_NAME`` at the bridge's
address (``cni.NODE_IP``) with a client certificate of group ``system:nodes`` (bound to
ClusterRole ``system:node``: authorization is RBAC only), serves its API there for the API
server (``pods/log``, i.e. ``kubectl logs``) and keeps every directory, log and cgroup of its
own under the cluster's: cgroups under ``CGROUP_ROOT`` in each cgroup v1 hierarchy (this
machine runs cgroups v1, which kubelet v1.36 refuses unless ``failCgroupV1: false``).
kube-proxy (iptables mode) makes Services work, the ``kubernetes`` one included.

``drain`` runs first on the way down: it deletes every Pod while the kubelet still runs so that
the kubelet tears their sandboxes and network down itself; ``remove_cgroups`` then removes what
is left under ``CGROUP_ROOT``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import ssl
import time
from pathlib import Path
from typing import Any

import yaml

from .api import Api, ApiError
from .cni import NODE_IP, POD_SUBNET
from .containerd import socket_path
from .pki import kubeconfig_yaml
from .processes import Component, State, free_port, start_process, wait_for
from .reporting import log

NODE_NAME = "local-cluster-node"
CGROUP_ROOT = "local-cluster-node"
CGROUP_FS = Path("/sys/fs/cgroup")
KUBELET_PORT = 10250  # the API server reaches the kubelet on the node IP at this port

# What Deployments and Pods need of kube-controller-manager beyond the control plane's: without
# node-lifecycle the node's not-ready taint stays and nothing is scheduled.
NODE_CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "disruption-controller",
    "pod-garbage-collector-controller",
    "ttl-after-finished-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
)


def _hierarchies(*, unified: bool = False) -> list[Path]:
    """The cgroup v1 hierarchies kubelet checks and runc uses, the named systemd one too;
    with ``unified`` the (hybrid mode's) cgroup v2 one too, where runc makes groups as well."""
    return [
        p
        for p in sorted(CGROUP_FS.iterdir())
        if p.is_dir() and not p.is_symlink() and (unified or p.name != "unified")
    ]


def make_cgroups() -> None:
    for hierarchy in _hierarchies():
        root = hierarchy / CGROUP_ROOT
        root.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":  # a v1 cpuset child starts empty: give it the parent's
            for knob in ("cpuset.cpus", "cpuset.mems"):
                (root / knob).write_text((hierarchy / knob).read_text())


def cgroup_traces() -> list[str]:
    return [str(h / CGROUP_ROOT) for h in _hierarchies(unified=True) if (h / CGROUP_ROOT).exists()]


def remove_cgroups() -> None:
    """Kill what still runs under CGROUP_ROOT, then remove its cgroups, deepest first."""
    for hierarchy in _hierarchies(unified=True):
        root = hierarchy / CGROUP_ROOT
        if not root.exists():
            continue
        groups = sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for group in [*groups, root]:
            with contextlib.suppress(OSError):
                for pid in (group / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for group in [*groups, root]:
            for _ in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


def bind_nodes_group(api: Api) -> None:
    """With RBAC-only authorization the node's group needs ClusterRole system:node."""
    api.apply(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "local-cluster:system:nodes"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:node",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}
            ],
        }
    )


def _kubelet_config(state_dir: Path, pki: Path, healthz_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "address": NODE_IP,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{socket_path(state_dir)}",
        "podLogsDir": str(state_dir / "pod-logs"),
        "podCIDR": POD_SUBNET,
        "failSwapOn": False,
        "serializeImagePulls": False,
        # this machine's disk and memory are shared with other work: evict only when nearly out
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "resolvConf": "/etc/resolv.conf",
        "rotateCertificates": False,
        "registerNode": True,
        "nodeStatusReportFrequency": "10s",
    }


def _node_ready(api: Api) -> bool:
    try:
        node = api.request("GET", f"/api/v1/nodes/{NODE_NAME}")
    except ApiError:
        return False
    conditions = (node.get("status") or {}).get("conditions", [])
    taints = (node.get("spec") or {}).get("taints") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready and not any(t["key"].startswith("node.kubernetes.io/") for t in taints)


def start_kubelet(
    state: State, kubelet_bin: Path, pki: Path, api: Api, timeout: float
) -> Component:
    """Start the kubelet; ready once its node is Ready and without not-ready taints."""
    base = state.dir / "kubelet"
    base.mkdir(parents=True, exist_ok=True)
    config = base / "config.yaml"
    config.write_text(yaml.safe_dump(_kubelet_config(state.dir, pki, free_port())))
    kubeconfig = pki / "node.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "node"))
    make_cgroups()
    bind_nodes_group(api)
    comp = start_process(
        state,
        "kubelet",
        [
            str(kubelet_bin),
            f"--config={config}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={base / 'root'}",
            f"--cert-dir={base / 'pki'}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}",
            "--v=1",
        ],
        [KUBELET_PORT],
    )
    wait_for(comp, lambda: _node_ready(api), f"Ready (node {NODE_NAME})", timeout)
    return comp


def start_scheduler(state: State, scheduler_bin: Path, pki: Path, timeout: float) -> Component:
    kubeconfig = pki / "scheduler.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "scheduler"))
    port = free_port()
    comp = start_process(
        state,
        "kube-scheduler",
        [
            str(scheduler_bin),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--leader-elect=false",
        ],
        [port],
    )
    wait_for(comp, lambda: _https_healthz(port), "healthy (/healthz)", timeout)
    return comp


def _https_healthz(port: int) -> bool:
    """/healthz of a component serving a self-signed certificate of its own on loopback."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # its certificate is made at start-up, from no CA of ours
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def start_kube_proxy(state: State, proxy_bin: Path, pki: Path, timeout: float) -> Component:
    base = state.dir / "kube-proxy"
    base.mkdir(parents=True, exist_ok=True)
    kubeconfig = pki / "proxy.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "proxy"))
    healthz = free_port()
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": POD_SUBNET,
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz}",
        "metricsBindAddress": f"127.0.0.1:{free_port()}",
        # no sysctls root cannot set here, no NodePorts on loopback
        "conntrack": {"maxPerCore": 0},
        "iptables": {"localhostNodePorts": False},
        "nodePortAddresses": [f"{NODE_IP}/32"],
    }
    (base / "config.yaml").write_text(yaml.safe_dump(config))
    comp = start_process(
        state, "kube-proxy", [str(proxy_bin), f"--config={base / 'config.yaml'}"], [healthz]
    )

    def healthy() -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", healthz, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    wait_for(comp, healthy, "healthy (/healthz)", timeout)
    return comp


def drain(api: Api, timeout: float = 60.0) -> None:
    """Delete every Pod and wait until the kubelet has stopped them (and they are gone)."""
    try:
        pods = api.request("GET", "/api/v1/pods")["items"]
    except (ApiError, OSError) as e:
        log(f"node: cannot list Pods to stop them ({e}); their processes are killed instead")
        return
    for pod in pods:
        meta = pod["metadata"]
        with contextlib.suppress(ApiError, OSError):
            api.request(
                "DELETE",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                body=json.dumps({"gracePeriodSeconds": 1}).encode(),
            )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ApiError, OSError):
            if not api.request("GET", "/api/v1/pods")["items"]:
                return
        time.sleep(0.5)
    log("node: Pods still there after draining; their processes are killed instead")
