"""A real, local Kubernetes control plane built from Go modules, for tests and demos.

``hack/local-cluster`` is the command line front end of this module; the e2e fixtures in
``tests/e2e/conftest.py`` import it directly (pytest puts ``hack/`` on ``sys.path``).

What ``up`` does:

1. builds (or reuses from the cache) etcd, kube-apiserver and kube-controller-manager with
   ``go build`` from the module versions pinned in ``hack/versions.json``;
2. creates a throw-away PKI with ``openssl`` (CA, API server serving cert, admin client cert,
   ServiceAccount signing key);
3. starts etcd, kube-apiserver (RBAC, client-cert admin, TokenRequest) and
   kube-controller-manager (garbage collector, namespace, serviceaccount controllers) in the
   background, on 127.0.0.1 and free ports, logging to ``DIR/logs/``;
4. installs the Gateway API CRDs from the Go module cache and the project's ``crds/*.yaml``
   (and cert-manager's, with ``with_cert_manager``), waits until all are Established and
   ``/readyz`` is ok;
5. with ``with_cert_manager``: starts cert-manager's controllers (our own small ``main`` in
   ``hack/cert-manager-controller/`` over cert-manager's public packages, built from its
   module) and waits until its informer caches have synced;
6. with ``with_data_plane``: creates GatewayClass ``traefik`` and starts Traefik (its
   kubernetesGateway provider, one entryPoint per data-plane port on 127.0.0.1) and waits until
   it accepted the class; then writes ``DIR/kubeconfig``.

``down`` stops exactly the processes recorded in ``DIR/state.json`` and removes the state.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HACK_DIR = Path(__file__).resolve().parent
REPO_ROOT = HACK_DIR.parent
VERSIONS_FILE = HACK_DIR / "versions.json"
STATE_FILE = "state.json"
FIELD_MANAGER = "local-cluster"
# Files and directories ``up`` creates inside DIR; ``down`` removes exactly these.
STATE_ENTRIES = ("state.json", "kubeconfig", "pki", "etcd-data", "logs")


class ClusterError(RuntimeError):
    """A failure with a message meant for humans (names the component and its log)."""


# --------------------------------------------------------------------------------------
# output


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


# --------------------------------------------------------------------------------------
# versions and cache


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


def _run(
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


def go_mod_download(module: str, version: str) -> dict[str, Any]:
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


def _go_directive(gomod_text: str) -> str:
    m = re.search(r"^go\s+(\S+)", gomod_text, re.MULTILINE)
    return m.group(1) if m else "1.24"


def kubernetes_replaces(gomod_text: str, version: str) -> list[str]:
    """Turn k8s.io/kubernetes' ``k8s.io/X => ./staging/...`` replaces into published versions.

    The staging modules are published as ``k8s.io/X v0.<minor>.<patch>`` for Kubernetes
    ``v1.<minor>.<patch>``.
    """
    m = re.fullmatch(r"v1\.(\d+\.\d+.*)", version)
    if not m:
        raise ClusterError(f"unexpected Kubernetes version {version!r} (want v1.x.y)")
    staging_version = f"v0.{m.group(1)}"
    replaces = []
    for raw in gomod_text.splitlines():
        line = raw.split("//", 1)[0].strip().removeprefix("replace").strip()
        rm = re.fullmatch(r"(\S+)\s*=>\s*\./staging/\S+", line)
        if rm:
            replaces.append(f"{rm.group(1)} => {rm.group(1)} {staging_version}")
    if not replaces:
        raise ClusterError("found no staging replace directives in k8s.io/kubernetes' go.mod")
    return replaces


def module_replaces(gomod_text: str) -> list[str]:
    """A module's replace directives that point at other module versions, verbatim.

    A dependency's replace directives are ignored by Go, so the generated build module repeats
    them; those pointing at local directories (sibling modules of the same repository) are
    left out, as the published versions in its ``require`` list stand for them.
    """
    replaces = []
    for raw in gomod_text.splitlines():
        line = raw.split("//", 1)[0].strip().removeprefix("replace").strip()
        rm = re.fullmatch(r"(\S+(?:\s+\S+)?)\s*=>\s*(\S+)\s+(\S+)", line)
        if rm and not rm.group(2).startswith((".", "/")):
            replaces.append(f"{rm.group(1)} => {rm.group(2)} {rm.group(3)}")
    return replaces


def module_excludes(gomod_text: str) -> list[str]:
    """A module's exclude directives (``module version``), verbatim.

    Like replace directives, a dependency's excludes are ignored by Go; Traefik's go.mod needs
    one to resolve an ambiguous import, so the generated build module repeats them.
    """
    excludes = []
    in_block = False
    for raw in gomod_text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                excludes.append(" ".join(line.split()))
            continue
        if re.fullmatch(r"exclude\s*\(", line):
            in_block = True
        elif line.startswith("exclude "):
            excludes.append(" ".join(line.removeprefix("exclude").split()))
    return excludes


@dataclass(frozen=True)
class BuildModule:
    """A throw-away Go module that builds ``packages`` of ``module`` at ``version``.

    With ``main_files`` (name -> Go source of our own ``main`` package), these are written
    instead of tools.go and the module itself is the program to build.
    """

    module: str
    version: str
    go_version: str
    packages: list[str]
    replaces: list[str]
    main_files: dict[str, str] | None = None
    excludes: list[str] | None = None


def _write_build_module(build_dir: Path, spec: BuildModule) -> str | None:
    """Write go.mod + tools.go (or the ``main_files``) of ``spec`` into ``build_dir``.

    Returns the stamp to record after a successful ``go mod tidy``, or None when the module
    was already generated from the same inputs and tidied.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    gomod = [
        f"module local-cluster-build/{spec.module.replace('/', '-')}",
        "",
        f"go {spec.go_version}",
        "",
        f"require {spec.module} {spec.version}",
        "",
    ]
    if spec.replaces:
        gomod += ["replace (", *[f"\t{r}" for r in spec.replaces], ")", ""]
    if spec.excludes:
        gomod += ["exclude (", *[f"\t{e}" for e in spec.excludes], ")", ""]
    tools = [
        "//go:build tools",
        "",
        "// Generated by hack/local_cluster.py; imports the main",
        "// packages so that `go mod tidy` records their dependencies.",
        "package tools",
        "",
        "import (",
    ]
    tools += [f'\t_ "{p}"' for p in spec.packages] + [")", ""]
    sources = dict(spec.main_files) if spec.main_files else {"tools.go": "\n".join(tools)}
    stamp = build_dir / ".generated"
    want = "\n".join(gomod) + "".join(f"\0{src}" for _, src in sorted(sources.items()))
    if stamp.exists() and stamp.read_text() == want and (build_dir / "go.sum").exists():
        return None
    stamp.unlink(missing_ok=True)
    for old in build_dir.glob("*.go"):
        old.unlink()
    (build_dir / "go.mod").write_text("\n".join(gomod))
    for name, src in sources.items():
        (build_dir / name).write_text(src)
    (build_dir / "go.sum").unlink(missing_ok=True)
    return want


def _component(versions: dict[str, Any], key: str) -> tuple[str, str, dict[str, str]]:
    comp = versions[key]
    return comp["module"], comp["version"], comp["binaries"]


def _glue_sources(versions: dict[str, Any], key: str) -> dict[str, str] | None:
    """The Go files of our own ``main`` package for a component (``glue_main`` in versions.json).

    Used where a project's own ``main`` is not published as a Go module (cert-manager): the
    program under ``hack/`` wires the project's public packages, and is built in the generated
    module that requires the pinned version.
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
    with _file_lock(cache_dir() / "locks" / f"{key}-{version}.lock"):
        if not rebuild and all(p.exists() for p in paths.values()):  # built meanwhile
            return paths
        build_root.mkdir(parents=True, exist_ok=True)
        build_log = build_root / "build.log"
        log(f"building {key} {version} (log: {build_log})")
        with timed(f"go mod download {module}@{version}", timings):
            info = go_mod_download(module, version)
        gomod_text = Path(info["GoMod"]).read_text()
        replaces = module_replaces(gomod_text)
        if key == "kubernetes":
            replaces += kubernetes_replaces(gomod_text, version)
        if glue:  # our own main package is the build module itself
            packages = dict.fromkeys(binaries, ".")
        else:
            packages = {n: f"{module}/{sub}" if sub else module for n, sub in binaries.items()}
        stamp = _write_build_module(
            build_root,
            BuildModule(
                module,
                version,
                go_version=_go_directive(gomod_text),
                packages=[] if glue else list(packages.values()),
                replaces=replaces,
                main_files=glue,
                excludes=module_excludes(gomod_text),
            ),
        )
        env = {**os.environ, "GOFLAGS": _strip_mod_flag(os.environ.get("GOFLAGS", ""))}
        if stamp is not None:
            with timed(f"go mod tidy ({key} {version})", timings):
                _run(
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
                _run(
                    [
                        "go",
                        "build",
                        "-trimpath",
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


def _version_ldflags(key: str, version: str) -> list[str]:
    """Stamp the version the way the projects' own release builds do."""
    if key == "helm":
        return [f"-X helm.sh/helm/v3/internal/version.version={version}"]
    if key == "cert_manager":
        return [f"-X github.com/cert-manager/cert-manager/pkg/util.AppVersion={version}"]
    if key == "traefik":
        return [f"-X github.com/traefik/traefik/v3/pkg/version.Version={version}"]
    if key != "kubernetes":
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
BUILDABLE = (*CONTROL_PLANE, "cert_manager", "pebble", "helm", "traefik")


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


def gateway_api_crd_dir(release: str, versions: dict[str, Any] | None = None) -> Path:
    """The Gateway API CRD directory (standard or experimental channel) in the module cache."""
    versions = versions or load_versions()
    gw = versions["gateway_api"]
    if release not in gw["releases"]:
        raise ClusterError(
            f"Gateway API {release} is not pinned in {VERSIONS_FILE} "
            f"(known: {', '.join(gw['releases'])})"
        )
    channel = gw["releases"][release]["channel"]
    info = go_mod_download(gw["module"], release)
    crd_dir = Path(info["Dir"]) / "config" / "crd" / channel
    if not crd_dir.is_dir():
        raise ClusterError(f"{crd_dir} does not exist in the Gateway API {release} module")
    return crd_dir


# --------------------------------------------------------------------------------------
# PKI (openssl CLI)


def _openssl(*args: str, cwd: Path) -> None:
    _run(["openssl", *args], cwd=cwd, what=f"openssl {args[0]}")


def make_pki(pki: Path) -> None:
    """CA, API server serving cert, client certs and the ServiceAccount signing key."""
    if shutil.which("openssl") is None:
        raise ClusterError("the 'openssl' command is not on PATH; it is needed for the PKI")
    pki.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/CN=local-cluster-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=pki,
    )
    certs = {
        "apiserver": (
            "/CN=kube-apiserver",
            "serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc",
        ),
        "admin": ("/O=system:masters/CN=local-cluster-admin", "clientAuth", None),
        "controller-manager": (
            "/O=system:masters/CN=system:kube-controller-manager",
            "clientAuth",
            None,
        ),
        "cert-manager": ("/O=system:masters/CN=cert-manager", "clientAuth", None),
        "traefik": ("/O=system:masters/CN=traefik", "clientAuth", None),
    }
    for name, (subj, usage, san) in certs.items():
        _openssl(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=pki
        )
        ext = [
            f"extendedKeyUsage={usage}",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "basicConstraints=CA:FALSE",
        ]
        if san:
            ext.append(san)
        (pki / f"{name}.ext").write_text("\n".join(ext) + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "3650",
            "-sha256",
            "-extfile",
            f"{name}.ext",
            cwd=pki,
        )
    _openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "sa.key",
        cwd=pki,
    )
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def kubeconfig_yaml(server: str, pki: Path, user: str) -> str:
    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": "local-cluster",
                "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(f"{user}.crt"),
                    "client-key-data": b64(f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {"name": "local-cluster", "context": {"cluster": "local-cluster", "user": user}}
        ],
        "current-context": "local-cluster",
    }
    return yaml.safe_dump(cfg, sort_keys=False)


# --------------------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


# --------------------------------------------------------------------------------------
# a tiny API client (stdlib only, so that `up` needs nothing but Python + PyYAML)


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Api:
    def __init__(self, server: str, pki: Path, user: str = "admin") -> None:
        url = urllib.parse.urlsplit(server)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 443
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / f"{user}.crt"), str(pki / f"{user}.key"))
        self._discovery: dict[str, dict[str, tuple[str, bool]]] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> Any:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        try:
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read().decode(errors="replace")
        finally:
            conn.close()
        if resp.status >= 300:
            raise ApiError(resp.status, data)
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            return data

    def ready(self) -> bool:
        return self.request("GET", "/readyz") == "ok"

    def resource_for(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural resource name, namespaced) for a kind, from discovery."""
        if api_version not in self._discovery:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            doc = self.request("GET", base)
            self._discovery[api_version] = {
                r["kind"]: (r["name"], r["namespaced"])
                for r in doc.get("resources", [])
                if "/" not in r["name"]
            }
        try:
            return self._discovery[api_version][kind]
        except KeyError:
            raise ClusterError(f"the API server does not serve {kind} in {api_version}") from None

    def apply(self, obj: dict[str, Any], namespace: str = "default") -> Any:
        """Server-side apply (force) of one object."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        resource, namespaced = self.resource_for(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        name = obj["metadata"]["name"]
        if namespaced:
            ns = obj["metadata"].get("namespace", namespace)
            base += f"/namespaces/{ns}"
        path = f"{base}/{resource}/{name}?fieldManager={FIELD_MANAGER}&force=true"
        return self.request(
            "PATCH", path, json.dumps(obj).encode(), "application/apply-patch+yaml", timeout=30
        )


def load_manifests(paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind"):
                if doc["kind"].endswith("List") and "items" in doc:
                    docs += [(path, item) for item in doc["items"]]
                else:
                    docs.append((path, doc))
    return docs


def manifest_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and p.stem != "kustomization"
    )


def install_manifests(
    api: Api, files: list[Path], *, optional_kinds: tuple[str, ...] = ()
) -> list[str]:
    """Apply CRDs first, then everything else; return the CRD names applied."""
    docs = load_manifests(files)
    crds = [(p, d) for p, d in docs if d["kind"] == "CustomResourceDefinition"]
    others = [(p, d) for p, d in docs if d["kind"] != "CustomResourceDefinition"]
    names = []
    for path, doc in crds:
        try:
            api.apply(doc)
        except ApiError as e:
            raise ClusterError(
                f"applying CRD {doc['metadata']['name']} from {path} was "
                f"rejected by kube-apiserver: {e}"
            ) from None
        names.append(doc["metadata"]["name"])
    for path, doc in others:
        what = f"{doc['kind']} {doc['metadata'].get('name')} from {path}"
        try:
            api.apply(doc)
        except (ApiError, ClusterError) as e:
            if doc["kind"] in optional_kinds:
                log(f"warning: skipped {what}: {e}")
                continue
            raise ClusterError(f"applying {what} failed: {e}") from None
    return names


def crds_established(api: Api, names: list[str]) -> bool:
    """Every CRD is Established and each served version is listed by discovery."""
    for name in names:
        crd = api.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conds = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
        if conds.get("Established") != "True" or conds.get("NamesAccepted") != "True":
            return False
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            try:
                doc = api.request("GET", f"/apis/{spec['group']}/{version['name']}")
            except ApiError as e:
                if e.status == 404:
                    return False
                raise
            if spec["names"]["plural"] not in {r["name"] for r in doc.get("resources", [])}:
                return False
    return True


# --------------------------------------------------------------------------------------
# up / down


def _etcd_health(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        body = conn.getresponse().read()
    finally:
        conn.close()
    return bool(json.loads(body).get("health") == "true")


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


def _start_with_retry(state: State, launch: Launch, timeout: float) -> Component:
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


def _start_etcd(state: State, etcd_bin: Path, timeout: float) -> Component:
    def argv(client: int, peer: int) -> list[str]:
        return [
            str(etcd_bin),
            "--name=local-cluster",
            f"--data-dir={state.dir / 'etcd-data'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=local-cluster=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
            "--quota-backend-bytes=4294967296",
        ]

    comp = _start_with_retry(
        state,
        Launch("etcd", argv, nports=2, ready=lambda c: _etcd_health(c.ports[0]), what="healthy"),
        timeout,
    )
    state.etcd = f"http://127.0.0.1:{comp.ports[0]}"
    return comp


def _start_apiserver(
    state: State, apiserver_bin: Path, pki: Path, timeout: float
) -> tuple[Component, Api]:
    def argv(port: int) -> list[str]:
        return [
            str(apiserver_bin),
            f"--etcd-servers={state.etcd}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=false",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
        ]

    def server(c: Component) -> str:
        return f"https://127.0.0.1:{c.ports[0]}"

    comp = _start_with_retry(
        state,
        Launch(
            "kube-apiserver",
            argv,
            nports=1,
            ready=lambda c: Api(server(c), pki).ready(),
            what="ready (/readyz)",
        ),
        timeout,
    )
    state.server = server(comp)
    state.save()
    return comp, Api(state.server, pki)


def _start_controller_manager(
    state: State, kcm_bin: Path, pki: Path, api: Api, timeout: float
) -> Component:
    kubeconfig = pki / "controller-manager.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "controller-manager"))
    comp = start_process(
        state,
        "kube-controller-manager",
        [
            str(kcm_bin),
            f"--kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--controllers=garbage-collector-controller,namespace-controller,"
            "serviceaccount-controller,clusterrole-aggregation-controller,"
            "root-ca-certificate-publisher-controller",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=false",
        ],
        [],
    )
    # the serviceaccount controller creating "default" shows the controllers are running
    wait_for(
        comp,
        lambda: api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default"),
        "ready (it created no default ServiceAccount)",
        timeout,
    )
    return comp


def cert_manager_crd_dir(versions: dict[str, Any] | None = None) -> Path:
    """cert-manager's CRDs (plain YAML) in the Go module cache."""
    versions = versions or load_versions()
    cm = versions["cert_manager"]
    info = go_mod_download(cm["module"], cm["version"])
    crd_dir = Path(info["Dir"]) / cm["crd_dir"]
    if not manifest_files(crd_dir):
        raise ClusterError(f"no CRD manifests in {crd_dir} (cert-manager {cm['version']})")
    return crd_dir


def serves_listener_sets(api: Api) -> bool:
    """Whether the API server serves ``gateway.networking.k8s.io/v1`` ListenerSet.

    The same discovery check cert-manager makes before starting its ListenerSet shim (it exits
    when the shim is on and the kind is missing). Gateway API v1.5+ serves it in the standard
    channel; v1.4's experimental channel has only ``gateway.networking.x-k8s.io/v1alpha1``
    XListenerSet, which cert-manager v1.21 does not read.
    """
    try:
        doc = api.request("GET", "/apis/gateway.networking.k8s.io/v1")
    except ApiError as e:
        if e.status == 404:
            return False
        raise
    return any(r.get("kind") == "ListenerSet" for r in doc.get("resources", []))


def _start_cert_manager(
    state: State,
    cm_bin: Path,
    pki: Path,
    timeout: float,
    *,
    listener_sets: bool,
) -> Component:
    """Start our cert-manager controller program; ready once its informer caches synced.

    ``listener_sets`` also runs cert-manager's ListenerSet certificate shim, which upstream
    switches on with the alpha feature gate ``ListenerSets`` *and* the option
    ``--enable-gateway-api-listenerset``; the ready file then lists ``listenerset``.
    """
    kubeconfig = pki / "cert-manager.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "cert-manager"))
    ready_file = state.dir / "logs" / "cert-manager.ready"
    ready_file.unlink(missing_ok=True)
    listener_set_flags = (
        ["--enable-gateway-api-listenerset=true", "--feature-gates=ListenerSets=true"]
        if listener_sets
        else []
    )
    comp = start_process(
        state,
        "cert-manager",
        [
            str(cm_bin),
            f"--kubeconfig={kubeconfig}",
            "--enable-gateway-api=true",
            *listener_set_flags,
            "--cluster-resource-namespace=kube-system",
            f"--ready-file={ready_file}",
            "--v=2",
        ],
        [],
    )
    wait_for(comp, ready_file.exists, "ready (informer caches not synced)", timeout)
    return comp


def _cert_manager_listener_sets(api: Api, wanted: bool | None, gateway_api: str) -> bool:
    """Decide whether cert-manager runs its ListenerSet shim: ``wanted``, or None for "if served".

    On by default wherever it can work: the shim only acts on ListenerSets whose parent Gateway
    (or they themselves) carry an issuer annotation, so clusters without ListenerSets behave
    as before, and ListenerSet mode gets its certificates as in a real installation with the
    gate on. Off where the API server does not serve v1 ListenerSet, where cert-manager would
    refuse to start.
    """
    served = serves_listener_sets(api)
    if wanted and not served:
        raise ClusterError(
            f"cert-manager's ListenerSet support needs gateway.networking.k8s.io/v1 ListenerSet, "
            f"which Gateway API {gateway_api} as installed here does not serve (cert-manager "
            "reads no x-k8s.io XListenerSet); use a Gateway API release of v1.5 or later"
        )
    listener_sets = served if wanted is None else wanted
    log(f"cert-manager: ListenerSet certificate shim {'on' if listener_sets else 'off'}")
    return listener_sets


DATA_PLANE_PORTS = (8443, 9443)
DATA_PLANE_GATEWAY_CLASS = "traefik"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_data_plane_ports(ports: tuple[int, ...]) -> None:
    busy = [p for p in ports if port_in_use(p)]
    if busy:
        raise ClusterError(
            f"the data plane needs 127.0.0.1:{', '.join(map(str, busy))}, in use by another "
            "process (hack/local-cluster up --data-plane-ports chooses others)"
        )


def _http_get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode(errors="replace")
    finally:
        conn.close()


def gateway_class_accepted(api: Api, name: str) -> bool:
    """The GatewayClass is Accepted by its controller, for its current generation."""
    obj = api.request("GET", f"/apis/gateway.networking.k8s.io/v1/gatewayclasses/{name}")
    generation = obj["metadata"].get("generation")
    return any(
        c["type"] == "Accepted"
        and c["status"] == "True"
        and c.get("observedGeneration") == generation
        for c in (obj.get("status") or {}).get("conditions", [])
    )


def _start_traefik(
    state: State, traefik_bin: Path, api: Api, versions: dict[str, Any], options: ClusterOptions
) -> Component:
    """Start Traefik with its Gateway API provider; ready once it accepted our GatewayClass.

    One entryPoint per port of ``options.data_plane_ports`` (on 127.0.0.1): a Gateway
    listener is served only
    where an entryPoint has the listener's port. Traefik reads the cluster through its own
    client-certificate kubeconfig (``KUBECONFIG``), as an external client.

    Traefik v3.6 reads TLSRoute and TCPRoute only as v1alpha2, with its experimentalChannel
    option; that is turned on where the installed Gateway API channel serves v1alpha2.
    """
    ports = tuple(options.data_plane_ports)
    pki = state.dir / "pki"
    check_data_plane_ports(ports)
    channel = versions["gateway_api"]["releases"][state.gateway_api]["channel"]
    experimental_channel = channel == "experimental"
    if not experimental_channel:
        log(
            f"Gateway API {state.gateway_api} {channel}: Traefik runs without its "
            "experimentalChannel (it reads TLSRoute and TCPRoute only as v1alpha2, which this "
            "channel does not serve), so it serves HTTPRoute and GRPCRoute only"
        )
    controller_name = versions["traefik"]["controller_name"]
    api.apply(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": DATA_PLANE_GATEWAY_CLASS},
            "spec": {
                "controllerName": controller_name,
                "description": "Traefik, started by hack/local-cluster up --with-data-plane",
            },
        }
    )
    kubeconfig = pki / "traefik.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "traefik"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    env["KUBECONFIG"] = str(kubeconfig)

    def argv(ping: int) -> list[str]:
        return [
            str(traefik_bin),
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            "--log.level=INFO",
            "--log.noColor=true",
            "--accesslog=true",
            f"--entryPoints.traefik.address=127.0.0.1:{ping}",
            "--ping=true",
            "--ping.entryPoint=traefik",
            *[f"--entryPoints.port-{p}.address=127.0.0.1:{p}" for p in ports],
            "--providers.kubernetesgateway=true",
            f"--providers.kubernetesgateway.experimentalChannel={str(experimental_channel).lower()}",
            "--providers.kubernetesgateway.statusAddress.ip=127.0.0.1",
        ]

    def ready(comp: Component) -> bool:
        return _http_get(comp.ports[0], "/ping") == "OK" and gateway_class_accepted(
            api, DATA_PLANE_GATEWAY_CLASS
        )

    comp = _start_with_retry(
        state,
        Launch(
            "traefik",
            argv,
            nports=1,
            ready=ready,
            what=f"ready (/ping, GatewayClass {DATA_PLANE_GATEWAY_CLASS} Accepted)",
            env=env,
        ),
        options.timeout,
    )
    state.data_plane = {
        "gateway_class": DATA_PLANE_GATEWAY_CLASS,
        "controller_name": controller_name,
        "ports": list(ports),
        "experimental_channel": experimental_channel,
    }
    state.save()
    return comp


def _install_crds(
    api: Api, apiserver: Component, crd_dirs: list[Path], timings: dict[str, float], timeout: float
) -> list[str]:
    gw_dir, *project_dirs = crd_dirs
    try:
        with timed(f"install Gateway API CRDs ({gw_dir})", timings):
            names = install_manifests(
                api,
                manifest_files(gw_dir),
                optional_kinds=("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"),
            )
        with timed("install project CRDs", timings):
            for d in project_dirs:
                names += install_manifests(api, manifest_files(d))
    except ClusterError as e:
        raise ClusterError(f"{e}\n  (kube-apiserver log: {apiserver.log})") from None
    with timed("wait for CRDs Established", timings):
        wait_for(
            apiserver,
            lambda: crds_established(api, names),
            f"ready (CRDs not Established: {', '.join(names)})",
            timeout,
        )
        wait_for(apiserver, api.ready, "ready (/readyz)", timeout)
    return names


@dataclass(frozen=True)
class ClusterOptions:
    """What ``up`` starts besides etcd, kube-apiserver and kube-controller-manager."""

    gateway_api: str | None = None
    with_cert_manager: bool = False
    # cert-manager's ListenerSet certificate shim (with with_cert_manager): None runs it where
    # the API server serves gateway.networking.k8s.io/v1 ListenerSet; True insists
    cert_manager_listener_sets: bool | None = None
    with_data_plane: bool = False
    data_plane_ports: tuple[int, ...] = DATA_PLANE_PORTS
    extra_crd_dirs: tuple[Path, ...] = ()
    timeout: float = 120.0  # seconds to wait for each component


def _gateway_api_release(options: ClusterOptions, versions: dict[str, Any]) -> str:
    if options.gateway_api:
        return options.gateway_api
    if options.with_data_plane:
        return str(versions["traefik"]["gateway_api"])
    return str(versions["gateway_api"]["default"])


def up(directory: Path | str, options: ClusterOptions = ClusterOptions()) -> State:
    """Build (cached) and start the control plane; return its state once everything is ready.

    ``with_data_plane`` also starts Traefik (GatewayClass ``traefik``, one entryPoint per
    port of ``data_plane_ports``) and, unless ``gateway_api`` says otherwise, installs the
    Gateway API release Traefik is built for (``traefik.gateway_api`` in versions.json).

    On failure the started processes are stopped (logs are kept) and ClusterError is raised.
    """
    directory = Path(directory).resolve()
    versions = load_versions()
    gateway_api = _gateway_api_release(options, versions)
    if (directory / STATE_FILE).exists():
        old = State.load(directory)
        if any(process_alive(c.pid, c.start_time) for c in old.components):
            raise ClusterError(
                f"a cluster is already running in {directory}; "
                f"run `hack/local-cluster down --dir {directory}` first"
            )
        remove_state(directory)
    if options.with_data_plane:
        check_data_plane_ports(options.data_plane_ports)
    directory.mkdir(parents=True, exist_ok=True)
    state = State(dir=directory, gateway_api=gateway_api)
    t0 = time.monotonic()
    timings = state.timings
    try:
        keys = (
            *CONTROL_PLANE,
            *(("cert_manager",) if options.with_cert_manager else ()),
            *(("traefik",) if options.with_data_plane else ()),
        )
        bins = ensure_all_binaries(versions, timings, keys)
        crd_dirs = [gateway_api_crd_dir(gateway_api, versions), REPO_ROOT / "crds"]
        if options.with_cert_manager:
            crd_dirs.append(cert_manager_crd_dir(versions))
        pki = directory / "pki"
        with timed("pki (openssl)", timings):
            make_pki(pki)
        with timed("start etcd", timings):
            _start_etcd(state, bins["etcd"], options.timeout)
        with timed("start kube-apiserver (until /readyz ok)", timings):
            apiserver, api = _start_apiserver(state, bins["kube-apiserver"], pki, options.timeout)
        names = _install_crds(
            api, apiserver, [*crd_dirs, *options.extra_crd_dirs], timings, options.timeout
        )
        # started after the CRDs are served, so that the garbage collector watches custom
        # resources from the start (it rediscovers resources added later only every 30s)
        with timed("start kube-controller-manager", timings):
            _start_controller_manager(
                state, bins["kube-controller-manager"], pki, api, options.timeout
            )
        if options.with_cert_manager:
            with timed("start cert-manager (until its caches synced)", timings):
                _start_cert_manager(
                    state,
                    bins["cert-manager-controller"],
                    pki,
                    options.timeout,
                    listener_sets=_cert_manager_listener_sets(
                        api, options.cert_manager_listener_sets, gateway_api
                    ),
                )
        if options.with_data_plane:
            with timed("start traefik (until it accepted its GatewayClass)", timings):
                _start_traefik(state, bins["traefik"], api, versions, options)
        state.kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "admin"))
        state.kubeconfig.chmod(0o600)
        timings["up total"] = time.monotonic() - t0
        state.save()
        log(f"timing: up total: {timings['up total']:.1f}s")
        log(
            f"ready: {state.server} (kubeconfig: {state.kubeconfig}, "
            f"{len(names)} CRDs, logs: {directory / 'logs'})"
        )
        return state
    except BaseException:
        stop_components(state.components)
        if state.components:
            log(f"stopped what was started; logs kept in {directory / 'logs'}")
        raise


def remove_state(directory: Path) -> None:
    for entry in STATE_ENTRIES:
        p = directory / entry
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        directory.rmdir()  # only if now empty


def down(directory: Path | str) -> list[str]:
    directory = Path(directory).resolve()
    if not (directory / STATE_FILE).exists():
        log(f"nothing recorded in {directory / STATE_FILE}; nothing to stop")
        return []
    state = State.load(directory)
    stopped = stop_components(state.components)
    left = [c for c in state.components if process_alive(c.pid, c.start_time)]
    if left:
        raise ClusterError("could not stop: " + ", ".join(f"{c.name} (pid {c.pid})" for c in left))
    remove_state(directory)
    log("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return stopped


def status(directory: Path | str) -> int:
    directory = Path(directory).resolve()
    if not (directory / STATE_FILE).exists():
        print(f"no cluster in {directory}")
        return 1
    state = State.load(directory)
    ok = True
    for c in state.components:
        alive = process_alive(c.pid, c.start_time)
        ok &= alive
        print(
            f"{c.name:<24} pid {c.pid:<8} {'running' if alive else 'NOT RUNNING'}  "
            f"ports {c.ports}  log {c.log}"
        )
    print(f"server {state.server}\nkubeconfig {state.kubeconfig}")
    if state.data_plane:
        print(
            f"data plane: Traefik, GatewayClass {state.data_plane['gateway_class']}, entryPoints "
            + ", ".join(f"127.0.0.1:{p}" for p in state.data_plane["ports"])
        )
    return 0 if ok else 1


# --------------------------------------------------------------------------------------
# CLI


def _port_list(text: str) -> tuple[int, ...]:
    try:
        ports = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of ports: {text!r}") from None
    if not ports or any(not 0 < p < 65536 for p in ports) or len(set(ports)) != len(ports):
        raise argparse.ArgumentTypeError(f"want distinct ports 1-65535: {text!r}")
    return ports


def main(argv: list[str] | None = None) -> int:
    versions = load_versions()
    parser = argparse.ArgumentParser(
        prog="local-cluster",
        description="A real Kubernetes control plane (etcd, kube-apiserver, "
        "kube-controller-manager) built from pinned Go modules, on loopback.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="build (cached) and start; exits 0 once ready")
    p_up.add_argument("--dir", required=True, type=Path, help="state, logs and kubeconfig")
    p_up.add_argument(
        "--gateway-api",
        default=None,
        choices=sorted(versions["gateway_api"]["releases"]),
        help=f"Gateway API release ({versions['gateway_api']['default']} standard channel by "
        f"default, {versions['traefik']['gateway_api']} with --with-data-plane; v1.4.1 "
        "installs the experimental channel)",
    )
    p_up.add_argument(
        "--with-cert-manager",
        action="store_true",
        help="also install cert-manager's CRDs and run its controllers (Gateway API "
        "support enabled); built from the pinned cert-manager module on first use",
    )
    p_up.add_argument(
        "--cert-manager-listener-sets",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --with-cert-manager: run cert-manager's ListenerSet certificate shim (its "
        "alpha gate ListenerSets and --enable-gateway-api-listenerset); default: on when the "
        "Gateway API release serves gateway.networking.k8s.io/v1 ListenerSet (v1.5 and later)",
    )
    p_up.add_argument(
        "--with-data-plane",
        action="store_true",
        help="also run Traefik (its Gateway API provider, GatewayClass "
        f"'{DATA_PLANE_GATEWAY_CLASS}') as the Gateway implementation serving real traffic; "
        "built from the pinned Traefik module on first use",
    )
    p_up.add_argument(
        "--data-plane-ports",
        type=_port_list,
        default=DATA_PLANE_PORTS,
        metavar="PORT,...",
        help="Traefik's entryPoints, on 127.0.0.1: Gateway listeners on these ports are served "
        f"(default: {','.join(map(str, DATA_PLANE_PORTS))})",
    )
    p_up.add_argument(
        "--crds",
        action="append",
        type=Path,
        default=[],
        help="extra directory of CRD manifests to install (repeatable)",
    )
    p_up.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for each component"
    )
    p_down = sub.add_parser("down", help="stop the recorded processes and remove the state")
    p_down.add_argument("--dir", required=True, type=Path)
    p_build = sub.add_parser("build", help="only build (or reuse) the cached binaries")
    p_build.add_argument(
        "--rebuild", action="store_true", help="build again and replace the cached binaries"
    )
    p_build.add_argument(
        "components",
        nargs="*",
        default=[],
        metavar="COMPONENT",
        help=f"what to build: {', '.join(BUILDABLE)} "
        f"(default: the control plane, {' and '.join(CONTROL_PLANE)})",
    )
    p_status = sub.add_parser("status", help="show the recorded processes")
    p_status.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    unknown = {c for c in getattr(args, "components", []) if c.replace("-", "_") not in BUILDABLE}
    if args.command == "build" and unknown:
        parser.error(f"unknown component(s) {sorted(unknown)}; choose from {', '.join(BUILDABLE)}")
    try:
        if args.command == "up":
            state = up(
                args.dir,
                ClusterOptions(
                    gateway_api=args.gateway_api,
                    with_cert_manager=args.with_cert_manager,
                    cert_manager_listener_sets=args.cert_manager_listener_sets,
                    with_data_plane=args.with_data_plane,
                    data_plane_ports=args.data_plane_ports,
                    extra_crd_dirs=tuple(args.crds),
                    timeout=args.timeout,
                ),
            )
            if state.data_plane:
                log(
                    f"data plane: Traefik serves Gateways of GatewayClass "
                    f"{state.data_plane['gateway_class']} on "
                    + ", ".join(f"127.0.0.1:{p}" for p in state.data_plane["ports"])
                )
            print(f"export KUBECONFIG={state.kubeconfig}")
        elif args.command == "down":
            down(args.dir)
        elif args.command == "build":
            timings: dict[str, float] = {}
            t0 = time.monotonic()
            keys = tuple(c.replace("-", "_") for c in args.components) or CONTROL_PLANE
            for path in ensure_all_binaries(versions, timings, keys, rebuild=args.rebuild).values():
                print(path)
            log(f"timing: build total: {time.monotonic() - t0:.1f}s")
        else:
            return status(args.dir)
    except ClusterError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
