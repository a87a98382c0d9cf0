"""How long `render` takes: 10,000 routes across 1,000 WrappedGateways, and
10,000 routes on one WrappedGateway through the whole command.

In memory, the objects built as `Document`s (no file reading, no YAML loading), it times:

- render: `render()` of `wrapped_gateway.render.render` end to end, i.e. parsing every
  WrappedGateway, route and Namespace and synthesising every Gateway;
- YAML dump: `to_yaml` of the rendered Gateways (what `wrapped-gateway render` prints), separately.

End to end, it writes one WrappedGateway (a Selector policy, a hostname allow-list, static
listeners), 10,000 routes of every kind attached to it and the Namespaces to a YAML file, and
times `python -m wrapped_gateway render -f FILE` in a new process with stdout and stderr going
to files: start-up, YAML loading, rendering, and printing the Gateway and the refusals (the
budget: 2 s on the 2-core development machine). Then the same stages in this process, one by one.

Run from the repository root:

    .venv/bin/python bench/render_bench.py              # both figures
    .venv/bin/python bench/render_bench.py --profile    # plus render's hot spots (cProfile)
    .venv/bin/python bench/render_bench.py --gateways 100 --routes-per-gateway 50 --repeat 9
    .venv/bin/python bench/render_bench.py --one-gateway-routes 0   # in memory only
"""

import argparse
import compileall
import cProfile
import gc
import io
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import wrapped_gateway as package
from wrapped_gateway.render.manifests import Document, read_documents
from wrapped_gateway.render.render import Rendered, render, to_yaml

GROUP = "gateway.networking.k8s.io"
TEAMS = 50  # namespaces routes come from; each WrappedGateway admits routes from a few of them

# The route mix of one WrappedGateway, repeated: mostly HTTP, some of every other kind.
KINDS = (
    "HTTPRoute",
    "HTTPRoute",
    "HTTPRoute",
    "HTTPRoute",
    "GRPCRoute",
    "GRPCRoute",
    "TLSRoute",
    "TLSRoute",
    "TCPRoute",
    "UDPRoute",
)


def wrapped_gateway(index: int) -> dict[str, Any]:
    """Every other WrappedGateway admits a team selector and an allow-list; some have statics."""
    spec: dict[str, Any] = {"gatewayClassName": "bench"}
    if index % 2:
        spec["routes"] = {
            "namespaces": {
                "from": "Selector",
                "selector": {"matchLabels": {"gateway": f"gw-{index % 20}"}},
            },
            "hostnames": [f"*.gw{index}.example.com", "*.shared.example.com"],
        }
    else:
        spec["routes"] = {"namespaces": {"from": "All"}}
    if index % 5 == 0:
        spec["listeners"] = [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ]
    return {
        "apiVersion": "wrapped-gateway.dev/v1alpha1",
        "kind": "WrappedGateway",
        "metadata": {
            "name": f"gw{index}",
            "namespace": f"infra-{index % 10}",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        },
        "spec": spec,
    }


def route(gateway: int, index: int, kind: str) -> dict[str, Any]:
    """A route of `kind` for WrappedGateway `gateway`; a few collide, a few are refused."""
    # one of the two teams whose namespace label the Gateway's selector matches
    team = f"team-{gateway % 20 + 20 * (index % 2)}"
    name = f"r{gateway}-{index}"
    annotations: dict[str, str] = {}
    ref: dict[str, Any] = {"name": f"gw{gateway}", "namespace": f"infra-{gateway % 10}"}
    spec: dict[str, Any] = {"parentRefs": [ref]}
    host = f"app{index}.gw{gateway}.example.com"
    if kind in ("HTTPRoute", "GRPCRoute"):
        # two hostnames, one shared by two routes of the same Gateway (a conflict or a share)
        spec["hostnames"] = [host, f"common{index % 3}.gw{gateway}.example.com"]
        if index % 7 == 0:
            ref["port"] = 8443
    elif kind == "TLSRoute":
        spec["hostnames"] = [host]
        if index % 2:
            annotations["wrapped-gateway.dev/tls-mode"] = "Passthrough"
            ref["port"] = 6443
    else:
        annotations["wrapped-gateway.dev/ports"] = f"{5000 + index},{6000 + index}"
        annotations["wrapped-gateway.dev/hostname"] = host
    if index == 9:
        annotations["wrapped-gateway.dev/ports"] = "not-a-port"  # refused with InvalidPorts
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": team,
        "creationTimestamp": f"2024-01-{1 + index % 28:02d}T00:00:00Z",
    }
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": metadata, "spec": spec}


def namespaces() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": f"team-{t}", "labels": {"gateway": f"gw-{t % 20}"}},
        }
        for t in range(TEAMS)
    ]


def documents(gateways: int, routes_per_gateway: int) -> list[Document]:
    objects: list[dict[str, Any]] = [wrapped_gateway(g) for g in range(gateways)]
    objects += [
        route(g, i, KINDS[i % len(KINDS)])
        for g in range(gateways)
        for i in range(routes_per_gateway)
    ]
    objects += namespaces()
    return [Document(f"bench (document {n})", obj) for n, obj in enumerate(objects, start=1)]


def one_gateway_manifest(routes: int) -> str:
    """YAML of one WrappedGateway, `routes` routes attached to it and the Namespaces."""
    gateway = 5  # odd and a multiple of five: a Selector policy, an allow-list, static listeners
    objects = [
        wrapped_gateway(gateway),
        *(route(gateway, i, KINDS[i % len(KINDS)]) for i in range(routes)),
        *namespaces(),
    ]
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(objects, Dumper=dumper, sort_keys=False)


def command(manifest: Path, output: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user and system) of `wrapped-gateway render -f manifest`
    in a new process, its stdout and stderr written to files in `output`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with (output / "out.yaml").open("w") as out, (output / "err.txt").open("w") as err:
        subprocess.run(
            [sys.executable, "-m", "wrapped_gateway", "render", "-f", str(manifest)],
            stdout=out,
            stderr=err,
            check=True,
        )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def end_to_end(routes: int, repeat: int) -> None:
    """The whole command on one WrappedGateway with `routes` routes, then its stages."""
    with tempfile.TemporaryDirectory(prefix="render-bench-") as directory:
        output = Path(directory)
        manifest = output / "in.yaml"
        manifest.write_text(one_gateway_manifest(routes))
        # An installed package comes with its bytecode compiled (pip compiles it); run from a
        # checkout with PYTHONDONTWRITEBYTECODE set, every module would be compiled from source
        # on each run, a twentieth of the time measured.
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
        command(manifest, output)  # warm-up: the page cache
        runs = [command(manifest, output) for _ in range(repeat)]
        gateways = list(yaml.load_all((output / "out.yaml").read_text(), Loader=yaml.SafeLoader))
        stderr_lines = len((output / "err.txt").read_text().splitlines())
        print(
            f"\none WrappedGateway, {routes:,} routes: {manifest.stat().st_size / 1e6:.1f} MB "
            f"of YAML -> {len(gateways)} Gateway, "
            f"{sum(len(g['spec']['listeners']) for g in gateways)} listeners, "
            f"{stderr_lines:,} lines on stderr"
        )
        walls, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
        print(summary("wrapped-gateway render", walls, cpus, routes) + "   (new process)")

        read_walls, read_cpus, documents = timed(lambda: read_documents([str(manifest)]), repeat)
        print(summary("  read: file -> Documents", read_walls, read_cpus, routes))
        render_walls, render_cpus, rendered = timed(lambda: render(documents), repeat)
        print(summary("  render", render_walls, render_cpus, routes))
        print_walls, print_cpus, _ = timed(lambda: printed(rendered), repeat)
        print(summary("  print: YAML, refusals", print_walls, print_cpus, routes))


def printed(rendered: Rendered) -> tuple[str, str]:
    """What the command writes to stdout and stderr."""
    gateways = [g.gateway for g in rendered.gateways if g.gateway is not None]
    return to_yaml(gateways), "".join(f"{line}\n" for line in rendered.diagnostics)


def timed(function: Callable[[], Any], repeat: int) -> tuple[list[float], list[float], Any]:
    """Wall-clock and CPU seconds of each call (CPU time is what a busy machine can't inflate)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return walls, cpus, result


def summary(label: str, walls: list[float], cpus: list[float], routes: int) -> str:
    median, best, cpu = statistics.median(walls), min(walls), statistics.median(cpus)
    return (
        f"{label:<25} median {median * 1000:7.1f} ms   min {best * 1000:7.1f} ms   "
        f"CPU median {cpu * 1000:7.1f} ms   {routes / median:>8,.0f} routes/s (median)"
    )


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateways", type=int, default=1000)
    parser.add_argument("--routes-per-gateway", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print render's hot spots")
    parser.add_argument(
        "--one-gateway-routes",
        type=int,
        default=10_000,
        help="routes on the one WrappedGateway of the end-to-end run (0: no such run)",
    )
    args = parser.parse_args(argv)

    docs = documents(args.gateways, args.routes_per_gateway)
    routes = args.gateways * args.routes_per_gateway
    render(docs)  # warm-up: imports, caches

    render_walls, render_cpus, rendered = timed(lambda: render(docs), args.repeat)
    assert isinstance(rendered, Rendered)
    gateways = [g.gateway for g in rendered.gateways if g.gateway is not None]
    dump_walls, dump_cpus, text = timed(lambda: to_yaml(gateways), max(1, args.repeat // 3))

    listeners = sum(len(g.listeners) for g in rendered.gateways)
    refusals = Counter(r.reason for g in rendered.gateways for r in g.refusals)
    print(
        f"{routes:,} routes across {args.gateways:,} WrappedGateways -> {len(gateways):,} "
        f"Gateways, {listeners:,} generated listeners, {sum(refusals.values()):,} refusals "
        f"({', '.join(f'{k} {v}' for k, v in sorted(refusals.items()))})"
    )
    print(f"python {sys.version.split()[0]}, {args.repeat} repetitions, load {_load()}")
    print(summary("render (parse+synthesis)", render_walls, render_cpus, routes))
    print(summary("YAML dump", dump_walls, dump_cpus, routes) + f"   ({len(text) / 1e6:.1f} MB)")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(render, docs)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())
    if args.one_gateway_routes:
        end_to_end(args.one_gateway_routes, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
