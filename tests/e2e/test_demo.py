"""`hack/demo.py` shows a generated Gateway and its Certificates, and cleans up."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
DEMO = Path(__file__).resolve().parents[2] / "hack" / "demo.py"


def test_demo_shows_the_generated_gateway_and_cleans_up(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    command = [sys.executable, str(DEMO), "--dir", str(state)]
    result = subprocess.run(
        [*command, "--exit-after", "20"], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WrappedGateway infra/shared: Ready=True" in result.stdout
    assert "https-443-app.example.com" in result.stdout
    assert "refused HTTPRoute team-a/stray: HostnameNotAllowed" in result.stdout
    # cert-manager, started with the control plane, issues one Certificate per hostname
    assert "infra/tls-443-app.example.com dnsNames=['app.example.com'] Ready=True" in result.stdout
    assert "stopping everything the demo started" in result.stderr
    leftovers = subprocess.run(
        ["pgrep", "-f", str(state)], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout == "", f"processes left running: {leftovers.stdout}"
