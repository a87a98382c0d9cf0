"""`wrapped-gateway run` options; every flag also reads an environment variable."""

import argparse
import os
import socket
import uuid
from dataclasses import dataclass

from wrapped_gateway.controller.leader import LeaseTiming

ENV_PREFIX = "WRAPPED_GATEWAY_"


@dataclass(frozen=True, slots=True)
class Settings:
    kubeconfig: str | None
    namespaces: tuple[str, ...]  # empty: all namespaces
    health_address: str
    metrics_address: str
    leader_election: bool
    leader_election_namespace: str
    lease_name: str
    identity: str
    lease_timing: LeaseTiming
    log_level: str
    log_format: str
    workers: int
    settle_seconds: float
    resync_seconds: float


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_flag(name: str) -> bool:
    return (_env(name, "") or "").lower() in ("1", "true", "yes", "on")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        default=[n for n in (_env("NAMESPACES", "") or "").split(",") if n],
        metavar="NS",
        help="watch only this namespace (repeatable; env WRAPPED_GATEWAY_NAMESPACES, "
        "comma-separated)",
    )
    scope.add_argument(
        "--all-namespaces",
        action="store_true",
        default=_env_flag("ALL_NAMESPACES"),
        help="watch every namespace (the default)",
    )
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig to use out of cluster (env KUBECONFIG); in a pod, the service account",
    )
    parser.add_argument("--health-address", default=_env("HEALTH_ADDRESS", ":8081"))
    parser.add_argument("--metrics-address", default=_env("METRICS_ADDRESS", ":8080"))
    parser.add_argument(
        "--leader-election",
        action="store_true",
        default=_env_flag("LEADER_ELECTION"),
        help="act only while holding the Lease, so several replicas can run",
    )
    parser.add_argument(
        "--leader-election-namespace",
        default=_env("LEADER_ELECTION_NAMESPACE", os.environ.get("POD_NAMESPACE", "default")),
    )
    parser.add_argument("--lease-name", default=_env("LEASE_NAME", "wrapped-gateway"))
    parser.add_argument(
        "--lease-duration", type=float, default=float(_env("LEASE_DURATION", "15") or 15)
    )
    parser.add_argument(
        "--renew-deadline", type=float, default=float(_env("RENEW_DEADLINE", "10") or 10)
    )
    parser.add_argument("--retry-period", type=float, default=float(_env("RETRY_PERIOD", "2") or 2))
    parser.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "info"),
        choices=("debug", "info", "warning", "error"),
    )
    parser.add_argument(
        "--log-format", default=_env("LOG_FORMAT", "text"), choices=("text", "json")
    )
    parser.add_argument("--workers", type=int, default=int(_env("WORKERS", "4") or 4))
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=float(_env("SETTLE_SECONDS", "0.2") or 0.2),
        help="how long a WrappedGateway waits after a change, so bursts coalesce",
    )
    parser.add_argument(
        "--resync-seconds",
        type=float,
        default=float(_env("RESYNC_SECONDS", "600") or 600),
        help="re-check every WrappedGateway this often (writes only on drift)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        kubeconfig=args.kubeconfig,
        namespaces=() if args.all_namespaces else tuple(args.namespaces),
        health_address=args.health_address,
        metrics_address=args.metrics_address,
        leader_election=args.leader_election,
        leader_election_namespace=args.leader_election_namespace,
        lease_name=args.lease_name,
        identity=f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}",
        lease_timing=LeaseTiming(args.lease_duration, args.renew_deadline, args.retry_period),
        log_level=args.log_level,
        log_format=args.log_format,
        workers=args.workers,
        settle_seconds=args.settle_seconds,
        resync_seconds=args.resync_seconds,
    )
