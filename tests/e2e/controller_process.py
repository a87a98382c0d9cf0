"""`wrapped-gateway run` as a real process against the local control plane, for e2e tests."""

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import local_cluster

REJECTED = "rejected by the API server"


@dataclass
class ControllerProcess:
    process: subprocess.Popen[bytes]
    health: str
    metrics: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def metric(self, name: str) -> float:
        """The sum of all samples of one metric from the /metrics endpoint."""
        with urllib.request.urlopen(f"{self.metrics}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#") and (line[len(name)] in " {")
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.health}/readyz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self, kill: bool = False) -> None:
        local_cluster.stop_process(self.process, timeout=20, kill=kill)


@contextlib.contextmanager
def running_controller(
    kubeconfig: Path, log: Path, *extra: str, wait_ready: bool = True
) -> Iterator[ControllerProcess]:
    health = f"127.0.0.1:{local_cluster.free_port()}"
    metrics = f"127.0.0.1:{local_cluster.free_port()}"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wrapped_gateway",
                "run",
                "--kubeconfig",
                str(kubeconfig),
                "--health-address",
                health,
                "--metrics-address",
                metrics,
                "--settle-seconds",
                "0.1",
                *extra,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    controller = ControllerProcess(process, f"http://{health}", f"http://{metrics}", log)
    try:
        if wait_ready:
            deadline = time.monotonic() + 60
            while not controller.ready():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"controller did not become ready:\n{controller.log_text()}"
                    )
                time.sleep(0.2)
        yield controller
    finally:
        controller.stop()
