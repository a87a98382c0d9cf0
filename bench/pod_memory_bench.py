"""The chart's Pod holding 20,000 routes: its memory, to size `resources` in values.yaml.

Starts a cluster with a node (`hack/local-cluster up --with-node`, as root), installs the chart
with its defaults, creates `--routes` HTTPRoutes over `--gateways` WrappedGateways (50 hostnames
each) and, once every Gateway has its listeners and the controller's index holds every route,
reads the container's memory: the process's peak RSS (VmHWM) and its cgroup's peak usage.

    .venv/bin/python bench/pod_memory_bench.py --routes 20000
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_cluster
import local_cluster
from kubernetes import client

GW = "gateway.networking.k8s.io"
SYSTEM = "wg-system"
HOSTNAMES_PER_GATEWAY = 50
CHART = Path(__file__).resolve().parents[1] / "helm" / "wrapped-gateway"
CGROUP_MEMORY = Path("/sys/fs/cgroup/memory")


def _metric(pod_ip: str, name: str) -> float:
    with urllib.request.urlopen(f"http://{pod_ip}:8080/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _container_cgroup(container_id: str) -> Path:
    (found,) = CGROUP_MEMORY.rglob(container_id.removeprefix("containerd://"))
    return found


def _peak_rss_mb(cgroup: Path) -> float:
    (pid,) = (cgroup / "cgroup.procs").read_text().split()
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert match
    return int(match.group(1)) / 1024


def _routes(namespace: str, gateways: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": f"{GW}/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": f"r{n}", "namespace": namespace},
            "spec": {
                "parentRefs": [{"name": f"gw{n % gateways}"}],
                "hostnames": [f"h{(n // gateways) % HOSTNAMES_PER_GATEWAY}.gw{n % gateways}.test"],
            },
        }
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", type=int, default=20000)
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pod-memory-") as scratch:
        state = local_cluster.up(
            Path(scratch) / "cluster", local_cluster.ClusterOptions(with_node=True)
        )
        try:
            _run(state.kubeconfig, args)
        finally:
            local_cluster.down(Path(scratch) / "cluster")


def _run(kubeconfig: Path, args: argparse.Namespace) -> None:
    api = bench_cluster.api_client(kubeconfig, args.threads)
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=SYSTEM)))
    helm = local_cluster.ensure_binaries("helm")["helm"]
    subprocess.run(
        [str(helm), "--kubeconfig", str(kubeconfig), "install", "wrapped-gateway", str(CHART),
         "--namespace", SYSTEM, "--wait"],
        check=True, capture_output=True,
    )  # fmt: skip
    (pod,) = core.list_namespaced_pod(SYSTEM).items
    cgroup = _container_cgroup(pod.status.container_statuses[0].container_id)
    ready_mb = _peak_rss_mb(cgroup)
    namespace = bench_cluster.create_namespace(api, "bench-pod-")
    for g in range(args.gateways):
        custom.create_namespaced_custom_object(
            "wrapped-gateway.dev", "v1alpha1", namespace, "wrappedgateways",
            {"apiVersion": "wrapped-gateway.dev/v1alpha1", "kind": "WrappedGateway",
             "metadata": {"name": f"gw{g}"}, "spec": {"gatewayClassName": "example"}},
        )  # fmt: skip
    started = time.monotonic()
    bench_cluster.create_routes(
        custom, _routes(namespace, args.gateways, args.routes), args.threads
    )
    created = time.monotonic() - started
    pod_ip = pod.status.pod_ip
    bench_cluster.until(
        lambda: _metric(pod_ip, "wrapped_gateway_index_routes") >= args.routes, timeout=900
    )

    def complete() -> bool:
        gateways = custom.list_namespaced_custom_object(GW, "v1", namespace, "gateways")["items"]
        per_gateway = min(HOSTNAMES_PER_GATEWAY, args.routes // args.gateways)
        return len(gateways) == args.gateways and all(
            len({lst.get("hostname") for lst in g["spec"]["listeners"]}) >= per_gateway
            for g in gateways
        )

    bench_cluster.until(complete, timeout=900)
    settled = time.monotonic() - started
    time.sleep(10)
    peak_cgroup = int((cgroup / "memory.max_usage_in_bytes").read_text()) / 2**20
    rss_now = (
        next(
            int(line.split()[1])
            for line in (cgroup / "memory.stat").read_text().splitlines()
            if line.startswith("total_rss ")
        )
        / 2**20
    )
    print(
        f"pod memory: {args.routes} routes over {args.gateways} WrappedGateways, created in "
        f"{created:.0f} s, all in Gateways at {settled:.0f} s; the controller's peak RSS "
        f"(VmHWM) {_peak_rss_mb(cgroup):.0f} MiB (ready with none: {ready_mb:.0f} MiB); "
        f"RSS now {rss_now:.0f} MiB; the container cgroup's peak usage {peak_cgroup:.0f} MiB "
        f"(page cache included); load average {bench_cluster.load_average()}"
    )


if __name__ == "__main__":
    main()
