"""How long kopf's `@kopf.index` readiness gate holds an operator back, on a real control plane.

kopf promises that no handler but the index handlers (no on.event, no daemon, ...) runs until
every object of every indexed resource has been listed and passed through its index handlers.
This bench shows what that gate costs with the number of objects, with kopf alone: none of the
controller's code runs (but for handing the kubeconfig's credentials to kopf), only a minimal
operator of two handlers on ConfigMaps.

It starts the local control plane (hack/local-cluster, built binaries from the cache; or uses
the one of `--kubeconfig`) and, for each N of `--objects`:

1. creates a namespace holding N ConfigMaps (`--threads` client threads);
2. "event only": runs an operator, in a thread of this process, with one `@kopf.on.event`
   handler on ConfigMaps, watching only that namespace, and times from its start until the
   handler has been called for all N: kopf's plain listing throughput;
3. "index + event": the same operator plus a `@kopf.index` handler on ConfigMaps (`{name: 1}`),
   and times until every ConfigMap has been indexed, until the on.event handler is first called
   (the readiness gate opens) and until it has been called for all N.

Each operator is stopped (kopf's `stop_flag`) once it has handled all N, or after `--timeout`
seconds. The process's CPU time (`time.process_time`, all threads) is taken at the same
moments. The namespace also holds kube-controller-manager's `kube-root-ca.crt`, which both
operators list and handle as well; "all N" is the bench's ConfigMaps.

Why the gate grows faster than the objects, in kopf 1.45 (lines of the installed 1.45.2):

- `_core/reactor/queueing.py`, `watcher`, lines 212-215: before a listed object's worker starts,
  kopf adds a toggle of its own to the operator's `operator_indexed` ToggleSet
  (`ToggleSet.make_toggle`, which calls `notify_all()`);
- `_core/reactor/processing.py`, `process_resource_event`, lines 96-112: the worker runs the
  object's index handlers, drops its toggle (line 110) and awaits
  `operator_indexed.wait_for(True)` (line 112) before it calls any other handler;
- `_cogs/aiokits/aiotoggles.py`: every toggle of a ToggleSet shares the set's one
  `asyncio.Condition` (line 133); `make_toggle` and `drop_toggle` (lines 127-142) call
  `notify_all()` on it, and `ToggleSet.wait_for` (lines 123-125) is `Condition.wait_for` with
  `is_on()` (lines 117-118, `all()` over the remaining toggles) as its predicate.

So every object added or indexed wakes every object that is already waiting: each of them
takes the Condition's lock in turn (asyncio's `Condition.wait` re-acquires it), evaluates
`is_on()` and waits again. With N objects that is of the order of N * N task wake-ups before
the first on.event handler runs, all in the operator's one event loop thread. (`is_on()`
itself stops at the first toggle that is still off, which is any of them until the last is
dropped, so it is the wake-ups rather than the predicate that grow.)

Run from the repository root (the first run of the control plane needs its binaries built, see
hack/README.md), under `nice` as every benchmark here:

    nice -n 10 .venv/bin/python bench/kopf_index_bench.py
    nice -n 10 .venv/bin/python bench/kopf_index_bench.py --objects 500 1000 --timeout 120
    nice -n 10 .venv/bin/python bench/kopf_index_bench.py --kubeconfig /tmp/wg/kubeconfig
"""

import argparse
import logging
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import bench_cluster
import kopf
from kubernetes import client

from wrapped_gateway.controller.kopf_config import kopf_connection

CONFIG_MAP_PREFIX = "bench-"  # the bench's ConfigMaps; the namespace holds kube-root-ca.crt too
STOP_TIMEOUT = 120.0  # seconds an operator is given to stop before the bench gives up on it


class Moment(NamedTuple):
    """When something happened: seconds since the operator's start, and CPU seconds since."""

    seconds: float
    cpu_seconds: float


class Outcome(NamedTuple):
    """What one operator run reached; None where it did not get there within the timeout."""

    all_indexed: Moment | None  # the index handler called for all N (with an index only)
    first_handled: Moment | None  # the on.event handler called for the first time
    all_handled: Moment | None  # the on.event handler called for all N
    stopped_after: float | None  # seconds from the stop flag until kopf.run returned


class Progress:
    """Which of the bench's ConfigMaps a handler has been called for, and when.

    Handlers call `saw` in kopf's event loop thread; the bench's thread waits on the events.
    """

    def __init__(self, names: frozenset[str], started: float, cpu_started: float) -> None:
        self._pending = set(names)
        self._started = started
        self._cpu_started = cpu_started
        self.first: Moment | None = None
        self.last: Moment | None = None
        self.first_seen = threading.Event()
        self.all_seen = threading.Event()

    def saw(self, name: str) -> None:
        if self.first is None:
            self.first = self._now()
            self.first_seen.set()
        if name in self._pending:
            self._pending.discard(name)
            if not self._pending:
                self.last = self._now()
                self.all_seen.set()

    def _now(self) -> Moment:
        return Moment(time.monotonic() - self._started, time.process_time() - self._cpu_started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--timeout", type=float, default=600, help="seconds for each operator")
    parser.add_argument("--threads", type=int, default=8, help="client threads creating objects")
    parser.add_argument("--kubeconfig", type=Path, help="use this running cluster instead")
    args = parser.parse_args()

    # kopf warns once per run that it cannot install signal handlers outside the main thread;
    # the operators here are stopped by their stop flag, so that is expected.
    logging.getLogger("kopf._core.reactor.running").setLevel(logging.ERROR)
    print(f"load average at start: {bench_cluster.load_average()}")
    results: list[tuple[int, Outcome, Outcome]] = []
    with (
        tempfile.TemporaryDirectory(prefix="kopf-index-bench-") as scratch,
        bench_cluster.cluster(args.kubeconfig, Path(scratch)) as kubeconfig,
    ):
        api = bench_cluster.api_client(kubeconfig, args.threads)
        for count in args.objects:
            namespace = bench_cluster.create_namespace(api, f"kopf-index-{count}-")
            started = time.monotonic()
            names = _create_config_maps(api, namespace, count, args.threads)
            print(
                f"\n{count} ConfigMaps created in {namespace} in {time.monotonic() - started:.1f} s"
            )
            event_only = _run_operator(api, namespace, names, args.timeout, with_index=False)
            _report("event only", event_only, args.timeout)
            indexed = _run_operator(api, namespace, names, args.timeout, with_index=True)
            _report("index + event", indexed, args.timeout)
            results.append((count, event_only, indexed))
            # Deleting thousands of objects keeps the API server busy: not during the next N.
            _delete_namespace(api, namespace)
    print(f"\nload average at end: {bench_cluster.load_average()}")
    _table(results, args.timeout)
    return 0


# --- the operator ---------------------------------------------------------------------------
def _run_operator(
    api: client.ApiClient,
    namespace: str,
    names: frozenset[str],
    timeout: float,
    *,
    with_index: bool,
) -> Outcome:
    """Runs a minimal kopf operator on `namespace` until all of `names` are handled, or timeout."""
    registry = kopf.OperatorRegistry()  # a fresh one: no handlers of earlier runs, no defaults
    connection = kopf_connection(api.configuration)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection

    started = time.monotonic()
    cpu_started = time.process_time()
    handled = Progress(names, started, cpu_started)
    indexed = Progress(names, started, cpu_started)

    # async handlers: kopf runs sync ones in a thread pool, which would be measured as well
    @kopf.on.event("v1", "configmaps", registry=registry)
    async def on_event(name: str, **_: Any) -> None:
        handled.saw(name)

    if with_index:

        @kopf.index("v1", "configmaps", registry=registry)
        async def by_name(name: str, **_: Any) -> dict[str, int]:
            indexed.saw(name)
            return {name: 1}

    stop_flag = threading.Event()
    operator = threading.Thread(
        target=kopf.run,
        kwargs={
            "registry": registry,
            "settings": _settings(),
            "namespaces": [namespace],
            "clusterwide": False,
            "standalone": True,
            "stop_flag": stop_flag,
        },
        name=f"kopf operator on {namespace}",
        daemon=True,  # one that does not stop must not keep the bench from ending
    )
    operator.start()
    handled.all_seen.wait(timeout - (time.monotonic() - started))
    stop_flag.set()
    stopping = time.monotonic()
    operator.join(STOP_TIMEOUT)
    stopped_after = None if operator.is_alive() else time.monotonic() - stopping
    return Outcome(
        all_indexed=indexed.last if with_index else None,
        first_handled=handled.first,
        all_handled=handled.last,
        stopped_after=stopped_after,
    )


def _settings() -> kopf.OperatorSettings:
    """kopf's defaults, less what would write to the cluster or need kopf's own CRDs."""
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False  # no Events for the log lines of handlers
    settings.peering.standalone = True  # peering needs kopf's KopfPeering CRDs
    return settings


# --- output ---------------------------------------------------------------------------------
def _report(variant: str, outcome: Outcome, timeout: float) -> None:
    parts = []
    if outcome.all_indexed is not None:
        parts.append(f"all indexed at {_moment(outcome.all_indexed)}")
    if outcome.first_handled is not None:
        parts.append(f"first on.event at {_moment(outcome.first_handled)}")
    if outcome.all_handled is not None:
        parts.append(f"all handled at {_moment(outcome.all_handled)}")
    else:
        parts.append(f"not ready after {timeout:.0f} s")
    if outcome.stopped_after is not None:
        parts.append(f"stopped in {outcome.stopped_after:.1f} s")
    else:
        parts.append(f"did not stop within {STOP_TIMEOUT:.0f} s")
    print(f"  {variant}: " + ", ".join(parts))


def _moment(moment: Moment) -> str:
    return f"{moment.seconds:.1f} s ({moment.cpu_seconds:.1f} CPU s)"


def _table(results: list[tuple[int, Outcome, Outcome]], timeout: float) -> None:
    """Seconds from each operator's start, each with the process's CPU seconds until then."""

    def cells(moment: Moment | None) -> str:
        if moment is None:
            return f"{f'> {timeout:.0f}':>8}  {'':>7}"
        return f"{moment.seconds:8.1f}  {moment.cpu_seconds:7.1f}"

    print("\nseconds from the operator's start (CPU: the process's CPU seconds until then)")
    print(f"{'':>6}  {'event only':^17}  {'index + event':^56}")
    print(
        f"{'N':>6}  {'all':>8}  {'CPU':>7}  {'indexed':>8}  {'CPU':>7}  "
        f"{'first':>8}  {'CPU':>7}  {'all':>8}  {'CPU':>7}"
    )
    for count, event_only, indexed in results:
        print(
            f"{count:>6}  {cells(event_only.all_handled)}  {cells(indexed.all_indexed)}  "
            f"{cells(indexed.first_handled)}  {cells(indexed.all_handled)}"
        )


# --- the cluster ----------------------------------------------------------------------------


def _create_config_maps(
    api: client.ApiClient, namespace: str, count: int, threads: int
) -> frozenset[str]:
    core = client.CoreV1Api(api)
    names = [f"{CONFIG_MAP_PREFIX}{i}" for i in range(count)]

    def create(name: str) -> None:
        body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"key": name})
        core.create_namespaced_config_map(namespace, body)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, names))
    return frozenset(names)


def _delete_namespace(api: client.ApiClient, namespace: str) -> None:
    started = time.monotonic()
    client.CoreV1Api(api).delete_namespace(namespace)
    bench_cluster.until(lambda: not bench_cluster.namespace_exists(api, namespace), 600)
    print(f"  {namespace} deleted, gone after {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
