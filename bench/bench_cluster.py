"""What the benchmarks that run against a control plane share: the local one or a given one,
an API client for it, namespaces, waiting for a condition, the writes the API server counted
(its /metrics), a watch of the Gateways' listeners, and a process's peak RSS and CPU time."""

import contextlib
import os
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from kubernetes import client, config, watch
from urllib3.exceptions import ProtocolError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))
import local_cluster  # noqa: E402 - lives in hack/, put on the path just above

GW = "gateway.networking.k8s.io"
# apiserver_request_total's verbs that write; "APPLY" is a server-side apply.
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

Writes = Counter[tuple[str, str]]  # (resource[/subresource], verb) -> requests


@contextlib.contextmanager
def cluster(
    kubeconfig: Path | None,
    scratch: Path,
    options: local_cluster.ClusterOptions | None = None,
) -> Iterator[Path]:
    """The kubeconfig of the cluster given, or of a local control plane started in `scratch`
    (hack/local-cluster with `options`, built binaries from the cache) and stopped on the way
    out."""
    if kubeconfig is not None:
        yield kubeconfig
        return
    state = local_cluster.up(scratch / "cluster", options or local_cluster.ClusterOptions())
    try:
        yield state.kubeconfig
    finally:
        local_cluster.down(scratch / "cluster")


def api_client(kubeconfig: Path, threads: int) -> client.ApiClient:
    """A client with a connection for each of `threads` client threads."""
    configuration = client.Configuration()
    # kubernetes.config has no annotations (the generated kubernetes.client has)
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = threads
    return client.ApiClient(configuration)


def create_namespace(api: client.ApiClient, prefix: str) -> str:
    """A new namespace named by the API server after `prefix`; returns its name."""
    created = client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name=prefix))
    )
    if created.metadata is None or not created.metadata.name:
        raise RuntimeError(f"the API server named no namespace for {prefix!r}")
    return created.metadata.name


def namespace_exists(api: client.ApiClient, namespace: str) -> bool:
    try:
        client.CoreV1Api(api).read_namespace(namespace)
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} s")
        time.sleep(0.2)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class Usage(NamedTuple):
    peak_rss_mb: float
    rss_mb: float
    cpu_seconds: float


def process_usage(pid: int) -> Usage:
    """Peak and current resident memory of a process, and its CPU time (user and system)."""
    proc = Path(f"/proc/{pid}")
    status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines())
    # The fields after the command name, which is in parentheses and may contain spaces;
    # utime and stime are fields 14 and 15 of stat(5).
    stat = (proc / "stat").read_text().rpartition(")")[2].split()
    return Usage(
        peak_rss_mb=int(status["VmHWM"].split()[0]) / 1024,
        rss_mb=int(status["VmRSS"].split()[0]) / 1024,
        cpu_seconds=(int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"),
    )


def samples(text: str, prefix: str = "") -> Iterator[tuple[str, float]]:
    """(sample with its labels, value) of each line of a Prometheus text exposition (only of
    the lines that start with `prefix`: a metric's name and "{" leaves out the rest quickly)."""
    for line in text.splitlines():
        if line.startswith(prefix) and line and not line.startswith("#"):
            sample, _, value = line.rpartition(" ")
            yield sample, float(value)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def latency_stats(seconds: list[float]) -> str:
    milliseconds = sorted(s * 1000 for s in seconds)
    centiles = statistics.quantiles(milliseconds, n=100, method="inclusive")
    return (
        f"p50 {centiles[49]:.0f} ms, p90 {centiles[89]:.0f} ms, p99 {centiles[98]:.0f} ms "
        f"(min {milliseconds[0]:.0f}, max {milliseconds[-1]:.0f})"
    )


def create_routes(
    custom: client.CustomObjectsApi, routes: list[dict[str, Any]], threads: int
) -> None:
    def create(route: dict[str, Any]) -> None:
        namespace = route["metadata"]["namespace"]
        custom.create_namespaced_custom_object(GW, "v1", namespace, "httproutes", route)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, routes))


# --- the writes the API server counted ------------------------------------------------------
class ApiWrites:
    """Write requests the API server served, from its /metrics, and those the bench made."""

    def __init__(
        self, api: client.ApiClient, controller_writes: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        self._api = api
        self._controller_writes = controller_writes  # (resource, verb) of report()'s controller
        self._bench: Writes = Counter()
        self._lock = threading.Lock()
        self._count_bench_writes()

    def snapshot(self) -> tuple[Writes, Writes]:
        """What the API server served so far, and what the bench itself asked for."""
        served = self._served()
        with self._lock:
            return served, Counter(self._bench)

    def report(self, before: tuple[Writes, Writes], during: str) -> None:
        """Prints the writes since `before`: the controller's, Leases, the bench's, the rest."""
        served, bench = self.snapshot()
        served.subtract(before[0])
        bench.subtract(before[1])
        rest = Counter(served)
        rest.subtract(bench)  # left negative if the bench wrote what the API server did not count
        controller = {
            k: n for k, n in rest.items() if (k[0], k[1].split()[0]) in self._controller_writes
        }
        # Not the namespace controller's deletes of the Leases in a namespace that goes.
        leases = {k: n for k, n in rest.items() if k[0] == "leases" and k[1] != "DELETECOLLECTION"}
        others = {k: n for k, n in rest.items() if k not in controller and k not in leases}
        print(f"  API writes {during} (the API server's count):")
        print(f"    controller: {listing(controller)}")
        print(f"    leases:     {listing(leases)}")
        print(f"    bench:      {listing(bench)}")
        print(f"    others:     {listing(others)}")

    def _served(self) -> Writes:
        request = self._api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
        response = self._api.call_api(*request)
        response.read()
        metrics = self._api.response_deserialize(response, {"200": "bytearray"}).data
        served: Writes = Counter()
        for sample, value in samples(metrics.decode(), "apiserver_request_total{"):
            labels = sample.partition("{")[2]
            label = dict(LABEL.findall(labels))
            if label["verb"] in WRITE_VERBS:
                resource = "/".join(filter(None, (label["resource"], label["subresource"])))
                served[resource, _verb(label)] += int(value)
        return served

    def _count_bench_writes(self) -> None:
        """Counts every write the bench's API client sends, by resource and verb.

        The API server's metric has no label for the client, so the bench's own writes are
        counted here and subtracted. The bench only creates (POST) and deletes (DELETE) single
        objects, which the metric labels with the same verbs.
        """
        rest = self._api.rest_client
        request = rest.request

        def counted(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if method in WRITE_VERBS:
                with self._lock:
                    self._bench[_resource_of(url), method] += 1
            return request(method, url, *args, **kwargs)

        rest.request = counted


def _verb(label: dict[str, str]) -> str:
    """The verb of a sample, with its status code if it failed.

    The metric labels a delete of a collection (what the namespace controller sends) DELETE,
    like that of one object, but with the scope "namespace" or "cluster".
    """
    verb = label["verb"]
    if verb == "DELETE" and label["scope"] != "resource":
        verb = "DELETECOLLECTION"
    return verb if label["code"].startswith("2") else f"{verb} {label['code']}"


def _resource_of(url: str) -> str:
    """The resource a URL names: httproutes of /apis/G/V/namespaces/NS/httproutes/NAME."""
    parts = urllib.parse.urlsplit(url).path.strip("/").split("/")
    path = parts[2:] if parts[0] == "api" else parts[3:]  # after /api/v1 or /apis/GROUP/VERSION
    if path[0] == "namespaces" and len(path) > 2:
        path = path[2:]
    return "/".join(path[0:1] + path[2:3])


def listing(writes: dict[tuple[str, str], int], most: int = 6) -> str:
    """The total, then the counts by resource and verb, the largest first; the rest summed."""
    counts = sorted(((n, key) for key, n in writes.items() if n), key=lambda c: (-c[0], c[1]))
    if not counts:
        return "0"
    listed = [f"{resource} {verb} {n}" for n, (resource, verb) in counts[:most]]
    if len(counts) > most:
        listed.append(f"{sum(n for n, _ in counts[most:])} more in {len(counts) - most} kinds")
    return f"{sum(n for n, _ in counts)} ({', '.join(listed)})"


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

    def wait_for_listener(
        self, gateway: str, hostname: str, *, present: bool, timeout: float = 30
    ) -> float:
        return self.wait(lambda: (hostname in self.hostnames(gateway)) == present, timeout)

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
