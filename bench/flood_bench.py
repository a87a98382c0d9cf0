"""What one tenant's flood of refused routes costs another tenant of the same Gateway, in a
cluster.

A fresh local control plane (hack/local-cluster), the controller of `--source` (a checkout,
so that commits can be compared), one WrappedGateway that admits every namespace. Tenant
`flood` creates `--flood` HTTPRoutes, each refused (its hostname is an IP address), which
leaves the controller as many Warning Events to post. At once, while those are being posted,
tenant `team` makes `--changes` single changes, `--gap` seconds apart: an HTTPRoute with a
hostname of its own, timed from just before the create call until a watch shows its listener
on the Gateway; then deleted, timed until the listener is gone.

It prints the changes' latency, how many of the flood's Events were posted when the changes
began and ended, the reconciles the controller finished meanwhile, when the last Event was
posted, and the controller's CPU seconds from the flood's first create on. It asserts nothing.

    .venv/bin/python bench/flood_bench.py
    .venv/bin/python bench/flood_bench.py --source /tmp/older-checkout --flood 3000
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_cluster
from bench_cluster import GW, REPO, GatewayWatch
from controller_bench import WRAPPED, Controller
from kubernetes import client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flood", type=int, default=3000, help="refused routes")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between changes")
    parser.add_argument("--threads", type=int, default=8, help="client threads creating routes")
    parser.add_argument("--source", type=Path, default=REPO, help="checkout whose controller runs")
    args = parser.parse_args()
    print(
        f"{args.flood} refused routes, {args.changes} changes; load {bench_cluster.load_average()}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="flood-bench-") as scratch,
        bench_cluster.cluster(None, Path(scratch)) as kubeconfig,
    ):
        api = bench_cluster.api_client(kubeconfig, args.threads)
        custom = client.CustomObjectsApi(api)
        infra, flood, team = (
            bench_cluster.create_namespace(api, f"{n}-") for n in ("infra", "flood", "team")
        )
        wrapped = {
            "apiVersion": f"{WRAPPED}/v1alpha1",
            "kind": "WrappedGateway",
            "metadata": {"name": "gw", "namespace": infra},
            "spec": {"gatewayClassName": "bench", "routes": {"namespaces": {"from": "All"}}},
        }
        custom.create_namespaced_custom_object(
            WRAPPED, "v1alpha1", infra, "wrappedgateways", wrapped
        )
        controller = Controller(kubeconfig, args.source, Path(scratch) / "controller.log")
        controller.start()
        gateways = GatewayWatch(api, infra)
        try:
            _create(custom, _route(team, "base", "base.bench.example.com", infra))
            gateways.wait_for_listener("gw", "base.bench.example.com", present=True, timeout=60)
            time.sleep(3)
            cpu, reconciles = controller.usage().cpu_seconds, controller.reconciles()[0]
            started = time.monotonic()
            bench_cluster.create_routes(
                custom,
                [
                    _route(flood, f"f{i}", f"10.{i // 250}.{i % 250}.1", infra)
                    for i in range(args.flood)
                ],
                args.threads,
            )
            created = time.monotonic() - started
            posted_before = _events(api, flood)
            added, deleted = _changes(custom, gateways, team, infra, args)
            posted_after = _events(api, flood)
            during = controller.reconciles()[0] - reconciles
            bench_cluster.until(lambda: _events(api, flood) >= args.flood, 1800)
            all_posted = time.monotonic() - started
            cpu = controller.usage().cpu_seconds - cpu
        finally:
            gateways.stop()
            controller.stop()
    print(f"controller from {args.source.resolve()}")
    print(f"flood created in {created:.1f} s; its Events posted: {posted_before} when the "
          f"changes began, {posted_after} when they ended, all {args.flood} after "
          f"{all_posted:.1f} s")  # fmt: skip
    print(f"create -> listener: {bench_cluster.latency_stats(added)}")
    print(f"delete -> gone:     {bench_cluster.latency_stats(deleted)}")
    print(f"reconciles from the flood's first create to the last change: {during:.0f}")
    print(f"controller CPU from the flood's first create until every Event was posted: {cpu:.1f} s")
    return 0


def _changes(
    custom: client.CustomObjectsApi,
    gateways: GatewayWatch,
    team: str,
    infra: str,
    args: argparse.Namespace,
) -> tuple[list[float], list[float]]:
    added: list[float] = []
    deleted: list[float] = []
    for i in range(args.changes):
        hostname = f"c{i}.bench.example.com"
        began = time.monotonic()
        _create(custom, _route(team, f"c{i}", hostname, infra))
        added.append(gateways.wait_for_listener("gw", hostname, present=True, timeout=300) - began)
        began = time.monotonic()
        custom.delete_namespaced_custom_object(GW, "v1", team, "httproutes", f"c{i}")
        deleted.append(
            gateways.wait_for_listener("gw", hostname, present=False, timeout=300) - began
        )
        time.sleep(args.gap)
    return added, deleted


def _events(api: client.ApiClient, namespace: str) -> int:
    """How many Events `namespace` holds (the flood's refusals: nothing else posts there)."""
    core = client.CoreV1Api(api)
    count, token = 0, None
    while True:
        page = core.list_namespaced_event(namespace, limit=500, _continue=token)
        count += len(page.items)
        token = page.metadata.var_continue if page.metadata else None
        if not token:
            return count


def _create(custom: client.CustomObjectsApi, route: dict[str, Any]) -> None:
    namespace = route["metadata"]["namespace"]
    custom.create_namespaced_custom_object(GW, "v1", namespace, "httproutes", route)


def _route(namespace: str, name: str, hostname: str, infra: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parentRefs": [{"name": "gw", "namespace": infra}], "hostnames": [hostname]},
    }


if __name__ == "__main__":
    raise SystemExit(main())
