"""The command line of ``hack/local-cluster``: ``up``, ``down``, ``status`` and ``build``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .build import BUILDABLE, CONTROL_PLANE, ensure_all_binaries, load_versions
from .cluster import down, status, up
from .external_dns import SOURCES
from .image import ensure_controller_image, ensure_pause_image
from .options import DATA_PLANE_PORTS, DNS_ZONE, ClusterOptions
from .processes import State
from .reporting import ClusterError, log
from .traefik import DATA_PLANE_GATEWAY_CLASS

IMAGES = "images"  # not a Go module: built with buildah (image.py)


def _port_list(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ports: {text!r}") from None
    if not ports or any(not 0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
        raise argparse.ArgumentTypeError(f"want distinct ports 1-65535: {text!r}")
    return ports


def _source_list(text: str) -> tuple[str, ...]:
    sources = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(set(sources) - set(SOURCES))
    if not sources or unknown:
        raise argparse.ArgumentTypeError(f"want some of {', '.join(SOURCES)}: {text!r}")
    return sources


def _add_external_dns_options(p_up: argparse.ArgumentParser) -> None:
    p_up.add_argument(
        "--with-external-dns",
        action="store_true",
        help="also run Knot (from the Debian packages knot, knot-dnsutils) on 127.0.0.1, "
        "authoritative for --dns-zone, and external-dns publishing into it (rfc2136); "
        "external-dns is built from its pinned module on first use",
    )
    p_up.add_argument("--dns-zone", default=DNS_ZONE, help=f"the test zone (default: {DNS_ZONE})")
    p_up.add_argument(
        "--external-dns-sources",
        type=_source_list,
        default=("crd",),
        metavar="SOURCE,...",
        help="what external-dns reads: crd (the DNSEndpoints wrapped-gateway publishes; the "
        "default) and/or its Gateway API route sources "
        f"({', '.join(s for s in SOURCES if s != 'crd')})",
    )
    p_up.add_argument(
        "--external-dns-listener-sets",
        action="store_true",
        help="external-dns's --gateway-listener-sets: its route sources read ListenerSets too",
    )


def _report_started(state: State) -> None:
    """What ``up`` started besides the control plane, and where."""
    if state.data_plane:
        log(
            f"data plane: Traefik serves Gateways of GatewayClass "
            f"{state.data_plane['gateway_class']} on "
            + ", ".join(f"127.0.0.1:{p}" for p in state.data_plane["ports"])
        )
    if state.dns:
        log(
            f"DNS: Knot on {state.dns['server']} serves zone {state.dns['zone']}, "
            f"external-dns publishes into it from " + ", ".join(state.external_dns["sources"])
        )


def main(argv: list[str] | None = None) -> int:
    versions = load_versions()
    parser = argparse.ArgumentParser(
        prog="local-cluster",
        description="A real Kubernetes control plane (etcd, kube-apiserver, "
        "kube-controller-manager) built from pinned Go modules, on loopback.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="build (cached) and start; exits 0 once ready")
    p_up.add_argument("--dir", required=True, type=Path, help="state, logs and kubeconfig")
    p_up.add_argument(
        "--gateway-api",
        default=None,
        choices=sorted(versions["gateway_api"]["releases"]),
        help=f"Gateway API release ({versions['gateway_api']['default']} standard channel by "
        f"default, {versions['traefik']['gateway_api']} with --with-data-plane; v1.4.1 "
        "installs the experimental channel)",
    )
    p_up.add_argument(
        "--with-cert-manager",
        action="store_true",
        help="also install cert-manager's CRDs and run its controllers (Gateway API "
        "support enabled); built from the pinned cert-manager module on first use",
    )
    p_up.add_argument(
        "--cert-manager-listener-sets",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --with-cert-manager: run cert-manager's ListenerSet certificate shim (its "
        "alpha gate ListenerSets and --enable-gateway-api-listenerset); default: on when the "
        "Gateway API release serves gateway.networking.k8s.io/v1 ListenerSet (v1.5 and later)",
    )
    p_up.add_argument(
        "--with-data-plane",
        action="store_true",
        help="also run Traefik (its Gateway API provider, GatewayClass "
        f"'{DATA_PLANE_GATEWAY_CLASS}') as the Gateway implementation serving real traffic; "
        "built from the pinned Traefik module on first use",
    )
    p_up.add_argument(
        "--with-node",
        action="store_true",
        help="also run a node (as root): containerd, runc, CNI bridge, kubelet, kube-scheduler, "
        "kube-proxy, with the controller image built from Dockerfile loaded; one per machine",
    )
    p_up.add_argument(
        "--data-plane-ports",
        type=_port_list,
        default=DATA_PLANE_PORTS,
        metavar="PORT,...",
        help="Traefik's entryPoints, on 127.0.0.1: Gateway listeners on these ports are served "
        f"(default: {','.join(map(str, DATA_PLANE_PORTS))})",
    )
    _add_external_dns_options(p_up)
    p_up.add_argument(
        "--crds",
        action="append",
        type=Path,
        default=[],
        help="extra directory of CRD manifests to install (repeatable)",
    )
    p_up.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for each component"
    )
    p_down = sub.add_parser("down", help="stop the recorded processes and remove the state")
    p_down.add_argument("--dir", required=True, type=Path)
    p_build = sub.add_parser("build", help="only build (or reuse) the cached binaries")
    p_build.add_argument(
        "--rebuild", action="store_true", help="build again and replace the cached binaries"
    )
    p_build.add_argument(
        "components",
        nargs="*",
        default=[],
        metavar="COMPONENT",
        help=f"what to build: {', '.join(BUILDABLE)}, or {IMAGES} (the pause image and the "
        "controller's from Dockerfile, as docker-archive tarballs) "
        f"(default: the control plane, {' and '.join(CONTROL_PLANE)})",
    )
    p_status = sub.add_parser("status", help="show the recorded processes")
    p_status.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    buildable = (*BUILDABLE, IMAGES)
    unknown = {c for c in getattr(args, "components", []) if c.replace("-", "_") not in buildable}
    if args.command == "build" and unknown:
        parser.error(f"unknown component(s) {sorted(unknown)}; choose from {', '.join(buildable)}")
    try:
        if args.command == "up":
            state = up(
                args.dir,
                ClusterOptions(
                    gateway_api=args.gateway_api,
                    with_cert_manager=args.with_cert_manager,
                    cert_manager_listener_sets=args.cert_manager_listener_sets,
                    with_data_plane=args.with_data_plane,
                    with_node=args.with_node,
                    data_plane_ports=args.data_plane_ports,
                    with_external_dns=args.with_external_dns,
                    dns_zone=args.dns_zone,
                    external_dns_sources=args.external_dns_sources,
                    external_dns_listener_sets=args.external_dns_listener_sets,
                    extra_crd_dirs=tuple(args.crds),
                    timeout=args.timeout,
                ),
            )
            _report_started(state)
            print(f"export KUBECONFIG={state.kubeconfig}")
        elif args.command == "down":
            down(args.dir)
        elif args.command == "build":
            timings: dict[str, float] = {}
            t0 = time.monotonic()
            keys = tuple(c.replace("-", "_") for c in args.components) or CONTROL_PLANE
            go_keys = tuple(k for k in keys if k != IMAGES)
            paths = ensure_all_binaries(versions, timings, go_keys, rebuild=args.rebuild)
            if IMAGES in keys:  # cached by content: --rebuild does not apply
                images = (ensure_pause_image(versions, timings), ensure_controller_image(timings))
                paths |= {image.reference: image.archive for image in images}
            for path in paths.values():
                print(path)
            log(f"timing: build total: {time.monotonic() - t0:.1f}s")
        else:
            return status(args.dir)
    except ClusterError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return 0
