"""The node's container runtime: containerd v2 (built from its Go module) with Debian's runc.

Everything containerd keeps (root, state, sockets) is under ``DIR/containerd``; the CRI
settings are the ones this machine needs: ``restrict_oom_score_adj`` (runc cannot write a
negative oom_score_adj as root without CAP_SYS_RESOURCE, so every sandbox failed),
``SystemdCgroup = false`` (kubelet's cgroupfs driver), network namespaces under the state
directory, and the pause image built here as the sandbox image. Images reach it with
``ctr images import`` (no registry): Pods use them with ``imagePullPolicy: IfNotPresent``.

``stop_leftovers`` ends what outlives containerd: the shims (``containerd-shim-runc-v2``
daemonizes) of this containerd's socket, and the mounts under ``DIR``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .cni import CNI_BIN_DIR, write_cni_config
from .image import BuiltImage
from .processes import Component, State, start_process, wait_for
from .reporting import ClusterError, run_checked, timed

CRI_NAMESPACE = "k8s.io"


def containerd_dir(state_dir: Path) -> Path:
    return state_dir / "containerd"


def socket_path(state_dir: Path) -> Path:
    return containerd_dir(state_dir) / "containerd.sock"


def _config(state_dir: Path, sandbox_image: str, cni_conf_dir: Path, runc: str) -> str:
    base = containerd_dir(state_dir)
    return f"""# written by hack/local-cluster (containerd.py)
version = 3
root = "{base / "root"}"
state = "{base / "state"}"
# NRI would listen on /var/run/nri; opt would install into /opt/containerd
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]

[grpc]
  address = "{socket_path(state_dir)}"

[ttrpc]
  address = "{base / "containerd.sock.ttrpc"}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{sandbox_image}"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{cni_conf_dir}"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def ctr(ctr_bin: Path, state_dir: Path, *args: str, what: str) -> str:
    argv = [str(ctr_bin), f"--address={socket_path(state_dir)}", f"--namespace={CRI_NAMESPACE}"]
    return run_checked([*argv, *args], what=what)


def start_containerd(
    state: State, bins: dict[str, Path], sandbox_image: str, timeout: float
) -> Component:
    """containerd with the CRI configuration above; ready once ``ctr version`` answers."""
    runc = shutil.which("runc")
    if runc is None:
        raise ClusterError("the node needs runc (apt-get install -y runc)")
    cni_conf_dir = state.dir / "cni" / "net.d"
    write_cni_config(cni_conf_dir, state.dir / "cni" / "ipam")
    base = containerd_dir(state.dir)
    base.mkdir(parents=True, exist_ok=True)
    config = base / "config.toml"
    config.write_text(_config(state.dir, sandbox_image, cni_conf_dir, runc))
    # the runc shim is found on PATH
    path = f"{bins['containerd-shim-runc-v2'].parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    comp = start_process(
        state,
        "containerd",
        [str(bins["containerd"]), f"--config={config}", "--log-level=warn"],
        [],
        env={**os.environ, "PATH": path},
    )
    wait_for(
        comp,
        lambda: (
            socket_path(state.dir).exists()
            and subprocess.run(
                [str(bins["ctr"]), f"--address={socket_path(state.dir)}", "version"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        ),
        "ready (ctr version)",
        timeout,
    )
    return comp


def import_images(
    ctr_bin: Path, state_dir: Path, images: list[BuiltImage], timings: dict[str, float]
) -> None:
    for image in images:
        with timed(f"ctr images import {image.reference}", timings):
            ctr(ctr_bin, state_dir, "images", "import", str(image.archive), what="ctr import")


def shims_of(address: Path) -> list[int]:
    """PIDs of containerd shims started by the containerd listening on ``address``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(address).encode() in argv:
            pids.append(int(proc.name))
    return pids


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below ``directory``, deepest first."""
    prefix = str(directory.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def stop_leftovers(state_dir: Path) -> None:
    """Kill this containerd's shims and unmount everything under the cluster's directory."""
    for pid in shims_of(socket_path(state_dir)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while shims_of(socket_path(state_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for _ in range(3):  # a mount may hide another one below it
        for point in mounts_under(state_dir):
            subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
