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

Run from the repository root (the first run of the control plane needs its binaries built, see
hack/README.md):

    .venv/bin/python bench/controller_bench.py
    .venv/bin/python bench/controller_bench.py --routes 1000 --changes 20 --burst-routes 0
    .venv/bin/python bench/controller_bench.py --routes --changes 0           # the burst only
    .venv/bin/python bench/controller_bench.py --kubeconfig /tmp/wg/kubeconfig  # a running one
    .venv/bin/python bench/controller_bench.py --source /tmp/older-checkout     # compare code
"""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from urllib3.exceptions import ProtocolError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))
import local_cluster  # noqa: E402 - lives in hack/, put on the path just above

GW = "gateway.networking.k8s.io"
WRAPPED = "wrapped-gateway.dev"
BURST_HOSTNAMES = 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--routes", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--hostnames", type=int, default=40, help="listeners of the N routes")
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--quiet", type=float, default=1.0, help="idle seconds before a change")
    parser.add_argument("--burst-routes", type=int, default=5000)
    parser.add_argument("--burst-gateways", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8, help="client threads creating routes")
    parser.add_argument("--kubeconfig", type=Path, help="use this running cluster instead")
    parser.add_argument("--source", type=Path, default=REPO, help="checkout whose controller runs")
    args = parser.parse_args()

    print(f"load average at start: {_load()}")
    with (
        tempfile.TemporaryDirectory(prefix="controller-bench-") as scratch,
        _cluster(args.kubeconfig, Path(scratch)) as kubeconfig,
        _controller(kubeconfig, args.source, Path(scratch) / "controller.log") as controller,
    ):
        print(f"controller from {args.source.resolve()}, log {Path(scratch) / 'controller.log'}")
        api = _api_client(kubeconfig, args.threads)
        for count in args.routes:
            _single_changes(api, controller, count, args)
        if args.burst_routes:
            _burst(api, controller, args)
    print(f"load average at end: {_load()}")
    return 0


# --- scenarios ------------------------------------------------------------------------------
def _single_changes(
    api: client.ApiClient, controller: "Controller", count: int, args: argparse.Namespace
) -> None:
    custom = client.CustomObjectsApi(api)
    namespace = _namespace(api, f"bench-{count}-")
    custom.create_namespaced_custom_object(
        WRAPPED, "v1alpha1", namespace, "wrappedgateways", _wrapped(namespace, "gw")
    )
    gateways = GatewayWatch(api, namespace)
    applies_before = controller.metric("wrapped_gateway_applies_total")
    started = time.monotonic()
    base = [_route(namespace, f"r{i}", f"h{i % args.hostnames}.bench.example.com", "gw")
            for i in range(count)]  # fmt: skip
    _create_all(custom, base, args.threads)
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
    print(f"  route created -> its listener in the Gateway: {_stats(added)}")
    print(f"    of which the create call itself:            {_stats(create_calls)}")
    print(f"  route deleted -> its listener gone:           {_stats(removed)}")
    print(
        f"  {reconciles / (2 * args.changes):.1f} reconciles per change, "
        f"{reconcile_ms:.0f} ms each on average"
    )
    client.CoreV1Api(api).delete_namespace(namespace)


def _burst(api: client.ApiClient, controller: "Controller", args: argparse.Namespace) -> None:
    custom = client.CustomObjectsApi(api)
    namespace = _namespace(api, "bench-burst-")
    names = [f"gw{g}" for g in range(args.burst_gateways)]
    for name in names:
        custom.create_namespaced_custom_object(
            WRAPPED, "v1alpha1", namespace, "wrappedgateways", _wrapped(namespace, name)
        )
    _wait_for_quiet(controller)
    gateways = GatewayWatch(api, namespace)
    applies_before = controller.metric("wrapped_gateway_applies_total")
    # Interleaved, so every WrappedGateway receives routes throughout the burst.
    routes = [
        _route(namespace, f"r{i}-{name}", f"h{i % BURST_HOSTNAMES}.{name}.bench.example.com", name)
        for i in range(args.burst_routes // len(names))
        for name in names
    ]
    started = time.monotonic()
    _create_all(custom, routes, args.threads)
    created = time.monotonic() - started
    per_gateway = min(BURST_HOSTNAMES, args.burst_routes // len(names))
    gateways.wait(
        lambda: all(len(gateways.hostnames(name)) == per_gateway for name in names), timeout=300
    )
    complete = time.monotonic() - started
    _wait_for_quiet(controller)
    gateways.stop()
    applies = controller.metric("wrapped_gateway_applies_total") - applies_before
    print(
        f"\nburst: {len(routes)} routes over {len(names)} WrappedGateways created in "
        f"{created:.1f} s ({len(routes) / created:.0f}/s); every Gateway complete after "
        f"{complete:.1f} s; {applies:.0f} applies, {applies / len(names):.1f} per Gateway "
        f"(the last of its {per_gateway} hostnames arrived "
        f"{created * per_gateway * len(names) / len(routes):.1f} s into the burst)"
    )
    client.CoreV1Api(api).delete_namespace(namespace)


# --- the cluster and the controller -----------------------------------------------------------
@contextlib.contextmanager
def _cluster(kubeconfig: Path | None, scratch: Path) -> Iterator[Path]:
    if kubeconfig is not None:
        yield kubeconfig
        return
    state = local_cluster.up(scratch / "cluster")
    try:
        yield state.kubeconfig
    finally:
        local_cluster.down(scratch / "cluster")


class Controller:
    def __init__(self, metrics_url: str) -> None:
        self.metrics_url = metrics_url

    def metric(self, name: str) -> float:
        """The sum of the samples of `name` (all label sets)."""
        return sum(value for sample, value in self._samples() if sample.partition("{")[0] == name)

    def reconciles(self) -> tuple[float, float]:
        """How many reconciles finished, and the seconds they took together."""
        name = "wrapped_gateway_reconcile_duration_seconds"
        return self.metric(f"{name}_count"), self.metric(f"{name}_sum")

    def _samples(self) -> Iterator[tuple[str, float]]:
        with urllib.request.urlopen(f"{self.metrics_url}/metrics", timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line and not line.startswith("#"):
                    sample, _, value = line.rpartition(" ")
                    yield sample, float(value)


@contextlib.contextmanager
def _controller(kubeconfig: Path, source: Path, log: Path) -> Iterator[Controller]:
    health = f"127.0.0.1:{local_cluster.free_port()}"
    metrics = f"127.0.0.1:{local_cluster.free_port()}"
    command = [sys.executable, "-m", "wrapped_gateway", "run", "--kubeconfig", str(kubeconfig),
               "--health-address", health, "--metrics-address", metrics]  # fmt: skip
    # `-m` imports the package from the working directory first: that of `source`.
    environment = {**os.environ, "PYTHONPATH": str(source.resolve())}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=source, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        _until(lambda: _ok(f"http://{health}/readyz") or process.poll() is not None, 60)
        if process.poll() is not None:
            raise SystemExit(f"the controller exited:\n{log.read_text()}")
        yield Controller(f"http://{metrics}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _api_client(kubeconfig: Path, threads: int) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = threads
    return client.ApiClient(configuration)


# --- watching the Gateways ------------------------------------------------------------------
class GatewayWatch:
    """The listener hostnames of every Gateway in a namespace, as a watch reports them."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._namespace = namespace
        self._hostnames: dict[str, frozenset[str]] = {}
        self._changed = threading.Condition()
        self._seen_at = 0.0
        self._stopped = False
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def hostnames(self, gateway: str) -> frozenset[str]:
        return self._hostnames.get(gateway, frozenset())

    def wait(self, condition: Callable[[], bool], timeout: float = 30) -> float:
        """Waits until `condition` holds; returns the monotonic time of the event that made it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                if not self._changed.wait(deadline - time.monotonic()):
                    raise TimeoutError(f"not true after {timeout} s")
            return self._seen_at

    def wait_for_listener(self, gateway: str, hostname: str, *, present: bool) -> float:
        return self.wait(lambda: (hostname in self.hostnames(gateway)) == present)

    def stop(self) -> None:
        self._stopped = True
        self._watch.stop()

    def _follow(self) -> None:
        while not self._stopped:
            try:
                self._follow_once()
            except (ProtocolError, client.ApiException):
                # The API server ended the watch (or is going away at the end of the run);
                # a new watch starts with a fresh listing, so nothing is missed.
                time.sleep(0.1)

    def _follow_once(self) -> None:
        events = self._watch.stream(
            self._custom.list_namespaced_custom_object, GW, "v1", self._namespace, "gateways"
        )
        for event in events:
            seen_at = time.monotonic()
            gateway = event["object"]
            name = gateway["metadata"]["name"]
            listeners = gateway.get("spec", {}).get("listeners", [])
            hostnames = frozenset(listener.get("hostname", "") for listener in listeners)
            with self._changed:
                if event["type"] == "DELETED":
                    self._hostnames.pop(name, None)
                else:
                    self._hostnames[name] = hostnames
                self._seen_at = seen_at
                self._changed.notify_all()


# --- objects --------------------------------------------------------------------------------
def _namespace(api: client.ApiClient, prefix: str) -> str:
    created = client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name=prefix))
    )
    name: str = created.metadata.name
    return name


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


def _create_all(
    custom: client.CustomObjectsApi, routes: list[dict[str, Any]], threads: int
) -> None:
    def create(route: dict[str, Any]) -> None:
        namespace = route["metadata"]["namespace"]
        custom.create_namespaced_custom_object(GW, "v1", namespace, "httproutes", route)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, routes))


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


def _until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} s")
        time.sleep(0.2)


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _stats(seconds: list[float]) -> str:
    milliseconds = sorted(s * 1000 for s in seconds)
    centiles = statistics.quantiles(milliseconds, n=100, method="inclusive")
    return (
        f"p50 {centiles[49]:.0f} ms, p90 {centiles[89]:.0f} ms, p99 {centiles[98]:.0f} ms "
        f"(min {milliseconds[0]:.0f}, max {milliseconds[-1]:.0f})"
    )


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
