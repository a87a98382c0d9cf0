"""How fast one route change reaches the generated Gateway, against a real control plane.

Starts the local control plane (hack/local-cluster, built binaries from the cache) and
`wrapped-gateway run` with its default settings, then for each route count N:

1. creates a namespace with a WrappedGateway and N HTTPRoutes on it. The Gateway API allows
   64 listeners per Gateway, so the N routes share `--hostnames` hostnames (routes of one
   namespace share a listener). Every write of a Gateway costs the API server more with more
   listeners (the Gateway CRD's validation rules), so this sets the floor of the latency;
2. `--changes` times: creates one HTTPRoute with a fresh hostname and times, from just before
   the create call, until a watch on the Gateway shows its listener; then deletes the route and
   times until the listener is gone. Before each create and each delete it waits until the
   controller has finished no reconcile for `--quiet` seconds, so that every change meets an
   idle WrappedGateway (each apply is followed by a reconcile of the Gateway's own watch event,
   which a change arriving right after would wait for).

Then, unless `--burst-routes 0`, a burst: `--burst-routes` HTTPRoutes created as fast as
`--threads` client threads manage across `--burst-gateways` WrappedGateways (60 hostnames on
each), reporting how many applies each Gateway took and how long until all were complete.

With `--scale-routes`, a fresh controller process then holds each of those numbers of routes in
turn (added over `--scale-gateways` WrappedGateways, 60 hostnames each), and the bench prints
its peak RSS and CPU time once it has settled.

What the API server was asked to write in each phase comes from its own /metrics
(`apiserver_request_total`), by resource and verb, split into the controller's writes, Leases,
the bench's own writes (counted at the bench's API client) and the rest (the control plane's).
Before the controller starts, the control plane alone is watched for `--idle` seconds. At the
end, with the objects of the burst (or of `--scale-routes`) still in place, the controller is
watched idle for `--idle` seconds, then stopped and started again with nothing changed; then
restarted once more, and from the moment the controller is ready a route with a new hostname
is created and deleted every 2 s (`--restart-changes` times), timing how long each change
waits once the controller says it is ready (kopf lists and hands over every object again
after the controller's own listing; the controller is ready only once kopf has done so). The
bench waits until each namespace it deletes is gone, so that the writes the deletion causes
(the namespace controller's, and the controller's as the routes vanish) are a phase of their
own.

With `--handovers`, two replicas with leader election then take over from each other on the
standing routes (see `_handovers`): how long until a replica leads and a change lands when the
leader is killed beside a ready standby, and when it stops as a new replica starts.

Run from the repository root (the first run of the control plane needs its binaries built, see
hack/README.md):

    .venv/bin/python bench/controller_bench.py
    .venv/bin/python bench/controller_bench.py --routes 1000 --changes 20 --burst-routes 0
    .venv/bin/python bench/controller_bench.py --routes --changes 0           # the burst only
    .venv/bin/python bench/controller_bench.py --scale-routes 5000 20000      # plus RSS/CPU
    .venv/bin/python bench/controller_bench.py --routes --burst-routes 0 --scale-routes 20000 \
        --handovers                                                    # HA at 20,000 routes
    .venv/bin/python bench/controller_bench.py --kubeconfig /tmp/wg/kubeconfig  # a running one
    .venv/bin/python bench/controller_bench.py --source /tmp/older-checkout     # compare code
"""

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bench_cluster
from bench_cluster import (
    GW,
    REPO,
    ApiWrites,
    GatewayWatch,
    Usage,
    create_routes,
    http_ok,
    latency_stats,
    local_cluster,
    samples,
)
from kubernetes import client

WRAPPED = "wrapped-gateway.dev"
GATEWAY_HOSTNAMES = 60  # of each Gateway of the burst and of the scale runs
# What the controller writes (wrapped_gateway/controller/kube.py), by resource and verb.
CONTROLLER_WRITES = frozenset(
    {
        ("gateways", "APPLY"),
        ("listenersets", "APPLY"),
        ("listenersets", "DELETE"),
        ("wrappedgateways/status", "APPLY"),
        ("events", "POST"),
    }
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--hostnames", type=int, default=40, help="listeners of the N routes")
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--quiet", type=float, default=1.0, help="idle seconds before a change")
    parser.add_argument("--burst-routes", type=int, default=5000)
    parser.add_argument("--burst-gateways", type=int, default=50)
    parser.add_argument(
        "--scale-routes", type=int, nargs="*", default=[], help="RSS and CPU at these routes"
    )
    parser.add_argument("--scale-gateways", type=int, default=20)
    parser.add_argument("--idle", type=float, default=30, help="seconds of the idle phases")
    parser.add_argument(
        "--restart-changes", type=int, default=10, help="changes timed after a restart"
    )
    parser.add_argument(
        "--handovers",
        action="store_true",
        help="at the end, two replicas with leader election on the standing routes: the leader "
        "killed with a ready standby, then the leader stopped as a new replica starts",
    )
    parser.add_argument("--threads", type=int, default=8, help="client threads creating routes")
    parser.add_argument("--kubeconfig", type=Path, help="use this running cluster instead")
    parser.add_argument("--source", type=Path, default=REPO, help="checkout whose controller runs")
    args = parser.parse_args()

    print(f"load average at start: {bench_cluster.load_average()}")
    with (
        tempfile.TemporaryDirectory(prefix="controller-bench-") as scratch,
        bench_cluster.cluster(args.kubeconfig, Path(scratch)) as kubeconfig,
    ):
        api = bench_cluster.api_client(kubeconfig, args.threads)
        writes = ApiWrites(api, CONTROLLER_WRITES)
        _idle(writes, args.idle, "the control plane alone, before the controller starts")
        log = Path(scratch) / "controller.log"
        with _controller(kubeconfig, args.source, log) as controller:
            print(f"controller from {args.source.resolve()}, log {log}")
            for count in args.routes:
                _single_changes(api, controller, writes, count, args)
            standing = _burst(api, controller, writes, args) if args.burst_routes else None
            if args.scale_routes:
                if standing:
                    _delete_namespace(api, controller, writes, standing)
                # A fresh process, so that its peak RSS and CPU time are those of the scale run.
                controller.stop()
                controller.start()
                standing = _scale(api, controller, writes, args)
            _idle(writes, args.idle, f"the controller holding {_holding(controller)}")
            _restart(controller, writes)
            if standing:
                _changes_after_restart(api, controller, standing, args.restart_changes)
            if standing and args.handovers:
                controller.stop()  # it has no leader election: it would act beside the replicas
                logs = Path(scratch)

                def replica(name: str) -> Controller:
                    return Controller(kubeconfig, args.source, logs / f"{name}.log", ELECTION)

                _handovers(api, writes, standing, replica)
                controller.start()
            if standing and args.kubeconfig:  # the bench's own cluster goes away with all in it
                _delete_namespace(api, controller, writes, standing)
    print(f"load average at end: {bench_cluster.load_average()}")
    return 0


# --- scenarios ------------------------------------------------------------------------------
def _single_changes(
    api: client.ApiClient,
    controller: "Controller",
    writes: "ApiWrites",
    count: int,
    args: argparse.Namespace,
) -> None:
    custom = client.CustomObjectsApi(api)
    before = writes.snapshot()
    namespace = bench_cluster.create_namespace(api, f"bench-{count}-")
    custom.create_namespaced_custom_object(
        WRAPPED, "v1alpha1", namespace, "wrappedgateways", _wrapped(namespace, "gw")
    )
    gateways = GatewayWatch(api, namespace)
    applies_before = controller.metric("wrapped_gateway_applies_total")
    started = time.monotonic()
    base = [_route(namespace, f"r{i}", f"h{i % args.hostnames}.bench.example.com", "gw")
            for i in range(count)]  # fmt: skip
    create_routes(custom, base, args.threads)
    created = time.monotonic() - started
    expected = {f"h{i}.bench.example.com" for i in range(min(count, args.hostnames))}
    gateways.wait(lambda: gateways.hostnames("gw") == expected, timeout=120)
    _wait_for_quiet(controller)
    applies = controller.metric("wrapped_gateway_applies_total") - applies_before
    print(
        f"\n{count} routes with {len(expected)} hostnames on one WrappedGateway: created in "
        f"{created:.1f} s "
        f"({count / created:.0f}/s), {applies:.0f} applies"
    )
    writes.report(before, "while creating them")

    before = writes.snapshot()
    reconciles_before = controller.reconciles()
    added: list[float] = []
    create_calls: list[float] = []
    removed: list[float] = []
    for change in range(args.changes):
        name, hostname = f"change-{change}", f"change-{change}.bench.example.com"
        _wait_for_quiet(controller, args.quiet)
        started = time.monotonic()
        custom.create_namespaced_custom_object(
            GW, "v1", namespace, "httproutes", _route(namespace, name, hostname, "gw")
        )
        create_calls.append(time.monotonic() - started)
        added.append(gateways.wait_for_listener("gw", hostname, present=True) - started)
        _wait_for_quiet(controller, args.quiet)
        started = time.monotonic()
        custom.delete_namespaced_custom_object(GW, "v1", namespace, "httproutes", name)
        removed.append(gateways.wait_for_listener("gw", hostname, present=False) - started)
    _wait_for_quiet(controller, args.quiet)
    gateways.stop()
    count_after, seconds_after = controller.reconciles()
    reconciles = count_after - reconciles_before[0]
    reconcile_ms = (seconds_after - reconciles_before[1]) / reconciles * 1000
    print(f"  route created -> its listener in the Gateway: {latency_stats(added)}")
    print(f"    of which the create call itself:            {latency_stats(create_calls)}")
    print(f"  route deleted -> its listener gone:           {latency_stats(removed)}")
    print(
        f"  {reconciles / (2 * args.changes):.1f} reconciles per change, "
        f"{reconcile_ms:.0f} ms each on average"
    )
    writes.report(before, "during the changes")
    _delete_namespace(api, controller, writes, namespace)


def _burst(
    api: client.ApiClient, controller: "Controller", writes: "ApiWrites", args: argparse.Namespace
) -> str:
    """Returns the namespace of the burst, left in place."""
    custom = client.CustomObjectsApi(api)
    before = writes.snapshot()
    namespace = bench_cluster.create_namespace(api, "bench-burst-")
    names = _wrapped_gateways(custom, namespace, args.burst_gateways)
    _wait_for_quiet(controller)
    gateways = GatewayWatch(api, namespace)
    applies_before = controller.metric("wrapped_gateway_applies_total")
    indexed_before = controller.metric("wrapped_gateway_index_routes")
    cpu_before = controller.usage().cpu_seconds
    routes = _spread(namespace, names, 0, len(names) * (args.burst_routes // len(names)))
    started = time.monotonic()
    create_routes(custom, routes, args.threads)
    created = time.monotonic() - started
    _wait_for_index(controller, int(indexed_before) + len(routes))
    indexed = time.monotonic() - started
    per_gateway = min(GATEWAY_HOSTNAMES, args.burst_routes // len(names))
    gateways.wait(
        lambda: all(len(gateways.hostnames(name)) == per_gateway for name in names), timeout=300
    )
    complete = time.monotonic() - started
    cpu_complete = controller.usage().cpu_seconds - cpu_before
    _wait_for_quiet(controller)
    gateways.stop()
    applies = controller.metric("wrapped_gateway_applies_total") - applies_before
    print(
        f"\nburst: {len(routes)} routes over {len(names)} WrappedGateways created in "
        f"{created:.1f} s ({len(routes) / created:.0f}/s); all in the controller's index at "
        f"{indexed:.1f} s; every Gateway complete after {complete:.1f} s; {applies:.0f} "
        f"applies, {applies / len(names):.1f} per Gateway (the last of its {per_gateway} "
        f"hostnames arrived {created * per_gateway * len(names) / len(routes):.1f} s into the "
        f"burst); the controller's CPU until complete {cpu_complete:.1f} s"
    )
    writes.report(before, "during the burst")
    return namespace


def _scale(
    api: client.ApiClient, controller: "Controller", writes: "ApiWrites", args: argparse.Namespace
) -> str:
    """Grows one namespace's routes to each `--scale-routes` count; returns the namespace."""
    custom = client.CustomObjectsApi(api)
    namespace = bench_cluster.create_namespace(api, "bench-scale-")
    names = _wrapped_gateways(custom, namespace, args.scale_gateways)
    held = 0
    for count in sorted(args.scale_routes):
        before = writes.snapshot()
        cpu_before = controller.usage().cpu_seconds
        reconciles_before = controller.reconciles()
        routes = _spread(namespace, names, held, count)
        started = time.monotonic()
        create_routes(custom, routes, args.threads)
        created = time.monotonic() - started
        _wait_for_index(controller, count)
        indexed = time.monotonic() - started
        _wait_for_quiet(controller)
        quiet = time.monotonic() - started
        finished, busy = controller.reconciles()
        reconciles = finished - reconciles_before[0]
        reconcile_seconds = busy - reconciles_before[1]
        usage = controller.usage()
        print(
            f"\nscale: {count} routes over {len(names)} WrappedGateways; the last "
            f"{len(routes)} created in {created:.1f} s ({len(routes) / created:.0f}/s), all in "
            f"the controller's index at {indexed:.1f} s, no reconcile for 2 s at {quiet:.1f} s; "
            f"{reconciles:.0f} reconciles, {reconcile_seconds:.0f} s in all\n"
            f"  settled controller: peak RSS {usage.peak_rss_mb:.0f} MB (now "
            f"{usage.rss_mb:.0f} MB), {usage.cpu_seconds:.0f} CPU s since it started "
            f"({usage.cpu_seconds - cpu_before:.0f} for these routes)"
        )
        writes.report(before, "while creating them")
        held = count
    return namespace


def _idle(writes: "ApiWrites", seconds: float, what: str) -> None:
    before = writes.snapshot()
    time.sleep(seconds)
    print(f"\nidle for {seconds:.0f} s: {what}")
    writes.report(before, "meanwhile")


def _restart(controller: "Controller", writes: "ApiWrites") -> None:
    """Stops the controller and starts it again on the same objects; nothing should be written."""
    holding = _holding(controller)
    before = writes.snapshot()
    controller.stop()
    started = time.monotonic()
    controller.start()
    ready = time.monotonic() - started
    _wait_for_quiet(controller)
    quiet = time.monotonic() - started
    busy = _wait_for_idle_cpu(controller) - started
    usage = controller.usage()
    print(
        f"\nrestart with nothing changed, holding {holding}: ready after {ready:.1f} s, "
        f"no reconcile for 2 s at {quiet:.1f} s, CPU busy until {busy:.1f} s; "
        f"{controller.reconciles()[0]:.0f} reconciles, "
        f"{controller.metric('wrapped_gateway_applies_total'):.0f} applies; "
        f"peak RSS {usage.peak_rss_mb:.0f} MB, {usage.cpu_seconds:.1f} CPU s"
    )
    writes.report(before, "from the stop until settled")


def _changes_after_restart(
    api: client.ApiClient, controller: "Controller", namespace: str, changes: int
) -> None:
    """Restarts the controller again and, from the moment it is ready, adds and removes a route
    with a new hostname every 2 s: how long changes wait while the new process catches up."""
    custom = client.CustomObjectsApi(api)
    gateways = GatewayWatch(api, namespace)
    controller.stop()
    started = time.monotonic()
    controller.start()
    print(
        f"\nrestart, then from the moment the controller was ready "
        f"({time.monotonic() - started:.1f} s) a route with a new hostname created and deleted "
        f"every 2 s:"
    )
    for change in range(changes):
        name = f"after-restart-{change}"
        hostname = f"{name}.gw0.bench.example.com"
        created = time.monotonic()
        custom.create_namespaced_custom_object(
            GW, "v1", namespace, "httproutes", _route(namespace, name, hostname, "gw0")
        )
        added = gateways.wait_for_listener("gw0", hostname, present=True, timeout=300)
        deleted = time.monotonic()
        custom.delete_namespaced_custom_object(GW, "v1", namespace, "httproutes", name)
        removed = gateways.wait_for_listener("gw0", hostname, present=False, timeout=300)
        print(
            f"  at {created - started:5.1f} s: listener added {added - created:.2f} s after "
            f"the create, removed {removed - deleted:.2f} s after the delete"
        )
        time.sleep(max(0.0, created + 2 - time.monotonic()))
    gateways.stop()
    busy = _wait_for_idle_cpu(controller) - started
    print(
        f"  the controller's CPU busy until {busy:.1f} s after the start "
        f"({controller.usage().cpu_seconds:.1f} CPU s)"
    )


# The Lease timing of `wrapped-gateway run`'s defaults (15 s lease, 10 s renew deadline, 2 s
# between attempts), spelled out: the handover times follow from them.
ELECTION = ("--leader-election", "--lease-duration", "15", "--renew-deadline", "10",
            "--retry-period", "2")  # fmt: skip


def _handovers(
    api: client.ApiClient,
    writes: ApiWrites,
    namespace: str,
    replica: Callable[[str], "Controller"],
) -> None:
    """Replicas with leader election (made by `replica`) on the routes of `namespace`. First
    the leader is killed (SIGKILL: the Lease stays held until it expires) while a ready standby
    runs; then that one stops (SIGTERM: it releases the Lease) as a new replica starts, so that
    no ready replica is left, as when both are replaced at once. Each time a route is created
    at once, and the bench times when a replica leads and when the route's listener is in the
    Gateway; the second time it also samples whether the new replica ever leads unready."""
    gateways = GatewayWatch(api, namespace)
    first, second, third = (replica(f"replica-{n}") for n in range(3))
    first.start()
    bench_cluster.until(lambda: first.metric("wrapped_gateway_leader") == 1, 60)
    _wait_for_quiet(first)
    second.start()  # ready: a standby holding every route
    holding = _holding(second)

    before = writes.snapshot()
    first.stop(kill=True)
    killed = time.monotonic()
    _create_change(api, namespace, "after-kill")
    bench_cluster.until(lambda: second.metric("wrapped_gateway_leader") == 1, 120)
    leads = time.monotonic() - killed
    landed = _change_landed(gateways, "after-kill") - killed
    _wait_for_quiet(second)
    print(
        f"\nhandover: the leader killed (SIGKILL) beside a ready standby holding {holding}; "
        f"the standby leads after {leads:.1f} s, a route created at the kill is in its Gateway "
        f"after {landed:.1f} s (the Lease expires 15 s after the last renewal it saw)"
    )
    writes.report(before, "from the kill until the new leader was quiet")

    before = writes.snapshot()
    second.stop()
    stopped = time.monotonic()
    third.start(wait=False)
    _create_change(api, namespace, "after-stop")
    unready_leading = samples_taken = 0
    ready_at: float | None = None
    while True:
        try:
            leading = third.metric("wrapped_gateway_leader") == 1  # read before /readyz:
        except OSError:  # its endpoints are not up yet
            time.sleep(0.05)
            continue
        if ready_at is None and third.ready():  # readiness never goes back
            ready_at = time.monotonic() - stopped
        samples_taken += 1
        unready_leading += leading and ready_at is None
        if leading:
            break
        if time.monotonic() - stopped > 300:
            raise SystemExit("the new replica never led")
        time.sleep(0.05)
    leads = time.monotonic() - stopped
    landed = _change_landed(gateways, "after-stop") - stopped
    _wait_for_quiet(third)
    usage = third.usage()
    print(
        f"\nhandover: the leader stopped (SIGTERM, Lease released) as a new replica started, "
        f"no ready standby: the new one is ready after {ready_at or leads:.1f} s and leads "
        f"after {leads:.1f} s ({unready_leading} of {samples_taken} samples, 0.05 s apart, saw "
        f"it lead while unready); a route created at the stop is in its Gateway after "
        f"{landed:.1f} s; the new leader: peak RSS {usage.peak_rss_mb:.0f} MB, "
        f"{usage.cpu_seconds:.1f} CPU s"
    )
    writes.report(before, "from the stop until the new leader was quiet")
    third.stop()
    gateways.stop()


def _create_change(api: client.ApiClient, namespace: str, name: str) -> None:
    """A route with a hostname of its own on gw0."""
    route = _route(namespace, name, f"{name}.gw0.bench.example.com", "gw0")
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        GW, "v1", namespace, "httproutes", route
    )


def _change_landed(gateways: GatewayWatch, name: str) -> float:
    hostname = f"{name}.gw0.bench.example.com"
    return gateways.wait_for_listener("gw0", hostname, present=True, timeout=300)


def _wait_for_idle_cpu(controller: "Controller", window: float = 2.0) -> float:
    """Until the controller used under a tenth of a core over `window` seconds; returns the
    monotonic time that window began: when its work, kopf's included, was done."""
    while True:
        began, cpu = time.monotonic(), controller.usage().cpu_seconds
        time.sleep(window)
        if controller.usage().cpu_seconds - cpu < 0.1 * window:
            return began


# --- the cluster and the controller -----------------------------------------------------------


class Controller:
    """`wrapped-gateway run` as a subprocess, its metrics and its resource usage."""

    def __init__(
        self, kubeconfig: Path, source: Path, log: Path, arguments: Sequence[str] = ()
    ) -> None:
        self._kubeconfig = kubeconfig
        self._source = source
        self._log = log
        self._arguments = list(arguments)  # more arguments of `wrapped-gateway run`
        self._process: subprocess.Popen[bytes] | None = None
        self.metrics_url = self.health_url = ""

    def start(self, wait: bool = True) -> None:
        """Starts the controller and, with `wait`, returns once it is ready."""
        health = f"127.0.0.1:{local_cluster.free_port()}"
        metrics = f"127.0.0.1:{local_cluster.free_port()}"
        command, cwd, environment = self.command(health, metrics)
        with self._log.open("ab") as output:
            process = subprocess.Popen(
                command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT
            )
        self._process = process
        self.metrics_url, self.health_url = f"http://{metrics}", f"http://{health}"
        if wait:
            bench_cluster.until(lambda: self.ready() or process.poll() is not None, 300)
            if process.poll() is not None:
                raise SystemExit(f"the controller exited:\n{self._log.read_text()}")

    def ready(self) -> bool:
        return http_ok(f"{self.health_url}/readyz")

    def command(self, health: str, metrics: str) -> tuple[list[str], Path, dict[str, str]]:
        """The command line, working directory and environment of the controller, serving
        /readyz on `health` and /metrics on `metrics`."""
        command = [sys.executable, "-m", "wrapped_gateway", "run",
                   "--kubeconfig", str(self._kubeconfig),
                   "--health-address", health, "--metrics-address", metrics,
                   *self._arguments]  # fmt: skip
        # `-m` imports the package from the working directory first: that of `source`.
        environment = {**os.environ, "PYTHONPATH": str(self._source.resolve())}
        return command, self._source, environment

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (a leader releases its Lease), or with `kill` SIGKILL (no chance to)."""
        if self._process is None:
            return
        local_cluster.stop_process(self._process, timeout=20, kill=kill)
        self._process = None

    def usage(self) -> Usage:
        """Peak and current resident memory, and CPU time (user and system) since it started."""
        assert self._process is not None
        return bench_cluster.process_usage(self._process.pid)

    def metric(self, name: str) -> float:
        """The sum of the samples of `name` (all label sets)."""
        return sum(
            value for sample, value in self.metric_samples() if sample.partition("{")[0] == name
        )

    def metric_samples(self) -> list[tuple[str, float]]:
        """(sample with its labels, value) of each line of the controller's /metrics."""
        with urllib.request.urlopen(f"{self.metrics_url}/metrics", timeout=5) as response:
            return list(samples(response.read().decode()))

    def reconciles(self) -> tuple[float, float]:
        """How many reconciles finished, and the seconds they took together."""
        name = "wrapped_gateway_reconcile_duration_seconds"
        return self.metric(f"{name}_count"), self.metric(f"{name}_sum")


@contextlib.contextmanager
def _controller(kubeconfig: Path, source: Path, log: Path) -> Iterator[Controller]:
    controller = Controller(kubeconfig, source, log)
    try:
        controller.start()
        yield controller
    finally:
        controller.stop()


# --- objects --------------------------------------------------------------------------------


def _wrapped_gateways(custom: client.CustomObjectsApi, namespace: str, count: int) -> list[str]:
    names = [f"gw{g}" for g in range(count)]
    for name in names:
        custom.create_namespaced_custom_object(
            WRAPPED, "v1alpha1", namespace, "wrappedgateways", _wrapped(namespace, name)
        )
    return names


def _delete_namespace(
    api: client.ApiClient, controller: "Controller", writes: "ApiWrites", namespace: str
) -> None:
    """Deletes `namespace` and waits until it is gone, so its writes stay in this phase."""
    holding = _holding(controller)
    before = writes.snapshot()
    started = time.monotonic()
    client.CoreV1Api(api).delete_namespace(namespace)
    bench_cluster.until(lambda: not bench_cluster.namespace_exists(api, namespace), 600)
    gone = time.monotonic() - started
    _wait_for_quiet(controller)
    print(f"\n{namespace} deleted (the controller held {holding}), gone after {gone:.1f} s")
    writes.report(before, "until the namespace was gone")


def _wrapped(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{WRAPPED}/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"gatewayClassName": "bench"},
    }


def _route(namespace: str, name: str, hostname: str, gateway: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [{"name": gateway}], "hostnames": [hostname]},
    }


def _spread(namespace: str, names: list[str], start: int, stop: int) -> list[dict[str, Any]]:
    """Routes `start` to `stop` of a sequence that takes the WrappedGateways in turn.

    Interleaved, so every WrappedGateway receives routes throughout; each has
    GATEWAY_HOSTNAMES hostnames.
    """
    routes = []
    for j in range(start, stop):
        i, gateway = divmod(j, len(names))
        name = names[gateway]
        hostname = f"h{i % GATEWAY_HOSTNAMES}.{name}.bench.example.com"
        routes.append(_route(namespace, f"r{i}-{name}", hostname, name))
    return routes


# --- helpers --------------------------------------------------------------------------------
def _wait_for_quiet(controller: Controller, quiet: float = 2.0) -> None:
    """Until the controller has finished no reconcile for `quiet` seconds and nothing waits.

    `quiet` must be longer than one reconcile plus the settle time, so that a reconcile that
    is still running when the wait starts shows up as finishing within it.
    """
    last = controller.reconciles()[0]
    while True:
        time.sleep(quiet)
        now = controller.reconciles()[0]
        if now == last and controller.metric("wrapped_gateway_queue_depth") == 0:
            return
        last = now


def _holding(controller: Controller) -> str:
    routes = controller.metric("wrapped_gateway_index_routes")
    wrapped = controller.metric("wrapped_gateway_index_wrapped_gateways")
    return f"{routes:.0f} routes and {wrapped:.0f} WrappedGateways"


def _wait_for_index(controller: Controller, routes: int) -> None:
    """Until the controller holds `routes` routes: the watch may lag behind the creates."""
    bench_cluster.until(lambda: controller.metric("wrapped_gateway_index_routes") >= routes, 600)


if __name__ == "__main__":
    sys.exit(main())
