"""``up``, ``down`` and ``status`` of a local cluster: the components started in order.

``up`` builds what it needs (cached), makes the PKI, starts etcd and kube-apiserver, installs
the CRDs, starts kube-controller-manager and, as ``ClusterOptions`` ask, cert-manager, a node,
Traefik, Knot and external-dns, and writes ``DIR/kubeconfig``; if anything fails it stops what
it started and keeps the logs. ``down`` stops exactly the recorded processes and removes what
``up`` created.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any

from .build import CONTROL_PLANE, NODE, REPO_ROOT, ensure_all_binaries, load_versions
from .cert_manager import cert_manager_crd_dir, cert_manager_listener_sets, start_cert_manager
from .cni import NODE_IP
from .control_plane import (
    KUBERNETES_SERVICE_IP,
    start_apiserver,
    start_controller_manager,
    start_etcd,
)
from .crds import gateway_api_crd_dir, install_crds
from .external_dns import external_dns_crd_dir, start_external_dns
from .knot import knotd_binary, start_knot
from .node import NODE_CONTROLLERS
from .node_lifecycle import clean_host, prepare_node, start_node, stop_node
from .options import ClusterOptions
from .pki import kubeconfig_yaml, make_pki
from .processes import STATE_FILE, State, process_alive, stop_components
from .reporting import ClusterError, log, timed
from .traefik import check_data_plane_ports, start_traefik

# Files and directories ``up`` creates inside DIR; ``down`` removes exactly these.
STATE_ENTRIES = (
    "state.json",
    "kubeconfig",
    "pki",
    "etcd-data",
    "logs",
    "knot",  # with_external_dns
    # with_node
    "containerd",
    "kubelet",
    "kube-proxy",
    "cni",
    "pod-logs",
)


def _gateway_api_release(options: ClusterOptions, versions: dict[str, Any]) -> str:
    if options.gateway_api:
        return options.gateway_api
    if options.with_data_plane:
        return str(versions["traefik"]["gateway_api"])
    return str(versions["gateway_api"]["default"])


def up(directory: Path | str, options: ClusterOptions | None = None) -> State:
    """Build (cached) and start the control plane; return its state once everything is ready.

    ``with_data_plane`` also starts Traefik (GatewayClass ``traefik``, one entryPoint per
    port of ``data_plane_ports``) and, unless ``gateway_api`` says otherwise, installs the
    Gateway API release Traefik is built for (``traefik.gateway_api`` in versions.json).

    On failure the started processes are stopped (logs are kept) and ClusterError is raised.
    """
    options = options or ClusterOptions()
    directory = Path(directory).resolve()
    versions = load_versions()
    gateway_api = _gateway_api_release(options, versions)
    if (directory / STATE_FILE).exists():
        old = State.load(directory)
        if any(process_alive(c.pid, c.start_time) for c in old.components):
            raise ClusterError(
                f"a cluster is already running in {directory}; "
                f"run `hack/local-cluster down --dir {directory}` first"
            )
        remove_state(directory)
    _check_prerequisites(options)
    directory.mkdir(parents=True, exist_ok=True)
    state = State(dir=directory, gateway_api=gateway_api)
    t0 = time.monotonic()
    timings = state.timings
    try:
        keys = (
            *CONTROL_PLANE,
            *(("cert_manager",) if options.with_cert_manager else ()),
            *(("traefik",) if options.with_data_plane else ()),
            *(NODE if options.with_node else ()),
            *(("external_dns",) if options.with_external_dns else ()),
        )
        bins = ensure_all_binaries(versions, timings, keys)
        crd_dirs = [
            gateway_api_crd_dir(gateway_api, versions),
            REPO_ROOT / "crds",
            *([cert_manager_crd_dir(versions)] if options.with_cert_manager else []),
            *([external_dns_crd_dir(versions)] if options.with_external_dns else []),
        ]
        pki = directory / "pki"
        with timed("pki (openssl)", timings):
            make_pki(pki, (NODE_IP, KUBERNETES_SERVICE_IP) if options.with_node else ())
        if options.with_node:
            prepare_node(state)
        with timed("start etcd", timings):
            start_etcd(state, bins["etcd"], options.timeout)
        with timed("start kube-apiserver (until /readyz ok)", timings):
            apiserver, api = start_apiserver(
                state, bins["kube-apiserver"], pki, options.timeout, node=options.with_node
            )
        names = install_crds(
            api, apiserver, [*crd_dirs, *options.extra_crd_dirs], timings, options.timeout
        )
        # started after the CRDs are served, so that the garbage collector watches custom
        # resources from the start (it rediscovers resources added later only every 30s)
        with timed("start kube-controller-manager", timings):
            start_controller_manager(
                state,
                bins["kube-controller-manager"],
                api,
                options.timeout,
                NODE_CONTROLLERS if options.with_node else (),
            )
        if options.with_cert_manager:
            with timed("start cert-manager (until its caches synced)", timings):
                start_cert_manager(
                    state,
                    bins["cert-manager-controller"],
                    options.timeout,
                    listener_sets=cert_manager_listener_sets(
                        api, options.cert_manager_listener_sets, gateway_api
                    ),
                    acme_http01_nameservers=options.acme_http01_nameservers,
                )
        if options.with_node:
            start_node(state, bins, api, versions, options.timeout)
        if options.with_data_plane:
            with timed("start traefik (until it accepted its GatewayClass)", timings):
                start_traefik(state, bins["traefik"], api, versions, options)
        _start_dns(state, bins, options)
        state.kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "admin"))
        state.kubeconfig.chmod(0o600)
        timings["up total"] = time.monotonic() - t0
        state.save()
        log(
            f"timing: up total: {timings['up total']:.1f}s\n[local-cluster] ready: "
            f"{state.server} (kubeconfig: {state.kubeconfig}, "
            f"{len(names)} CRDs, logs: {directory / 'logs'})"
        )
        return state
    except BaseException:
        _stop_all(state)
        if state.components:
            log(f"stopped what was started; logs kept in {directory / 'logs'}")
        raise


def _check_prerequisites(options: ClusterOptions) -> None:
    """Fail before anything is built or started: the data plane's ports taken, no Knot."""
    if options.with_data_plane:
        check_data_plane_ports(options.data_plane_ports)
    if options.with_external_dns:
        knotd_binary()


def _start_dns(state: State, bins: dict[str, Path], options: ClusterOptions) -> None:
    """With ``with_external_dns``: Knot, authoritative for the test zone, then external-dns
    publishing into it."""
    if not options.with_external_dns:
        return
    with timed("start knot (until it serves its zone)", state.timings):
        start_knot(state, options.dns_zone, options.timeout)
    with timed("start external-dns (until its first sync)", state.timings):
        start_external_dns(state, bins["external-dns"], options)


def _stop_all(state: State) -> list[str]:
    """Stop the recorded processes (the node's Pods first) and clean the node's host state."""
    if state.node:
        with timed("down: the node's Pods (drain)"):
            stop_node(state)
    with timed("down: stop processes"):
        stopped = stop_components(state.components)
    if state.node:
        with timed("down: clean the host (shims, mounts, cgroups, network)"):
            clean_host(state)
    return stopped


def remove_state(directory: Path) -> None:
    for entry in STATE_ENTRIES:
        p = directory / entry
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()  # only if now empty


def down(directory: Path | str) -> list[str]:
    directory = Path(directory).resolve()
    if not (directory / STATE_FILE).exists():
        log(f"nothing recorded in {directory / STATE_FILE}; nothing to stop")
        return []
    state = State.load(directory)
    stopped = _stop_all(state)
    left = [c for c in state.components if process_alive(c.pid, c.start_time)]
    if left:
        raise ClusterError("could not stop: " + ", ".join(f"{c.name} (pid {c.pid})" for c in left))
    remove_state(directory)
    log("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return stopped


def status(directory: Path | str) -> int:
    directory = Path(directory).resolve()
    if not (directory / STATE_FILE).exists():
        print(f"no cluster in {directory}")
        return 1
    state = State.load(directory)
    ok = True
    for c in state.components:
        alive = process_alive(c.pid, c.start_time)
        ok &= alive
        print(
            f"{c.name:<24} pid {c.pid:<8} {'running' if alive else 'NOT RUNNING'}  "
            f"ports {c.ports}  log {c.log}"
        )
    print(f"server {state.server}\nkubeconfig {state.kubeconfig}")
    if state.data_plane:
        print(
            f"data plane: Traefik, GatewayClass {state.data_plane['gateway_class']}, entryPoints "
            + ", ".join(f"127.0.0.1:{p}" for p in state.data_plane["ports"])
        )
    if state.dns:
        print(
            f"DNS: Knot on {state.dns['server']}, zone {state.dns['zone']}; external-dns "
            f"sources {', '.join(state.external_dns.get('sources', []))}"
        )
    return 0 if ok else 1
