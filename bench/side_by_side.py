"""wrapped-gateway and gateway-route-sync side by side: the same workload, a fresh local control
plane for each.

gateway-route-sync (the Go controller in github.com/benfiola/homelab-images, directory
`gateway-route-sync/`) is what wrapped-gateway replaces. None of it is in this repository: pass
a gateway-route-sync binary (`--grs-binary`) and its repository checkout (`--grs-checkout`),
whose CRD is read at run time from the file its Helm chart installs,
`gateway-route-sync/chart/generated/crds.yaml` (or give that file with `--grs-crds`).

For each controller in turn (the order alternates from run to run, `--runs` times):

1. A fresh local control plane (hack/local-cluster) with the Gateway API CRDs of
   `--gateway-api`: v1.4.1, experimental channel, by default, for both controllers, because
   gateway-route-sync watches TLSRoute, TCPRoute and UDPRoute `v1alpha2`, which v1.6's standard
   channel no longer serves. The controller's own WrappedGateway CRD is installed.
2. The controller, started with its defaults (its health and metrics addresses on 127.0.0.1,
   the control plane's admin kubeconfig), then `--gateways` WrappedGateways of its own kind,
   `spec: {gatewayClassName: bench}`, in one namespace; then the bench waits until the
   controller has written nothing for 3 s.
3. The burst: `--routes` HTTPRoutes spread over the Gateways in turn (40 each by default), by
   `--threads` client threads. Each route has one hostname, `h<i>.<gateway>.bench.example.com`,
   and a parentRef to its Gateway with `sectionName: h<i>`: gateway-route-sync makes listeners
   only for parentRefs with a sectionName, and names the listener after it; wrapped-gateway
   names its listener after the sectionName too. So both get the same routes, byte for byte.
   Settled: a watch shows every Gateway with all its listeners. Quiet: the controller has made
   no write for `--quiet` seconds (the API server's own count, from its /metrics, polled every
   `--poll` s). Both are time-boxed to `--cap` seconds from the first create; a controller
   still writing then is cut off, and the table says so.
4. `--changes` single changes on the first Gateway, each once the controller has written
   nothing for 1 s (at most `--change-wait` s of waiting; the table counts the changes made
   while it still wrote): an HTTPRoute with a new hostname (and sectionName) is created, timed
   from just before the create call until the watch shows its listener; then deleted, timed
   until the listener is gone.
5. Peak RSS (VmHWM) and CPU seconds (user + system) of the controller's process, from /proc.

Writes are what the API server served (`apiserver_request_total`), less what the bench itself
sent (counted at its client) and less Leases (the control plane's own). Nothing else writes
these kinds there: no Gateway implementation runs, GatewayClass `bench` does not exist.

    .venv/bin/python bench/side_by_side.py --grs-binary PATH --grs-checkout PATH
    .venv/bin/python bench/side_by_side.py --grs-binary PATH --grs-checkout PATH --runs 2
    .venv/bin/python bench/side_by_side.py ... --only gateway-route-sync --cap 120
"""

import argparse
import contextlib
import os
import shlex
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_cluster
import yaml
from bench_cluster import GW, REPO, ApiWrites, GatewayWatch, Writes, local_cluster
from controller_bench import Controller
from kubernetes import client

WRAPPED_GATEWAY = "wrapped-gateway"
ROUTE_SYNC = "gateway-route-sync"
GRS_CRDS = Path("gateway-route-sync/chart/generated/crds.yaml")  # in its repository
# Its environment variables, which its flags would otherwise fall back on.
GRS_ENVIRONMENT = ("HEALTH_ADDRESS", "KUBECONFIG", "LEADER_ELECTION", "METRICS_ADDRESS")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grs-binary", type=Path, required=True, help="gateway-route-sync")
    parser.add_argument(
        "--grs-checkout", type=Path, required=True, help="its repository (homelab-images)"
    )
    parser.add_argument("--grs-crds", type=Path, help=f"default: CHECKOUT/{GRS_CRDS}")
    parser.add_argument("--gateways", type=int, default=50)
    parser.add_argument("--routes", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds without a write")
    parser.add_argument("--cap", type=float, default=180.0, help="time box of the burst, s")
    parser.add_argument(
        "--change-wait", type=float, default=3.0, help="most seconds to wait for quiet, per change"
    )
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between write counts")
    parser.add_argument("--threads", type=int, default=8, help="client threads creating routes")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--gateway-api", default="v1.4.1")
    parser.add_argument("--only", choices=(WRAPPED_GATEWAY, ROUTE_SYNC))
    parser.add_argument("--source", type=Path, default=REPO, help="wrapped-gateway's checkout")
    parser.add_argument(
        "--wrapped-gateway-args",
        type=shlex.split,
        default=[],
        help='more arguments of `wrapped-gateway run`: --wrapped-gateway-args="--settle-seconds 1"',
    )
    args = parser.parse_args()

    grs_crds = args.grs_crds or args.grs_checkout / GRS_CRDS
    if not args.grs_binary.is_file() or not grs_crds.is_file():
        raise SystemExit(f"need the binary {args.grs_binary} and the CRD file {grs_crds}")
    contenders = [
        Contender(WRAPPED_GATEWAY, args.source / "crds" / "wrappedgateways.yaml", None),
        Contender(ROUTE_SYNC, grs_crds, args.grs_binary),
    ]
    if args.only:
        contenders = [c for c in contenders if c.name == args.only]
    print(f"load average at start: {bench_cluster.load_average()}")
    results: dict[str, list[Result]] = {c.name: [] for c in contenders}
    for run in range(args.runs):
        for contender in contenders if run % 2 == 0 else contenders[::-1]:
            print(f"\n=== run {run + 1}: {contender.name} ===", flush=True)
            results[contender.name].append(_measure(contender, args))
        print(f"\nload average: {bench_cluster.load_average()}")
        print(
            f"\n{args.gateways} Gateways, {args.routes} HTTPRoutes, {args.changes} changes, "
            f"Gateway API {args.gateway_api}, {run + 1} run(s) (ranges over runs):\n"
        )
        print(_table(results, args), flush=True)
    return 0


@dataclass(frozen=True)
class Contender:
    name: str
    crd: Path  # the WrappedGateway CRD of this controller
    binary: Path | None  # gateway-route-sync's; None: wrapped-gateway from --source

    def kind(self) -> tuple[str, str, str]:
        """The group, served version and plural of its WrappedGateway, from its CRD."""
        crd = next(d for d in yaml.safe_load_all(self.crd.read_text()) if d)
        version = next(v["name"] for v in crd["spec"]["versions"] if v.get("served", True))
        return crd["spec"]["group"], version, crd["spec"]["names"]["plural"]


class RouteSync(Controller):
    """gateway-route-sync as a subprocess: its health and metrics servers on loopback, no
    leader election (its default), the local control plane's admin kubeconfig."""

    def __init__(self, kubeconfig: Path, binary: Path, log: Path) -> None:
        super().__init__(kubeconfig, binary.parent, log)
        self._binary = binary

    def command(self, health: str, metrics: str) -> tuple[list[str], Path, dict[str, str]]:
        command = [str(self._binary.resolve()), "--kubeconfig", str(self._kubeconfig),
                   "--health-address", health, "--metrics-address", metrics]  # fmt: skip
        environment = {k: v for k, v in os.environ.items() if k not in GRS_ENVIRONMENT}
        return command, self._log.parent, environment


@dataclass
class Result:
    load: list[float] = field(default_factory=list)  # 1-minute load average at start and end
    ready: float = 0.0
    ready_rss_mb: float = 0.0  # when ready, before the bench created anything
    created: float = 0.0  # the burst's creates
    settled: float | None = None  # None: not within the cap
    quiet: float | None = None
    burst_writes: Writes = field(default_factory=Counter)
    burst_reconciles: float = 0.0
    burst_cpu: float = 0.0
    added: list[float] = field(default_factory=list)
    removed: list[float] = field(default_factory=list)
    missed: int = 0  # changes whose listener did not come (or go) within 60 s
    unquiet: int = 0  # changes made while the controller was still writing
    change_writes: Writes = field(default_factory=Counter)
    peak_rss_mb: float = 0.0
    cpu: float = 0.0


# --- one controller on its own control plane ------------------------------------------------
def _measure(contender: Contender, args: argparse.Namespace) -> Result:
    result = Result(load=[os.getloadavg()[0]])
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as scratch_dir:
        scratch = Path(scratch_dir)
        crds = scratch / "crds"
        crds.mkdir()
        (crds / "wrappedgateways.yaml").write_text(contender.crd.read_text())
        options = local_cluster.ClusterOptions(gateway_api=args.gateway_api, extra_crd_dirs=(crds,))
        with bench_cluster.cluster(None, scratch, options) as kubeconfig:
            api = bench_cluster.api_client(kubeconfig, args.threads)
            log = scratch / "controller.log"
            if contender.binary is None:
                controller = Controller(kubeconfig, args.source, log, args.wrapped_gateway_args)
            else:
                controller = RouteSync(kubeconfig, contender.binary, log)
            started = time.monotonic()
            controller.start()
            result.ready = time.monotonic() - started
            result.ready_rss_mb = controller.usage().rss_mb
            try:
                workload = Workload(contender, controller, api, args, result)
                workload.wrapped_gateways()
                workload.burst()
                workload.changes()
                usage = controller.usage()
                result.peak_rss_mb, result.cpu = usage.peak_rss_mb, usage.cpu_seconds
            finally:
                controller.stop()
                _keep_log(log, contender.name)
    result.load.append(os.getloadavg()[0])
    return result


class Workload:
    """The same objects and changes for either controller, on its own control plane."""

    def __init__(
        self,
        contender: Contender,
        controller: Controller,
        api: client.ApiClient,
        args: argparse.Namespace,
        result: Result,
    ) -> None:
        self._contender = contender
        self._controller = controller
        self._custom = client.CustomObjectsApi(api)
        self._writes = WriteWatch(ApiWrites(api), args.poll)
        self._args = args
        self._result = result
        self._namespace = bench_cluster.create_namespace(api, "bench-")
        self._names = [f"gw{g}" for g in range(args.gateways)]
        self._gateways = GatewayWatch(api, self._namespace)

    def wrapped_gateways(self) -> None:
        group, version, plural = self._contender.kind()
        before = self._writes.snapshot()
        for name in self._names:
            wrapped = _wrapped(group, version, self._namespace, name)
            self._custom.create_namespaced_custom_object(
                group, version, self._namespace, plural, wrapped
            )
        self._writes.until_quiet(3.0, time.monotonic() + 60, before=before)
        written = bench_cluster.listing(self._writes.since(before))
        print(f"  {len(self._names)} WrappedGateways: {written}")

    def burst(self) -> None:
        args, result, names, gateways = self._args, self._result, self._names, self._gateways
        per_gateway = args.routes // len(names)
        routes = [_route(self._namespace, f"r{i}-{name}", f"h{i}.{name}.bench.example.com",
                         name, f"h{i}")
                  for i in range(per_gateway) for name in names]  # fmt: skip
        settled: list[float] = []
        cap = time.monotonic() + args.cap

        def wait_settled() -> None:
            def complete() -> bool:
                return all(len(gateways.hostnames(name)) == per_gateway for name in names)

            with contextlib.suppress(TimeoutError):
                settled.append(gateways.wait(complete, timeout=cap - time.monotonic()))

        waiter = threading.Thread(target=wait_settled, daemon=True)
        waiter.start()
        before = self._writes.snapshot()
        reconciles = self._reconciles()
        cpu = self._controller.usage().cpu_seconds
        started = time.monotonic()
        bench_cluster.create_routes(self._custom, routes, args.threads)
        result.created = time.monotonic() - started
        last, quiet = self._writes.until_quiet(
            args.quiet, cap, before=before, done=lambda: bool(settled)
        )
        waiter.join(timeout=1)
        result.settled = settled[0] - started if settled else None
        result.quiet = last - started if quiet else None
        result.burst_writes = self._writes.since(before)
        result.burst_reconciles = self._reconciles() - reconciles
        result.burst_cpu = self._controller.usage().cpu_seconds - cpu
        print(
            f"  burst: {len(routes)} routes created in {result.created:.1f} s; "
            + (f"settled at {result.settled:.1f} s" if settled else f"not settled at {args.cap} s")
            + "; "
            + (f"quiet after {result.quiet:.1f} s" if quiet else f"cut off at {args.cap} s")
            + f", {result.burst_reconciles:.0f} WrappedGateway reconciles, "
            f"{result.burst_cpu:.1f} CPU s\n"
            f"    writes: {bench_cluster.listing(result.burst_writes)}",
            flush=True,
        )

    def changes(self) -> None:
        result, gateway = self._result, self._names[0]
        before = self._writes.snapshot()
        for change in range(self._args.changes):
            name, hostname = f"change-{change}", f"change-{change}.{gateway}.bench.example.com"
            route = _route(self._namespace, name, hostname, gateway, name)
            for present in (True, False):
                deadline = time.monotonic() + self._args.change_wait
                _, quiet = self._writes.until_quiet(1.0, deadline)
                result.unquiet += not quiet
                started = time.monotonic()
                if present:
                    self._custom.create_namespaced_custom_object(
                        GW, "v1", self._namespace, "httproutes", route
                    )
                else:
                    self._custom.delete_namespaced_custom_object(
                        GW, "v1", self._namespace, "httproutes", name
                    )
                try:
                    seen = self._gateways.wait_for_listener(
                        gateway, hostname, present=present, timeout=60
                    )
                except TimeoutError:
                    result.missed += 1
                    continue
                (result.added if present else result.removed).append(seen - started)
        result.change_writes = self._writes.since(before)
        self._gateways.stop()
        print(
            f"  {self._args.changes} changes: created -> listener {_centiles(result.added)}, "
            f"deleted -> gone {_centiles(result.removed)}; {result.missed} missed, "
            f"{result.unquiet} made while it still wrote\n"
            f"    writes: {bench_cluster.listing(result.change_writes)}",
            flush=True,
        )

    def _reconciles(self) -> float:
        """WrappedGateway reconciles the controller finished, from its own /metrics."""
        if self._contender.binary is None:
            return self._controller.reconciles()[0]
        total = 0.0
        for sample, value in self._controller.metric_samples():
            name, _, labels = sample.partition("{")
            label = dict(bench_cluster.LABEL.findall(labels))
            if (
                name == "controller_runtime_reconcile_total"
                and label["controller"] == "wrappedgateway"
            ):
                total += value
        return total


# --- the controller's writes ----------------------------------------------------------------
class WriteWatch:
    """The controller's writes: what the API server wrote, less the bench's own and Leases
    (the control plane's)."""

    def __init__(self, writes: ApiWrites, poll: float) -> None:
        self._writes = writes
        self._poll = poll

    def snapshot(self) -> tuple[Writes, Writes]:
        return self._writes.snapshot()

    def since(self, before: tuple[Writes, Writes]) -> Writes:
        served, bench = self._writes.snapshot()
        served.subtract(before[0])
        served.subtract(bench)
        served.update(before[1])
        return Counter({k: n for k, n in served.items() if n and k[0] != "leases"})

    def until_quiet(
        self,
        quiet: float,
        deadline: float,
        *,
        before: tuple[Writes, Writes] | None = None,
        done: Callable[[], bool] = lambda: True,
    ) -> tuple[float, bool]:
        """Until `done()` and the controller has made no write for `quiet` seconds, or until
        `deadline`. Returns when its last write was seen (to within the poll interval), and
        whether it went quiet."""
        before = before or self.snapshot()
        last_total, last_change = -1, time.monotonic()
        while True:
            now = time.monotonic()
            total = sum(self.since(before).values())
            if total != last_total:
                last_total, last_change = total, now
            elif now - last_change >= quiet and done():
                return last_change, True
            if now >= deadline:
                return last_change, False
            time.sleep(self._poll)


def _of(counts: Writes, *prefixes: str) -> int:
    return sum(n for (resource, _), n in counts.items() if resource.startswith(prefixes))


# --- objects --------------------------------------------------------------------------------
def _wrapped(group: str, version: str, namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/{version}",
        "kind": "WrappedGateway",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"gatewayClassName": "bench"},
    }


def _route(namespace: str, name: str, hostname: str, gateway: str, section: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": gateway, "sectionName": section}],
            "hostnames": [hostname],
        },
    }


def _keep_log(log: Path, name: str) -> None:
    """Keeps the controller's log past the scratch directory, in /tmp."""
    if log.exists():
        kept = Path(tempfile.gettempdir()) / f"side-by-side-{name}-{int(time.time())}.log"
        kept.write_bytes(log.read_bytes())
        print(f"  {name}'s log: {kept}")


# --- the table ------------------------------------------------------------------------------
def _centiles(seconds: list[float]) -> str:
    if len(seconds) < 2:
        return "n/a"
    centiles = statistics.quantiles(sorted(seconds), n=100, method="inclusive")
    return f"p50 {centiles[49] * 1000:.0f} ms, p99 {centiles[98] * 1000:.0f} ms"


def _span(values: list[float], unit: str = "", digits: int = 0) -> str:
    low, high = min(values), max(values)
    if round(low, digits) == round(high, digits):
        return f"{low:.{digits}f}{unit}"
    return f"{low:.{digits}f}-{high:.{digits}f}{unit}"


def _table(results: dict[str, list[Result]], args: argparse.Namespace) -> str:
    def seconds(get: Callable[[Result], float | None], cut: str) -> Callable[[list[Result]], str]:
        def cell(runs: list[Result]) -> str:
            values = [v for v in map(get, runs) if v is not None]
            missing = len(runs) - len(values)
            text = _span(values, " s", 1) if values else ""
            if missing:
                text += f"{'; ' if text else ''}{cut} in {missing} of {len(runs)}"
            return text

        return cell

    def count(
        get: Callable[[Result], float], digits: int = 0, unit: str = ""
    ) -> Callable[[list[Result]], str]:
        return lambda runs: _span([get(r) for r in runs], unit, digits)

    def centile(get: Callable[[Result], list[float]], at: int) -> Callable[[list[Result]], str]:
        def value(r: Result) -> float:
            samples = get(r)
            return statistics.quantiles(samples, n=100, method="inclusive")[at - 1] * 1000

        return lambda runs: _span([value(r) for r in runs], " ms")

    def written(get: Callable[[Result], Writes], prefix: str) -> Callable[[list[Result]], str]:
        """How many writes of resources named `prefix...`, and their verbs (of every run)."""

        def cell(runs: list[Result]) -> str:
            text = _span([_of(get(r), prefix) for r in runs])
            verbs = sorted({verb for r in runs for (res, verb), n in get(r).items()
                            if n and res.startswith(prefix)})  # fmt: skip
            return f"{text} ({', '.join(verbs)})" if verbs else text

        return cell

    per_change = 2 * args.changes
    cut = f"cut off at {args.cap:.0f} s"
    rows: list[tuple[str, Callable[[list[Result]], str]]] = [
        ("ready after start", seconds(lambda r: r.ready, "")),
        ("burst: routes created in", seconds(lambda r: r.created, "")),
        ("burst settle time (every Gateway complete)", seconds(lambda r: r.settled, cut)),
        ("time until quiet (last write)", seconds(lambda r: r.quiet, cut)),
        ("Gateway writes (burst)", written(lambda r: r.burst_writes, "gateways")),
        ("route writes (burst)", written(lambda r: r.burst_writes, "httproutes")),
        ("WrappedGateway writes (burst)", written(lambda r: r.burst_writes, "wrappedgateways")),
        ("other writes (burst)", count(lambda r: _other(r.burst_writes))),
        ("WrappedGateway reconciles (burst)", count(lambda r: r.burst_reconciles)),
        ("CPU seconds (burst)", count(lambda r: r.burst_cpu, 1, " s")),
        ("single change: create -> listener, p50", centile(lambda r: r.added, 50)),
        ("single change: create -> listener, p99", centile(lambda r: r.added, 99)),
        ("single change: delete -> gone, p50", centile(lambda r: r.removed, 50)),
        ("single change: delete -> gone, p99", centile(lambda r: r.removed, 99)),
        ("Gateway writes per change", count(lambda r: _of(r.change_writes, "gateways") / per_change, 1)),  # noqa: E501
        ("route writes per change", count(lambda r: _of(r.change_writes, "httproutes") / per_change, 1)),  # noqa: E501
        ("changes missed (60 s), made while it wrote", lambda runs: "; ".join(
            f"{r.missed}, {r.unquiet}" for r in runs)),
        ("RSS when ready, before any object", count(lambda r: r.ready_rss_mb, 0, " MB")),
        ("peak RSS", count(lambda r: r.peak_rss_mb, 0, " MB")),
        ("controller CPU seconds (whole run)", count(lambda r: r.cpu, 1, " s")),
        ("load average (1 min) at start, end", lambda runs: "; ".join(
            f"{r.load[0]:.1f}, {r.load[-1]:.1f}" for r in runs)),
    ]  # fmt: skip
    names = list(results)
    lines = [
        "| | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | " + " | ".join(cell(results[n]) for n in names) + " |")
    return "\n".join(lines)


def _other(counts: Writes) -> int:
    return sum(counts.values()) - _of(counts, "gateways", "httproutes", "wrappedgateways")


if __name__ == "__main__":
    raise SystemExit(main())
