"""How hack/local-cluster reports: errors meant for humans, its log lines and step timings,
and running a command whose failure becomes such an error."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


class ClusterError(RuntimeError):
    """A failure with a message meant for humans (names the component and its log)."""


def log(msg: str) -> None:
    print(f"[local-cluster] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed(what: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - start
        if timings is not None:
            timings[what] = took
        log(f"timing: {what}: {took:.1f}s")


def run_checked(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    what: str,
    log_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a command; on failure raise ClusterError with the tail of its output."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if log_file is not None:
        with log_file.open("a") as f:
            f.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        where = f" (full output in {log_file})" if log_file else ""
        raise ClusterError(f"{what} failed with exit code {proc.returncode}{where}:\n{tail}")
    return proc.stdout
