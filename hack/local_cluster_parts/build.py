"""Building the binaries from the Go modules pinned in hack/versions.json, cached by version.

``ensure_binaries(key)`` returns the binaries of one versions.json entry, building them first
if the cache (``${WRAPPED_GATEWAY_CACHE:-~/.cache/wrapped-gateway}/bin/<name>-<version>/``)
lacks them: in a generated module (see ``gomod``), under a file lock per entry and version so
that concurrent runs build each binary once. An entry with ``glue_main`` is built from our own
``main`` package under ``hack/``, and cached under the version plus a hash of its source.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .gomod import (
    BuildModule,
    go_directive,
    kubernetes_replaces,
    module_excludes,
    module_replaces,
    write_build_module,
)
from .reporting import ClusterError, log, run_checked, timed

KUBERNETES_MODULE = "k8s.io/kubernetes"
HACK_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = HACK_DIR.parent
VERSIONS_FILE = HACK_DIR / "versions.json"


def load_versions(path: Path = VERSIONS_FILE) -> dict[str, Any]:
    with path.open() as f:
        data: dict[str, Any] = json.load(f)
    return data


def cache_dir() -> Path:
    env = os.environ.get("WRAPPED_GATEWAY_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "wrapped-gateway"


def binary_path(name: str, version: str) -> Path:
    return cache_dir() / "bin" / f"{name}-{version}" / name


def go_mod_download(module: str, version: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``go mod download -json module@version`` (the module cache path is in ``Dir``)."""
    if shutil.which("go") is None:
        raise ClusterError(
            "the 'go' command is not on PATH; it is needed to fetch and build "
            "the control plane from Go modules"
        )
    with tempfile.TemporaryDirectory() as tmp:  # outside any module, so no go.mod is touched
        out = subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    try:
        info: dict[str, Any] = json.loads(out.stdout)
    except json.JSONDecodeError:
        info = {"Error": out.stderr.strip() or out.stdout.strip()}
    if out.returncode != 0 or info.get("Error") or not info.get("Dir"):
        raise ClusterError(
            f"go mod download {module}@{version} failed: {info.get('Error') or out.stderr.strip()}"
        )
    return info


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _component(versions: dict[str, Any], key: str) -> tuple[str, str, dict[str, str]]:
    comp = versions[key]
    return comp["module"], comp["version"], comp["binaries"]


def _glue_sources(versions: dict[str, Any], key: str) -> dict[str, str] | None:
    """The Go files of our own ``main`` package for a component (``glue_main`` in versions.json).

    Used where a project's own ``main`` is not published as a Go module (cert-manager's
    controller and its ACME HTTP-01 solver): the program under ``hack/`` wires the project's
    public packages, and is built in the generated module that requires the pinned version.
    """
    glue = versions[key].get("glue_main")
    if not glue:
        return None
    src_dir = REPO_ROOT / glue
    files = {f.name: f.read_text() for f in sorted(src_dir.glob("*.go"))}
    if not files:
        raise ClusterError(f"no Go files in {src_dir} (glue_main of {key} in {VERSIONS_FILE})")
    return files


def _cache_version(version: str, glue: dict[str, str] | None) -> str:
    """The cache key: the pinned version, plus a hash of our glue program if there is one."""
    if not glue:
        return version
    digest = hashlib.sha256("".join(f"{n}\0{s}\0" for n, s in glue.items()).encode())
    return f"{version}-glue.{digest.hexdigest()[:12]}"


def ensure_binaries(
    key: str,
    versions: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    *,
    rebuild: bool = False,
) -> dict[str, Path]:
    """Build (or reuse from the cache) all binaries of a component in versions.json.

    ``rebuild`` builds again and atomically replaces the cached binaries.
    """
    versions = versions or load_versions()
    module, version, binaries = _component(versions, key)
    glue = _glue_sources(versions, key)
    paths = {name: binary_path(name, _cache_version(version, glue)) for name in binaries}
    if not rebuild and all(p.exists() for p in paths.values()):
        for name, p in paths.items():
            log(f"cached: {name} {version} ({p})")
        return paths

    build_root = cache_dir() / "build" / f"{key}-{version}"
    env = {**os.environ, "GOFLAGS": _strip_mod_flag(os.environ.get("GOFLAGS", ""))}
    # A module whose go directive is newer than the installed Go names the toolchain to build
    # it with (fetched from the module proxy like a module); for its build only.
    toolchain = versions[key].get("go_toolchain")
    if toolchain:
        env["GOTOOLCHAIN"] = toolchain
    with _file_lock(cache_dir() / "locks" / f"{key}-{version}.lock"):
        if not rebuild and all(p.exists() for p in paths.values()):  # built meanwhile
            return paths
        build_root.mkdir(parents=True, exist_ok=True)
        build_log = build_root / "build.log"
        log(f"building {key} {version} (log: {build_log})")
        with timed(f"go mod download {module}@{version}", timings):
            info = go_mod_download(module, version, env)
        gomod_text = Path(info["GoMod"]).read_text()
        # our own replace lines (versions.json) point dependencies the module proxy refuses
        # at served versions
        replaces = [*module_replaces(gomod_text), *versions[key].get("replace", [])]
        if module == KUBERNETES_MODULE:
            replaces += kubernetes_replaces(gomod_text, version)
        if glue:  # our own main package is the build module itself
            packages = dict.fromkeys(binaries, ".")
        else:
            packages = {n: f"{module}/{sub}" if sub else module for n, sub in binaries.items()}
        stamp = write_build_module(
            build_root,
            BuildModule(
                module,
                version,
                go_version=go_directive(gomod_text),
                packages=[] if glue else list(packages.values()),
                replaces=replaces,
                main_files=glue,
                excludes=module_excludes(gomod_text),
            ),
        )
        if versions[key].get("cgo") is False:
            env["CGO_ENABLED"] = "0"
        tags = versions[key].get("build_tags") or []
        if stamp is not None:
            with timed(f"go mod tidy ({key} {version})", timings):
                run_checked(
                    ["go", "mod", "tidy"],
                    cwd=build_root,
                    what=f"go mod tidy for {key}",
                    log_file=build_log,
                    env=env,
                )
            (build_root / ".generated").write_text(stamp)
        for name, pkg in packages.items():
            out = paths[name]
            if out.exists() and not rebuild:
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(f".{name}.tmp-{os.getpid()}")
            ldflags = ["-s", "-w", *_version_ldflags(key, version)]
            with timed(f"go build {name} {version}", timings):
                run_checked(
                    [
                        "go",
                        "build",
                        "-trimpath",
                        *([f"-tags={','.join(tags)}"] if tags else []),
                        f"-ldflags={' '.join(ldflags)}",
                        "-o",
                        str(tmp),
                        pkg,
                    ],
                    cwd=build_root,
                    what=f"go build {name}",
                    log_file=build_log,
                    env=env,
                )
            tmp.replace(out)
    return paths


def _strip_mod_flag(goflags: str) -> str:
    return " ".join(f for f in goflags.split() if not f.startswith("-mod="))


# The variable each project's own release build stamps its version into (Kubernetes' below)
_VERSION_VARIABLES = {
    "helm": "helm.sh/helm/v3/internal/version.version",
    "cert_manager": "github.com/cert-manager/cert-manager/pkg/util.AppVersion",
    "acmesolver": "github.com/cert-manager/cert-manager/pkg/util.AppVersion",
    "traefik": "github.com/traefik/traefik/v3/pkg/version.Version",
    "containerd": "github.com/containerd/containerd/v2/version.Version",
    "external_dns": "sigs.k8s.io/external-dns/pkg/apis/externaldns.Version",
}


def _version_ldflags(key: str, version: str) -> list[str]:
    """Stamp the version the way the projects' own release builds do."""
    if key in _VERSION_VARIABLES:
        return [f"-X {_VERSION_VARIABLES[key]}={version}"]
    if key not in ("kubernetes", "kubernetes_node"):
        return []
    m = re.fullmatch(r"v(\d+)\.(\d+)\..*", version)
    major, minor = (m.group(1), m.group(2)) if m else ("1", "0")
    pkg = "k8s.io/component-base/version"
    return [
        f"-X {pkg}.gitVersion={version}",
        f"-X {pkg}.gitMajor={major}",
        f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
    ]


CONTROL_PLANE = ("etcd", "kubernetes")
NODE = ("kubernetes_node", "containerd")
BUILDABLE = (
    *CONTROL_PLANE,
    *NODE,
    "cert_manager",
    "acmesolver",
    "pebble",
    "helm",
    "traefik",
    "external_dns",
)


def ensure_all_binaries(
    versions: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    keys: tuple[str, ...] = CONTROL_PLANE,
    *,
    rebuild: bool = False,
) -> dict[str, Path]:
    versions = versions or load_versions()
    paths: dict[str, Path] = {}
    for key in keys:
        paths.update(ensure_binaries(key, versions, timings, rebuild=rebuild))
    return paths
