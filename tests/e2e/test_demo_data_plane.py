"""`hack/demo.py --with-data-plane` shows a real HTTPS answer through Traefik."""

import subprocess
import sys
from pathlib import Path

import local_cluster
import netns_backend
import pytest

from tests.e2e.data_plane import cannot_run

pytestmark = pytest.mark.e2e
DEMO = Path(__file__).resolve().parents[2] / "hack" / "demo.py"


def test_demo_with_data_plane_shows_curl_getting_the_backends_answer(tmp_path: Path) -> None:
    cannot_run(netns_backend.available())
    busy = [p for p in local_cluster.DATA_PLANE_PORTS if local_cluster.port_in_use(p)]
    if busy:
        pytest.skip(f"the demo's Traefik listens on 127.0.0.1:{busy}, which is in use")
    state = tmp_path / "demo"
    command = [sys.executable, str(DEMO), "--dir", str(state)]
    result = subprocess.run(
        [*command, "--with-data-plane", "--exit-after", "5"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    port = local_cluster.DATA_PLANE_PORTS[0]
    assert (
        f"$ curl --silent --show-error --resolve hello.example.com:{port}:127.0.0.1 --cacert "
        in out
    ), out
    assert f"backend team-a/hello answered hello.example.com:{port} /" in out, out
    assert "subjectAltName DNS:hello.example.com" in out, out
    assert "WrappedGateway edge/edge: Ready=True" in out, out
    assert f"https-{port}-hello.example.com" in out
    assert "Programmed=True attachedRoutes=1" in out
    assert "stopping everything the demo started" in result.stderr
    for pattern in (str(state), "netns_backend.py serve --name team-a/hello"):
        leftovers = subprocess.run(
            ["pgrep", "-f", pattern], capture_output=True, text=True, check=False
        )
        assert leftovers.stdout == "", f"processes left running: {leftovers.stdout}"
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert netns_backend.NETNS_PREFIX not in namespaces, namespaces


def test_demo_with_external_dns_shows_the_name_resolving_and_curl_at_that_address(
    tmp_path: Path,
) -> None:
    cannot_run(netns_backend.available())
    try:
        local_cluster.knotd_binary()
    except local_cluster.ClusterError as error:
        cannot_run(str(error))
    busy = [p for p in local_cluster.DATA_PLANE_PORTS if local_cluster.port_in_use(p)]
    if busy:
        pytest.skip(f"the demo's Traefik listens on 127.0.0.1:{busy}, which is in use")
    state = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, str(DEMO), "--dir", str(state), "--with-data-plane",
         "--with-external-dns", "--exit-after", "5"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    port = local_cluster.DATA_PLANE_PORTS[0]
    resolved = out.split("+short hello.example.com A\n", 1)
    assert len(resolved) == 2, out
    address = resolved[1].splitlines()[0]
    assert address == "127.0.0.1", out  # the address Traefik reports for the Gateway
    assert f"--resolve hello.example.com:{port}:{address} --cacert " in out, out
    assert f"backend team-a/hello answered hello.example.com:{port} /" in out, out
    assert "subjectAltName DNS:hello.example.com" in out, out
