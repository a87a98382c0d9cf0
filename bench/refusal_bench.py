"""What one route change costs the controller on a Gateway full of refusals.

In-process, without a cluster: a `ClusterIndex` holds one WrappedGateway and its routes, a
`Reconciler` reconciles it against a fake KubeApi that records each call and returns at once.
Two Gateways of the same route count are compared:

- refused: render_bench.py's one-gateway input (a Selector policy, a hostname allow-list,
  static listeners, every route kind), which at 10,000 routes gives about 15,500 refusals
  (hostnames outside the allow-list, conflicts, the 64-listener limit);
- clean: the same WrappedGateway, HTTPRoutes of one admitted namespace sharing
  `--clean-hostnames` allowed hostnames on port 8443, so none is refused. By default 62, so
  that both Gateways have 64 listeners and differ only by their refusals (a Gateway of
  fewer listeners costs less per change: each reconcile copies a book of the listeners and
  builds the Gateway).

After a first reconcile and the posting of every refusal's Event (a batch at a time, as the
controller's Event poster does, without its pauses), it times `--changes` times: upsert one
new route into the index (the newest, a fresh name, sharing an existing listener, or with
`--refused-new-route` refused for a hostname outside the allow-list) and reconcile; delete
it again and reconcile. Each figure is the index update plus `Reconciler.reconcile`, the
synthesis in its thread as in the controller; the Event a change offers is posted after it,
untimed, as the controller posts it apart. It prints figures and asserts nothing.

Run from the repository root:

    .venv/bin/python bench/refusal_bench.py
    .venv/bin/python bench/refusal_bench.py --routes 10000 --changes 200
    .venv/bin/python bench/refusal_bench.py --profile   # each Gateway's hot spots

With `--profile` the reconciler's threads run inline (cProfile sees only the thread it runs
in), so the profile's times leave out the hand-offs to threads.
"""

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import render_bench

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller import reconciler as reconciler_module
from wrapped_gateway.controller.existing import WrappedEntry
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.reconciler import Reconciler
from wrapped_gateway.controller.refusal_events import RefusalEvents
from wrapped_gateway.routes import Route, parse_route

GATEWAY = 5  # render_bench's WrappedGateway of its one-gateway input
KEY = ObjectKey(f"infra-{GATEWAY % 10}", f"gw{GATEWAY}")
TEAM = f"team-{GATEWAY % 20}"  # a namespace the WrappedGateway's selector admits


class FakeApi:
    """Stands in for KubeApi: records each call, answers at once."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def apply(self, _generated: dict[str, Any]) -> None:
        self.calls["apply"] += 1

    def apply_status(self, _namespace: str, _name: str, _status: dict[str, Any]) -> None:
        self.calls["apply_status"] += 1

    def create_event(self, _event: dict[str, Any]) -> None:
        self.calls["create_event"] += 1


def refused_routes(count: int) -> list[Route]:
    kinds = render_bench.KINDS
    return [
        parse_route(render_bench.route(GATEWAY, i, kinds[i % len(kinds)])) for i in range(count)
    ]


def clean_routes(count: int, hostnames: int) -> list[Route]:
    return [
        parse_route(clean_route(f"ok{i}", f"app{i % hostnames}.gw{GATEWAY}.example.com", i % 28))
        for i in range(count)
    ]


def clean_route(name: str, hostname: str, day: int, year: int = 2024) -> dict[str, Any]:
    return {
        "apiVersion": f"{render_bench.GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {
            "name": name,
            "namespace": TEAM,
            "creationTimestamp": f"{year}-01-{1 + day:02d}T00:00:00Z",
        },
        "spec": {
            "parentRefs": [{"name": KEY[1], "namespace": KEY[0], "port": 8443}],
            "hostnames": [hostname],
        },
    }


def new_routes(refused: bool) -> Iterator[Route]:
    """Fresh routes, newer than every other: sharing the listener 8443/HTTPS of app0 on both
    Gateways (render_bench's route 0 of team-5 holds it), or outside the allow-list."""
    hostname = "elsewhere.example.org" if refused else f"app0.gw{GATEWAY}.example.com"
    n = 0
    while True:
        yield parse_route(clean_route(f"new{n}", hostname, 0, year=2025))
        n += 1


class Setup:
    def __init__(self, routes: list[Route]) -> None:
        self.index = ClusterIndex()
        wrapped = render_bench.wrapped_gateway(GATEWAY)
        wrapped["metadata"].update(uid="uid-bench", generation=1)
        self.index.upsert_wrapped(WrappedEntry.from_object(wrapped))
        for namespace in render_bench.namespaces():
            metadata = namespace["metadata"]
            self.index.upsert_namespace(metadata["name"], metadata["labels"])
        for route in routes:
            self.index.upsert_route(route)
        self.api = FakeApi()
        self.events = RefusalEvents(self.api, self.index)  # type: ignore[arg-type]
        self.reconciler = Reconciler(
            self.index,
            self.api,  # type: ignore[arg-type]
            self.events,
            clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        )

    async def settle(self) -> tuple[int, float]:
        """Reconcile, then post every Event a batch at a time as the poster does (without its
        pauses): how many batches, how long in all."""
        started = time.perf_counter()
        await self.reconciler.reconcile(KEY)
        batches = await self.post_offered()
        return batches, time.perf_counter() - started

    async def post_offered(self) -> int:
        """Post what reconciles offered (a new refusal's Event), apart from them, as the
        controller does; how many batches it took."""
        batches = 0
        while await self.events.post_next() is not None:
            batches += 1
        return batches

    async def changes(self, count: int, new: Iterator[Route]) -> dict[str, list[float]]:
        """`count` times: a new route in, reconciled; out again, reconciled. Seconds each,
        wall-clock and CPU (of every thread of the process: what a busy machine can't
        inflate)."""
        times: dict[str, list[float]] = {"add": [], "delete": [], "add CPU": [], "delete CPU": []}
        for _ in range(count):
            route = next(new)
            for what in ("add", "delete"):
                started, cpu = time.perf_counter(), time.process_time()
                if what == "add":
                    self.index.upsert_route(route)
                else:
                    self.index.remove_route(*route.identity)
                await self.reconciler.reconcile(KEY)
                times[f"{what} CPU"].append(time.process_time() - cpu)
                times[what].append(time.perf_counter() - started)
                await self.post_offered()
        return times

    def refusals(self) -> int:
        return sum(self.reconciler.refusals_by_reason().values())


def ms(values: list[float]) -> str:
    median = statistics.median(values) * 1000
    p90 = statistics.quantiles(values, n=10)[-1] * 1000 if len(values) > 1 else median
    return f"median {median:6.2f} ms  p90 {p90:6.2f} ms"


async def inline(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100, help="adds (and as many deletes)")
    parser.add_argument("--clean-hostnames", type=int, default=62)
    parser.add_argument("--refused-new-route", action="store_true")
    parser.add_argument("--profile", action="store_true", help="each Gateway's hot spots")
    parser.add_argument("--profile-lines", type=int, default=25)
    args = parser.parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, {args.routes:,} routes, {args.changes} adds and "
        f"{args.changes} deletes each, new route "
        f"{'refused' if args.refused_new_route else 'sharing a listener'}, load "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    results: dict[str, dict[str, list[float]]] = {}
    builds: dict[str, Callable[[], list[Route]]] = {
        "clean": lambda: clean_routes(args.routes, args.clean_hostnames),
        "refused": lambda: refused_routes(args.routes),
    }
    for label, build in builds.items():
        setup = Setup(build())
        loop = asyncio.new_event_loop()
        batches, settle_seconds = loop.run_until_complete(setup.settle())
        print(
            f"{label:>8}: {setup.refusals():,} refusals; first reconcile and {batches} batches "
            f"of Events in {settle_seconds:.2f} s; {dict(setup.api.calls)}"
        )
        setup.api.calls.clear()
        new = new_routes(args.refused_new_route)
        loop.run_until_complete(setup.changes(3, new))  # warm-up
        gc.collect()
        results[label] = times = loop.run_until_complete(setup.changes(args.changes, new))
        for what, values in times.items():
            print(f"{'':>8}  {what:<10} {ms(values)}")
        print(f"{'':>8}  calls during the changes: {dict(setup.api.calls)}")
        if args.profile:
            print(f"{label}: hot spots of {args.changes} adds and deletes, threads inline")
            real = reconciler_module.asyncio.to_thread
            reconciler_module.asyncio.to_thread = inline  # type: ignore[assignment]
            profiler = cProfile.Profile()
            try:
                profiler.runcall(loop.run_until_complete, setup.changes(args.changes, new))
            finally:
                reconciler_module.asyncio.to_thread = real
            for sort in ("tottime", "cumulative"):
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort)
                stats.print_stats(args.profile_lines)
                print(out.getvalue())
        loop.close()
    for what in results["clean"]:
        clean, refused = (statistics.median(results[k][what]) for k in ("clean", "refused"))
        print(f"{what}: refused/clean median ratio {refused / clean:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
