"""A cluster with a node (``hack/local-cluster up --with-node``) for tests on real Pods.

The node needs root (a bridge, iptables, cgroups) and Debian's buildah, mmdebstrap, runc,
iptables and CNI plugins; a machine without them skips these tests, except where
``WRAPPED_GATEWAY_REQUIRE_NODE`` is set (``.ci/run`` installs all of it), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import local_cluster
import pytest
from kubernetes import client

from tests.e2e.conftest import _TIMINGS, client_for

REQUIRE_ENV = "WRAPPED_GATEWAY_REQUIRE_NODE"
CNI_PLUGINS = Path("/usr/lib/cni")
CHART = Path(__file__).resolve().parents[2] / "helm" / "wrapped-gateway"


def why_no_node() -> str | None:
    if os.geteuid() != 0:
        return "not root (a node makes a bridge, iptables chains and cgroups)"
    missing = [t for t in (*local_cluster.DEB_TOOLS, "iptables") if shutil.which(t) is None]
    if not (CNI_PLUGINS / "bridge").exists():
        missing.append("containernetworking-plugins")
    if missing:
        return f"missing {', '.join(missing)} (Debian packages; .ci/run installs them)"
    return None


def cannot_run(reason: str | None) -> None:
    """Skip when this machine cannot run a node; fail where it must (CI)."""
    if reason is None:
        return
    message = f"a node cannot run here: {reason}"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{message} ({REQUIRE_ENV} is set)", pytrace=False)
    pytest.skip(message)


@dataclass
class NodeCluster:
    state_dir: Path
    kubeconfig: Path
    api_client: client.ApiClient
    timings: dict[str, float]

    def helm(self, *args: str, timeout: float = 300) -> str:
        helm_bin = local_cluster.ensure_binaries("helm")["helm"]
        result = subprocess.run(
            [str(helm_bin), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    cannot_run(why_no_node())
    state_dir = tmp_path_factory.mktemp("node-cluster")
    try:
        state = local_cluster.up(state_dir, local_cluster.ClusterOptions(with_node=True))
    except local_cluster.ClusterError as e:
        pytest.fail(f"hack/local-cluster up --with-node failed: {e}", pytrace=False)
    _TIMINGS.update({f"node cluster: {step}": s for step, s in state.timings.items()})
    try:
        _, api = client_for(state.kubeconfig)
        yield NodeCluster(state_dir, state.kubeconfig, api, _TIMINGS)
        api.close()
    finally:
        local_cluster.down(state_dir)  # nothing to do when a test took it down already
