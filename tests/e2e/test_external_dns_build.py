"""How hack/local-cluster builds external-dns and runs Knot (no cluster needed)."""

import subprocess
from pathlib import Path

import local_cluster
import pytest
from local_cluster_parts.knot import start_knot

from tests.e2e.data_plane import cannot_run

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_external_dns_is_pinned_built_in_ci_and_stamped() -> None:
    entry = local_cluster.load_versions()["external_dns"]
    assert "external_dns" in local_cluster.BUILDABLE
    # its go directive needs a newer Go than the machines have; the proxy serves it
    assert entry["go_toolchain"].startswith("go1.27")
    # every replace points at a module version (no directory, no copied source)
    assert all(len(line.split("=>")[1].split()) == 2 for line in entry["replace"])
    # the build step, its continuation lines joined
    script = (ROOT / ".ci" / "run").read_text().replace("\\\n", " ")
    build_commands = [line for line in script.splitlines() if "hack/local-cluster build " in line]
    assert any("external-dns" in line.split() for line in build_commands), build_commands
    assert "knot-dnsutils" in script
    assert local_cluster._version_ldflags("external_dns", entry["version"]) == [
        f"-X sigs.k8s.io/external-dns/pkg/apis/externaldns.Version={entry['version']}"
    ]


def test_knot_serves_the_zone_and_takes_updates_from_loopback(tmp_path: Path) -> None:
    try:
        local_cluster.knotd_binary()
    except local_cluster.ClusterError as error:
        cannot_run(str(error))
    state = local_cluster.State(dir=tmp_path)
    try:
        knot = start_knot(state, "example.com", timeout=20)
        port = knot.ports[0]
        assert local_cluster.query_addresses(port, "app.example.com") == []
        update = "\n".join(
            [
                f"server 127.0.0.1 {port}",
                "zone example.com",
                "update add app.example.com 0 A 10.1.2.3",
                "send",
                "",
            ]
        )
        subprocess.run(["knsupdate"], input=update, text=True, check=True, capture_output=True)
        assert local_cluster.query_addresses(port, "app.example.com") == ["10.1.2.3"]
        assert state.dns == {"server": f"127.0.0.1:{port}", "zone": "example.com"}
    finally:
        local_cluster.stop_components(state.components)
