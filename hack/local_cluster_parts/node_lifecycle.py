"""Bringing the node up after the control plane, and every trace of it down again.

``start_node`` runs after kube-apiserver (which already listens on the node's bridge, made by
``prepare_node`` before it) and kube-controller-manager: it writes the CNI configuration,
starts containerd and imports the images built here (the pause image, the controller's),
then kube-scheduler, the kubelet (until its node is Ready) and kube-proxy.

``stop_node`` is the first half of ``down``: kube-controller-manager and kube-scheduler stop
first so that nothing replaces the Pods ``drain`` deletes while the kubelet still runs. After
the processes stopped, ``clean_host`` kills leftover shims, unmounts, and removes the cgroups,
the bridge, the route and the iptables chains. ``node_traces`` lists whatever of that is left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .api import Api
from .cni import (
    NODE_BRIDGE,
    NODE_IP,
    check_host_network_free,
    host_network_down,
    host_network_traces,
    host_network_up,
)
from .containerd import (
    import_images,
    mounts_under,
    shims_of,
    socket_path,
    start_containerd,
    stop_leftovers,
)
from .control_plane import SERVICE_RANGE
from .image import ensure_controller_image, ensure_pause_image
from .node import (
    NODE_NAME,
    cgroup_traces,
    drain,
    remove_cgroups,
    start_kube_proxy,
    start_kubelet,
    start_scheduler,
)
from .processes import State, process_alive, stop_components
from .reporting import ClusterError, timed


def prepare_node(state: State) -> None:
    """Checks, then the host network the API server binds to; recorded for ``down`` first."""
    if os.geteuid() != 0:
        raise ClusterError("the node (up --with-node) needs root: bridges, iptables, cgroups")
    check_host_network_free()
    state.node = {"name": NODE_NAME, "ip": NODE_IP, "bridge": NODE_BRIDGE}
    state.save()
    host_network_up(SERVICE_RANGE)


def start_node(
    state: State,
    bins: dict[str, Path],
    api: Api,
    versions: dict[str, Any],
    timeout: float,
) -> None:
    timings = state.timings
    pki = state.dir / "pki"
    with timed("images (pause, controller; cached by content)", timings):
        pause = ensure_pause_image(versions, timings)
        controller = ensure_controller_image(timings)
    with timed("start containerd", timings):
        start_containerd(state, bins, pause.reference, timeout)
    import_images(bins["ctr"], state.dir, [pause, controller], timings)
    state.node["images"] = {image.reference: str(image.archive) for image in (pause, controller)}
    with timed("start kube-scheduler", timings):
        start_scheduler(state, bins["kube-scheduler"], pki, timeout)
    with timed("start kubelet (until its node is Ready)", timings):
        start_kubelet(state, bins["kubelet"], pki, api, timeout)
    with timed("start kube-proxy", timings):
        start_kube_proxy(state, bins["kube-proxy"], pki, timeout)
    state.save()


def stop_node(state: State) -> None:
    """Stop the Pods' replacers, then the Pods themselves through the kubelet."""
    first = [c for c in state.components if c.name in ("kube-controller-manager", "kube-scheduler")]
    stop_components(first)
    kubelet = [c for c in state.components if c.name == "kubelet"]
    if state.server and kubelet and process_alive(kubelet[0].pid, kubelet[0].start_time):
        drain(Api(state.server, state.dir / "pki"))


def clean_host(state: State) -> None:
    """After every process stopped: what outlives them on the host."""
    stop_leftovers(state.dir)
    remove_cgroups()
    host_network_down(SERVICE_RANGE)


def node_traces(state_dir: Path) -> list[str]:
    """What a node left on this machine: shims, mounts, cgroups, links, routes, iptables rules."""
    return [
        *(f"containerd-shim pid {pid}" for pid in shims_of(socket_path(state_dir))),
        *(f"mount {m}" for m in mounts_under(state_dir)),
        *(f"cgroup {c}" for c in cgroup_traces()),
        *host_network_traces(SERVICE_RANGE),
    ]
