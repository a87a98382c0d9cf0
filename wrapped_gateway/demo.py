"""`wrapped-gateway demo`: a local control plane, the controller, the examples, and what happens.

Needs a clone of the repository (hack/local-cluster builds the control plane from Go modules)
and Go. Everything it starts is stopped on exit, Ctrl-C included.
"""

import importlib
import itertools
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from kubernetes import client, config

from wrapped_gateway.constants import GATEWAY_GROUP, WRAPPED_GROUP, WRAPPED_PLURAL, WRAPPED_VERSION
from wrapped_gateway.manifests import read_documents

REPO = Path(__file__).resolve().parents[1]
APPLY_PATCH = "application/apply-patch+yaml"
EXAMPLES = REPO / "examples"
T = TypeVar("T")


class DemoError(Exception):
    pass


def demo(directory: Path | None, exit_after: float | None, with_cert_manager: bool) -> int:
    local_cluster = _local_cluster()
    state_dir = directory or Path(tempfile.mkdtemp(prefix="wrapped-gateway-demo-"))
    _say(f"state, logs and kubeconfig: {state_dir}")
    try:
        state = _start_cluster(local_cluster, state_dir, with_cert_manager)
        _say(f"control plane ready; try: export KUBECONFIG={state.kubeconfig}")
        with _controller(state.kubeconfig):
            api = _api(state.kubeconfig)
            _apply_examples(api)
            _watch(api, exit_after)
    except local_cluster.ClusterError as error:
        raise DemoError(str(error)) from None
    except KeyboardInterrupt:
        _say("interrupted")
    finally:
        _say("stopping everything the demo started")
        local_cluster.down(state_dir)
    return 0


def _start_cluster(local_cluster: ModuleType, state_dir: Path, with_cert_manager: bool) -> Any:
    message = (
        "starting etcd, kube-apiserver, kube-controller-manager"
        + (" and cert-manager" if with_cert_manager else "")
        + " (the first run builds them from Go modules: several minutes)"
    )
    try:
        return _with_spinner(
            message, lambda: local_cluster.up(state_dir, with_cert_manager=with_cert_manager)
        )
    except local_cluster.ClusterError as error:
        if not with_cert_manager:
            raise
        _say(f"cert-manager could not be started ({error}); continuing without it")
        local_cluster.down(state_dir)
        return _with_spinner(message, lambda: local_cluster.up(state_dir))


def _local_cluster() -> ModuleType:
    hack = REPO / "hack"
    if not (hack / "local_cluster.py").is_file():
        raise DemoError(
            "the demo needs a clone of the repository (hack/local-cluster); "
            "install with `pip install -e .` from the clone"
        )
    sys.path.insert(0, str(hack))
    return importlib.import_module("local_cluster")


@contextmanager
def _controller(kubeconfig: Path) -> Iterator[None]:
    from wrapped_gateway.controller.leader import LeaseTiming  # noqa: PLC0415
    from wrapped_gateway.controller.operator import run  # noqa: PLC0415 - loads kopf
    from wrapped_gateway.controller.settings import Settings  # noqa: PLC0415

    settings = Settings(
        kubeconfig=str(kubeconfig),
        namespaces=(),
        health_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
        leader_election=False,
        leader_election_namespace="default",
        lease_name="wrapped-gateway",
        identity="demo",
        lease_timing=LeaseTiming(),
        log_level="warning",
        log_format="text",
        workers=2,
        settle_seconds=0.2,
        resync_seconds=600,
    )
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings, stop), name="controller", daemon=True)
    thread.start()
    _say("controller running in this process")
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def _api(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


def _apply_examples(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    apply = {"field_manager": "demo", "force": True, "_content_type": APPLY_PATCH}
    documents = read_documents([str(EXAMPLES)])
    # Namespaces first: the objects in them need them.
    for document in sorted(documents, key=lambda d: d.kind != "Namespace"):
        obj = dict(document.obj)
        metadata = obj["metadata"]
        plural = document.kind.lower() + "s"
        try:
            if document.kind == "Namespace":
                core.patch_namespace(metadata["name"], obj, **apply)
            elif "namespace" not in metadata:
                group, version = document.api_version.split("/")
                custom.patch_cluster_custom_object(
                    group, version, plural, metadata["name"], obj, **apply
                )
            else:
                group, version = document.api_version.split("/")
                custom.patch_namespaced_custom_object(
                    group, version, metadata["namespace"], plural, metadata["name"], obj, **apply
                )
        except client.ApiException as error:
            if error.status != 404:
                raise
            _say(f"skipped {document.identity}: {document.api_version} is not installed")
            continue
        _say(f"applied {document.identity}")


def _watch(api: client.ApiClient, exit_after: float | None) -> None:
    custom = client.CustomObjectsApi(api)
    _say("watching (Ctrl-C to stop)" if exit_after is None else f"watching for {exit_after:.0f}s")
    shown: str | None = None
    deadline = None if exit_after is None else time.monotonic() + exit_after
    while deadline is None or time.monotonic() < deadline:
        view = _view(custom)
        if view != shown:
            print(view, flush=True)
            shown = view
        time.sleep(1)


def _view(custom: client.CustomObjectsApi) -> str:
    lines = []
    for wrapped in _items(custom, WRAPPED_GROUP, WRAPPED_VERSION, WRAPPED_PLURAL):
        metadata, status = wrapped["metadata"], wrapped.get("status") or {}
        key = f"{metadata['namespace']}/{metadata['name']}"
        ready = next((c for c in status.get("conditions", ()) if c["type"] == "Ready"), None)
        lines.append(
            f"\nWrappedGateway {key}: Ready={ready['status'] if ready else '?'} "
            f"({ready['message'] if ready else 'not reconciled yet'})"
        )
        try:
            gateway = custom.get_namespaced_custom_object(
                GATEWAY_GROUP, "v1", metadata["namespace"], "gateways", metadata["name"]
            )
        except client.ApiException:
            gateway = {"spec": {"listeners": []}}
        lines.append(f"  Gateway {key} listeners:")
        for listener in gateway["spec"]["listeners"]:
            refs = (listener.get("tls") or {}).get("certificateRefs") or ()
            secret = f"  secret {refs[0]['name']}" if refs else ""
            lines.append(
                f"    {listener['name']:<40} {listener['protocol']:<5} {listener['port']:<5} "
                f"{listener.get('hostname', '-')}{secret}"
            )
        for refusal in status.get("refusedRoutes", ()):
            lines.append(
                f"  refused {refusal['kind']} {refusal['namespace']}/{refusal['name']}: "
                f"{refusal['reason']}: {refusal['message']}"
            )
    certificates = _items(custom, "cert-manager.io", "v1", "certificates")
    if certificates:
        lines.append("\nCertificates (cert-manager):")
        for certificate in certificates:
            ready = next(
                (c["status"] for c in (certificate.get("status") or {}).get("conditions", ())
                 if c["type"] == "Ready"),
                "?",
            )  # fmt: skip
            lines.append(
                f"  {certificate['metadata']['namespace']}/{certificate['metadata']['name']} "
                f"dnsNames={certificate['spec'].get('dnsNames')} Ready={ready}"
            )
    return "\n".join(lines)


def _items(custom: client.CustomObjectsApi, group: str, version: str, plural: str) -> list[Any]:
    try:
        items: list[Any] = custom.list_cluster_custom_object(group, version, plural)["items"]
    except client.ApiException:
        return []  # the kind is not installed (cert-manager is optional)
    return items


def _with_spinner(message: str, work: Callable[[], T]) -> T:
    if not sys.stderr.isatty():
        _say(message)
        return work()
    done = threading.Event()

    def spin() -> None:
        started = time.monotonic()
        for frame in itertools.cycle("|/-\\"):
            if done.wait(0.5):
                return
            elapsed = time.monotonic() - started
            print(f"\r{frame} {message} ({elapsed:.0f}s)", end="", file=sys.stderr, flush=True)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        return work()
    finally:
        done.set()
        spinner.join()
        print(file=sys.stderr)


def _say(message: str) -> None:
    print(f"[demo] {message}", file=sys.stderr, flush=True)
