"""The processes of a local cluster: starting, waiting for, stopping them, and their record.

``State`` is what ``DIR/state.json`` records (each ``Component``'s PID with its ``/proc`` start
time, ports and log; the API server's address; timings). Processes are stopped only while
their start time still matches the recorded one, so a PID reused by another process is never
signalled. ``start_with_retry`` starts a component on fresh free ports (``Launch``) and waits
until it is ready.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import ApiError
from .reporting import ClusterError, log

STATE_FILE = "state.json"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _proc_start_time(pid: int) -> str | None:
    """Start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # zombie / dead: not running any more
        return None
    return fields[19]


def process_alive(pid: int, start_time: str | None = None) -> bool:
    st = _proc_start_time(pid)
    return st is not None and (start_time is None or st == start_time)


def stop_process(process: subprocess.Popen[Any], timeout: float, kill: bool = False) -> None:
    """Stop `process` (SIGTERM, or SIGKILL with `kill`) and reap it; SIGKILL it if it has not
    ended after `timeout` seconds."""
    if process.poll() is not None:
        return
    if kill:
        process.kill()
    else:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Popen objects of the processes this Python process started (so that they get reaped when
# `up` runs in-process, e.g. from the pytest fixture, instead of lingering as zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap(pid: int, timeout: float = 0.0) -> None:
    proc = _CHILDREN.get(pid)
    if proc is None:
        return  # not our child: its parent (or init) reaps it
    with contextlib.suppress(subprocess.TimeoutExpired):
        if timeout:
            proc.wait(timeout)
        else:
            proc.poll()
    if proc.returncode is not None:
        del _CHILDREN[pid]


@dataclass
class Component:
    name: str
    pid: int
    start_time: str
    log: str
    ports: list[int] = field(default_factory=list)


@dataclass
class State:
    dir: Path
    components: list[Component] = field(default_factory=list)
    server: str = ""
    etcd: str = ""
    gateway_api: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    # with_data_plane: {"gateway_class", "controller_name", "ports", "experimental_channel"}
    data_plane: dict[str, Any] = field(default_factory=dict)
    # with_node: {"name", "ip", "bridge"}; ``down`` tears the node's host state down when set
    node: dict[str, Any] = field(default_factory=dict)
    # with_external_dns: {"server": "127.0.0.1:PORT", "zone"} of the DNS server (Knot)
    dns: dict[str, Any] = field(default_factory=dict)
    # with_external_dns: {"sources", "zone", "annotation_prefix"}, how external-dns runs
    external_dns: dict[str, Any] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def save(self) -> None:
        data = {
            "server": self.server,
            "etcd": self.etcd,
            "gateway_api": self.gateway_api,
            "timings": self.timings,
            "data_plane": self.data_plane,
            "node": self.node,
            "dns": self.dns,
            "external_dns": self.external_dns,
            "components": [vars(c) for c in self.components],
        }
        tmp = self.dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(self.dir / STATE_FILE)

    @classmethod
    def load(cls, directory: Path) -> State:
        data = json.loads((directory / STATE_FILE).read_text())
        return cls(
            dir=directory,
            server=data.get("server", ""),
            etcd=data.get("etcd", ""),
            gateway_api=data.get("gateway_api", ""),
            timings=data.get("timings", {}),
            data_plane=data.get("data_plane", {}),
            node=data.get("node", {}),
            dns=data.get("dns", {}),
            external_dns=data.get("external_dns", {}),
            components=[Component(**c) for c in data.get("components", [])],
        )


def start_process(
    state: State,
    name: str,
    argv: list[str],
    ports: list[int],
    env: dict[str, str] | None = None,
) -> Component:
    logs = state.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with log_path.open("ab") as out:
        out.write(f"$ {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=state.dir,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    _CHILDREN[proc.pid] = proc
    start_time = None
    for _ in range(50):
        start_time = _proc_start_time(proc.pid)
        if start_time:
            break
        time.sleep(0.01)
    comp = Component(
        name=name, pid=proc.pid, start_time=start_time or "", log=str(log_path), ports=ports
    )
    state.components.append(comp)
    state.save()
    return comp


def _log_tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


def _fail(comp: Component, what: str) -> ClusterError:
    return ClusterError(
        f"{comp.name} {what}; see its log {comp.log}\n"
        f"  last lines of {comp.log}:\n{_log_tail(comp.log)}"
    )


def wait_for(comp: Component, check: Any, what: str, timeout: float) -> None:
    """Poll ``check()`` until it is truthy; fail early if the component died."""
    deadline = time.monotonic() + timeout
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        if not process_alive(comp.pid, comp.start_time):
            _reap(comp.pid)
            raise _fail(comp, "exited during start-up")
        try:
            if check():
                return
        except (OSError, http.client.HTTPException, ApiError) as e:
            last_err = e
        time.sleep(0.2)
    detail = f" (last error: {last_err})" if last_err else ""
    raise _fail(comp, f"did not become {what} within {timeout:.0f}s{detail}")


def stop_components(components: list[Component], timeout: float = 15.0) -> list[str]:
    """SIGTERM (then SIGKILL) exactly the recorded processes; returns what was stopped."""
    stopped = []
    for comp in reversed(components):
        if not process_alive(comp.pid, comp.start_time):
            _reap(comp.pid)
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(comp.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _reap(comp.pid)
            if not process_alive(comp.pid, comp.start_time):
                break
            time.sleep(0.1)
        else:
            if process_alive(comp.pid, comp.start_time):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(comp.pid, signal.SIGKILL)
                for _ in range(100):
                    _reap(comp.pid)
                    if not process_alive(comp.pid, comp.start_time):
                        break
                    time.sleep(0.05)
        _reap(comp.pid, timeout=5)
        stopped.append(f"{comp.name} (pid {comp.pid})")
    return stopped


@dataclass(frozen=True)
class Launch:
    """How to start one component: its command line for ``nports`` fresh ports, and when it
    is ready (``what`` says what is awaited, for the error message)."""

    name: str
    make_argv: Any
    nports: int
    ready: Any
    what: str
    env: dict[str, str] | None = None


def start_with_retry(state: State, launch: Launch, timeout: float) -> Component:
    """Start a component on fresh free ports, retrying if a port was taken meanwhile."""
    for attempt in range(3):
        ports = [free_port() for _ in range(launch.nports)]
        comp = start_process(state, launch.name, launch.make_argv(*ports), ports, launch.env)
        try:
            wait_for(comp, lambda c=comp: launch.ready(c), launch.what, timeout)
            return comp
        except ClusterError:
            text = Path(comp.log).read_text(errors="replace")
            if attempt < 2 and "address already in use" in text:
                log(f"{launch.name}: a port was taken meanwhile, retrying on other ports")
                stop_components([comp])
                state.components.remove(comp)
                state.save()
                continue
            raise
    raise AssertionError("unreachable")
