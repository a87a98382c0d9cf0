"""`wrapped-gateway run` options; every flag also reads an environment variable."""

import argparse
import os
from typing import Any

from wrapped_gateway.controller.settings import Election, LeaseTiming, Settings

ENV_PREFIX = "WRAPPED_GATEWAY_"


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name, default)


def _env_flag(name: str) -> bool:
    return (_env(name, "") or "").lower() in ("1", "true", "yes", "on")


def _option(
    parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup,
    flag: str,
    env: str,
    help: str,
    **options: Any,
) -> None:
    """A flag whose default comes from the environment variable WRAPPED_GATEWAY_<env>.

    String defaults go through the flag's `type`, so a malformed variable is reported like a
    malformed flag.
    """
    if options.get("action") == "store_true":
        options["default"] = _env_flag(env)
    elif options.get("action") != "append":
        options["default"] = _env(env, options.get("default"))
    parser.add_argument(flag, help=f"{help} (env {ENV_PREFIX}{env})", **options)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group()
    _option(
        scope,
        "--namespace",
        "NAMESPACES",
        "watch only this namespace; repeatable, or comma-separated in the variable",
        dest="namespaces",
        action="append",
        default=[n for n in (_env("NAMESPACES", "") or "").split(",") if n],
        metavar="NS",
    )
    _option(
        scope,
        "--all-namespaces",
        "ALL_NAMESPACES",
        "watch every namespace (the default)",
        action="store_true",
    )
    parser.add_argument(
        "--kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="kubeconfig to use out of cluster (env KUBECONFIG); in a pod, the service account",
    )
    for flag, env, description, options in _options():
        _option(parser, flag, env, description, **options)


def _options() -> tuple[tuple[str, str, str, dict[str, Any]], ...]:
    """flag, environment variable, help, argparse's options; read when the parser is made,
    as some defaults come from the environment."""
    return (
        ("--health-address", "HEALTH_ADDRESS", "serves /healthz and /readyz", {"default": ":8081"}),
        ("--metrics-address", "METRICS_ADDRESS", "serves /metrics", {"default": ":8080"}),
        ("--leader-election", "LEADER_ELECTION",
         "act only while holding the Lease, so several replicas can run", {"action": "store_true"}),
        ("--leader-election-namespace", "LEADER_ELECTION_NAMESPACE",
         "namespace of the Lease; defaults to POD_NAMESPACE",
         {"default": os.environ.get("POD_NAMESPACE", "default")}),
        ("--lease-name", "LEASE_NAME", "name of the Lease", {"default": "wrapped-gateway"}),
        ("--lease-duration", "LEASE_DURATION", "seconds a Lease holds without renewal",
         {"type": float, "default": "15"}),
        ("--renew-deadline", "RENEW_DEADLINE", "seconds the leader may fail to renew",
         {"type": float, "default": "10"}),
        ("--retry-period", "RETRY_PERIOD", "seconds between Lease attempts",
         {"type": float, "default": "2"}),
        ("--log-level", "LOG_LEVEL", "log level",
         {"default": "info", "choices": ("debug", "info", "warning", "error")}),
        ("--log-format", "LOG_FORMAT", "log format",
         {"default": "text", "choices": ("text", "json")}),
        ("--workers", "WORKERS", "concurrent reconciles", {"type": int, "default": "4"}),
        ("--settle-seconds", "SETTLE_SECONDS",
         "how long a WrappedGateway rests after a reconcile before the next, so bursts coalesce; "
         "a change to an idle one is reconciled at once", {"type": float, "default": "0.2"}),
        ("--burst-hold-seconds", "BURST_HOLD_SECONDS",
         "while changes come to many WrappedGateways at once (10 or more within a second), a "
         "reconciled one waits for the burst to end, at most this long, before the next "
         "reconcile (0: never)", {"type": float, "default": "30"}),
        ("--resync-seconds", "RESYNC_SECONDS",
         "re-check every WrappedGateway this often (writes only on drift)",
         {"type": float, "default": "600"}),
    )  # fmt: skip


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        kubeconfig=args.kubeconfig,
        namespaces=() if args.all_namespaces else tuple(args.namespaces),
        health_address=args.health_address,
        metrics_address=args.metrics_address,
        election=Election(
            args.leader_election_namespace,
            args.lease_name,
            # os's, not socket's and uuid's: those two are a tenth of `render`'s start-up.
            f"{os.uname().nodename}-{os.urandom(4).hex()}",
            LeaseTiming(args.lease_duration, args.renew_deadline, args.retry_period),
        )
        if args.leader_election
        else None,
        log_level=args.log_level,
        log_format=args.log_format,
        workers=args.workers,
        settle_seconds=args.settle_seconds,
        burst_hold_seconds=args.burst_hold_seconds,
        resync_seconds=args.resync_seconds,
    )
