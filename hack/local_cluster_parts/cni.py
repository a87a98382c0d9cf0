"""The node's Pod network on the host: a bridge, the CNI configuration, and leaving no trace.

Pods get addresses from ``POD_SUBNET`` on the bridge ``NODE_BRIDGE`` (CNI bridge + host-local,
the Debian package containernetworking-plugins), whose own address ``NODE_IP`` is the node's
address: the API server listens there so that Pods reach it through the ``kubernetes``
Service (kube-proxy DNATs the Service address to an endpoint on the node IP; loopback
endpoints are refused). The bridge is made before the API server starts, as it binds to it.

Pod traffic stays on this machine: a chain of ours drops whatever Pods send out of the bridge
to any other interface (the host's uplink), and the Service range is routed to the bridge
rather than to the default gateway. ``host_network_down`` removes the bridge, the route, our
chain and every ``KUBE-`` chain kubelet and kube-proxy made, in IPv4 and IPv6.

Only one node runs per machine (the bridge, kube-proxy's chains and the kubelet's port are
host-wide); ``check_host_network_free`` says so before anything starts.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

from .reporting import ClusterError, run_checked

NODE_BRIDGE = "wgnode0"
# Away from netns_backend's test hosts (10.213.0.0/16) and the Service range (control_plane).
POD_SUBNET = "10.214.0.0/24"
NODE_IP = "10.214.0.1"
FORWARD_CHAIN = "LOCAL-CLUSTER-NODE"
CNI_BIN_DIR = Path("/usr/lib/cni")
CNI_PLUGINS = ("bridge", "host-local", "loopback")
IPTABLES = ("iptables", "ip6tables")
TABLES = ("filter", "nat", "mangle")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise ClusterError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def _bridge_exists() -> bool:
    return _ip("link", "show", NODE_BRIDGE, check=False).returncode == 0


def check_host_network_free() -> None:
    """One node per machine: its bridge must not exist yet, its tools must."""
    missing = [p for p in CNI_PLUGINS if not (CNI_BIN_DIR / p).exists()]
    if missing:
        raise ClusterError(
            f"CNI plugins {', '.join(missing)} not in {CNI_BIN_DIR} "
            "(apt-get install -y containernetworking-plugins)"
        )
    for tool in (*IPTABLES, "runc"):
        if shutil.which(tool) is None:
            raise ClusterError(f"the node needs {tool} (apt-get install -y iptables runc)")
    if _bridge_exists():
        raise ClusterError(
            f"bridge {NODE_BRIDGE} exists: another local-cluster node runs on this machine "
            "(only one can: `hack/local-cluster down --dir ...` it first)"
        )


def host_network_up(service_range: str) -> None:
    """The bridge with the node IP, the Service route, and the chain keeping Pods local."""
    _ip("link", "add", NODE_BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{NODE_IP}/{POD_SUBNET.split('/')[1]}", "dev", NODE_BRIDGE)
    _ip("link", "set", NODE_BRIDGE, "up")
    _ip("route", "add", service_range, "dev", NODE_BRIDGE)
    # Pods have IPv4 addresses only: the chain is IPv4's
    drop_leaving = ["-i", NODE_BRIDGE, "!", "-o", NODE_BRIDGE, "-j", "DROP"]
    for rule in (["-N", FORWARD_CHAIN], ["-A", FORWARD_CHAIN, *drop_leaving]):
        run_checked(["iptables", "-w", *rule], what=f"iptables {' '.join(rule)}")
    run_checked(["iptables", "-w", "-I", "FORWARD", "1", "-j", FORWARD_CHAIN], what="iptables -I")


def write_cni_config(conf_dir: Path, ipam_dir: Path) -> None:
    """The conflist containerd's CRI reads: the bridge (gateway = node IP) and host-local IPAM
    keeping its allocations under the cluster's directory."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    conflist = {
        "cniVersion": "1.0.0",
        "name": "local-cluster",
        "plugins": [
            {
                "type": "bridge",
                "bridge": NODE_BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }
    (conf_dir / "10-local-cluster.conflist").write_text(json.dumps(conflist, indent=2) + "\n")


def _iptables_rules(cmd: str, table: str) -> list[str]:
    proc = subprocess.run([f"{cmd}-save", "-t", table], capture_output=True, text=True, check=False)
    return proc.stdout.splitlines() if proc.returncode == 0 else []


def ours(rule_line: str) -> bool:
    """An iptables-save line made for the node: kubelet's and kube-proxy's KUBE- chains, ours."""
    return "KUBE-" in rule_line or FORWARD_CHAIN in rule_line or NODE_BRIDGE in rule_line


def remove_iptables_traces() -> None:
    """Delete every rule jumping to, and every chain named, KUBE-* or ours (IPv4 and IPv6)."""
    for cmd in IPTABLES:
        if shutil.which(cmd) is None:
            continue
        for table in TABLES:
            lines = _iptables_rules(cmd, table)
            chains = [
                line[1:].split()[0]
                for line in lines
                if line.startswith(":") and ours(line.split()[0])
            ]
            for line in lines:
                if line.startswith("-A ") and ours(line) and line.split()[1] not in chains:
                    subprocess.run(
                        [cmd, "-w", "-t", table, "-D", *shlex.split(line[3:])],
                        capture_output=True,
                        check=False,
                    )
            for flag in ("-F", "-X"):
                for chain in chains:
                    subprocess.run(
                        [cmd, "-w", "-t", table, flag, chain], capture_output=True, check=False
                    )


def host_network_down(service_range: str) -> None:
    remove_iptables_traces()
    _ip("route", "del", service_range, "dev", NODE_BRIDGE, check=False)
    if _bridge_exists():
        _ip("link", "del", NODE_BRIDGE)


def host_network_traces(service_range: str) -> list[str]:
    """What of the node is left on the host network (empty after ``host_network_down``)."""
    left = [f"link {NODE_BRIDGE}"] if _bridge_exists() else []
    routes = _ip("route", "show", check=False).stdout.splitlines()
    left += [f"route {r}" for r in routes if NODE_BRIDGE in r or r.startswith(service_range)]
    for cmd in IPTABLES:
        if shutil.which(cmd) is None:
            continue
        for table in TABLES:
            left += [f"{cmd} -t {table} {r}" for r in _iptables_rules(cmd, table) if ours(r)]
    return left
