"""hack/local-cluster itself: `up` then `down` leaves nothing behind; failures are clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import local_cluster
import pytest

pytestmark = pytest.mark.e2e

CLI = Path(local_cluster.__file__).with_name("local-cluster")
TCP_LISTEN = "0A"


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == TCP_LISTEN:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live (non-zombie) processes whose command line mentions ``text``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and local_cluster.process_alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CLI), *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_up_then_down_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    state_dir = tmp_path / "second-cluster"
    up = run_cli("up", "--dir", str(state_dir))
    assert up.returncode == 0, up.stderr
    assert "timing: up total" in up.stderr
    assert (state_dir / "kubeconfig").is_file()
    state = json.loads((state_dir / "state.json").read_text())
    components = {c["name"]: c for c in state["components"]}
    assert set(components) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    ports = {p for c in components.values() for p in c["ports"]}
    pids = {c["pid"] for c in components.values()}
    assert ports <= listening_ports()
    assert all(local_cluster.process_alive(pid) for pid in pids)
    assert set(processes_mentioning(str(state_dir))) == pids

    down = run_cli("down", "--dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if local_cluster.process_alive(pid)]
    assert processes_mentioning(str(state_dir)) == []
    assert not ports & listening_ports()
    assert not state_dir.exists()

    again = run_cli("down", "--dir", str(state_dir))  # idempotent
    assert again.returncode == 0, again.stderr


def test_failed_up_names_the_cause_and_stops_everything(tmp_path: Path) -> None:
    bad_crds = tmp_path / "bad-crds"
    bad_crds.mkdir()
    (bad_crds / "broken.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: broken.example.com}\n"
        "spec: {group: example.com, scope: Namespaced, names: {plural: wrong, kind: Broken},"
        " versions: []}\n"
    )
    state_dir = tmp_path / "failing-cluster"
    up = run_cli("up", "--dir", str(state_dir), "--crds", str(bad_crds))
    assert up.returncode == 1
    assert "broken.example.com" in up.stderr
    assert "rejected by kube-apiserver" in up.stderr
    assert str(state_dir / "logs" / "kube-apiserver.log") in up.stderr
    assert processes_mentioning(str(state_dir)) == []
    assert (state_dir / "logs" / "kube-apiserver.log").is_file()  # kept for inspection
    assert run_cli("down", "--dir", str(state_dir)).returncode == 0


def test_staging_replaces_are_generated_from_the_pinned_go_mod() -> None:
    gomod = (
        "module k8s.io/kubernetes\n\ngo 1.26.0\n\nrequire k8s.io/api v0.0.0\n\n"
        "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/client-go => ./staging/src/k8s.io/client-go // comment\n)\n"
        "replace k8s.io/kms => ./staging/src/k8s.io/kms\n"
    )
    assert local_cluster.kubernetes_replaces(gomod, "v1.36.3") == [
        "k8s.io/api => k8s.io/api v0.36.3",
        "k8s.io/client-go => k8s.io/client-go v0.36.3",
        "k8s.io/kms => k8s.io/kms v0.36.3",
    ]


def test_versions_are_pinned_in_one_file() -> None:
    versions = local_cluster.load_versions()
    assert versions["kubernetes"]["version"].startswith("v1.36.")
    assert versions["etcd"]["version"].startswith("v3.6.")
    assert versions["gateway_api"]["default"] == "v1.6.1"
    assert versions["gateway_api"]["releases"]["v1.4.1"]["channel"] == "experimental"
    assert versions["cert_manager"]["version"].startswith("v1.21.")
    assert versions["helm"]["version"]


def test_dependency_replaces_to_module_versions_are_kept() -> None:
    gomod = (
        "replace (\n\tgithub.com/a/b v1.0.0 => github.com/c/d v1.2.0 // fork\n"
        "\tgo.etcd.io/etcd/api/v3 => ../api\n)\n"
        "replace example.com/x => example.com/y v2.0.0\n"
    )
    assert local_cluster.module_replaces(gomod) == [
        "github.com/a/b v1.0.0 => github.com/c/d v1.2.0",
        "example.com/x => example.com/y v2.0.0",
    ]
