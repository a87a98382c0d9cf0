"""The demo: a local control plane, the controller, the examples, and what happens.

    .venv/bin/python hack/demo.py [--with-data-plane]

Development tooling, not part of the package: it builds the control plane from Go modules with
hack/local-cluster and applies examples/, so it needs this repository and Go. Everything it
starts is stopped on exit, Ctrl-C included.

With ``--with-data-plane`` it also runs Traefik (``hack/local-cluster up --with-data-plane``)
and a backend on a test host in a network namespace (``hack/netns_backend.py``, needs root),
lets the controller generate an HTTPS listener for a route, and shows ``curl`` getting the
backend's answer through it, with a certificate cert-manager issued from a demo CA.
"""

import argparse
import base64
import itertools
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import local_cluster  # hack/, this script's directory
import netns_backend
from kubernetes import client, config

from wrapped_gateway.constants import (
    GATEWAY_GROUP,
    WRAPPED_GROUP,
    WRAPPED_PLURAL,
    WRAPPED_VERSION,
    ObjectKey,
)
from wrapped_gateway.controller.kube import json_object
from wrapped_gateway.render.manifests import read_documents

REPO = Path(__file__).resolve().parents[1]
APPLY_PATCH = "application/apply-patch+yaml"
EXAMPLES = REPO / "examples"
T = TypeVar("T")


class ApplyOptions(TypedDict):
    """What makes a patch call a server-side apply."""

    field_manager: str
    force: bool
    _content_type: str


APPLY = ApplyOptions(field_manager="demo", force=True, _content_type=APPLY_PATCH)


class DemoError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hack/demo.py",
        description="Starts a local control plane, runs the controller on examples/ and shows "
        "the result. The control plane is built from Go modules (several minutes the first "
        "time); everything is torn down on exit.",
    )
    parser.add_argument("--dir", type=Path, help="state directory (default: a temp dir)")
    parser.add_argument(
        "--exit-after", type=float, metavar="SECONDS", help="stop after this long (default: Ctrl-C)"
    )
    parser.add_argument(
        "--without-cert-manager", action="store_true", help="do not start cert-manager"
    )
    parser.add_argument(
        "--with-data-plane",
        action="store_true",
        help="also run Traefik as the Gateway implementation and send a real HTTPS request "
        "through a generated listener to a backend (needs root: the backend runs in a network "
        "namespace; Traefik listens on 127.0.0.1:8443 and :9443)",
    )
    parser.add_argument(
        "--with-external-dns",
        action="store_true",
        help="with --with-data-plane: also run Knot (a DNS server for example.com on 127.0.0.1) "
        "and external-dns publishing the DNSEndpoint the controller writes; shows the name "
        "resolving and curl at the address DNS gave",
    )
    args = parser.parse_args(argv)
    if args.with_external_dns and not args.with_data_plane:
        parser.error("--with-external-dns needs --with-data-plane")
    try:
        return demo(
            args.dir,
            args.exit_after,
            with_cert_manager=not args.without_cert_manager,
            with_data_plane=args.with_data_plane,
            with_external_dns=args.with_external_dns,
        )
    except DemoError as error:
        print(f"demo: error: {error}", file=sys.stderr)
        return 1


def demo(
    directory: Path | None,
    exit_after: float | None,
    with_cert_manager: bool,
    with_data_plane: bool = False,
    with_external_dns: bool = False,
) -> int:
    if with_data_plane:
        _check_data_plane_prerequisites(with_cert_manager)
    if with_external_dns:
        local_cluster.knotd_binary()  # says what to install before anything is started
    state_dir = directory or Path(tempfile.mkdtemp(prefix="wrapped-gateway-demo-"))
    _say(f"state, logs and kubeconfig: {state_dir}")
    try:
        state = _start_cluster(state_dir, with_cert_manager, with_data_plane, with_external_dns)
        _say(f"control plane ready; try: export KUBECONFIG={state.kubeconfig}")
        with ExitStack() as stack:
            stack.enter_context(_controller(state.kubeconfig))
            api = _api(state.kubeconfig)
            _apply_examples(api)
            if with_data_plane:
                stack.enter_context(_real_traffic(api, state))
            _watch(api, exit_after)
    except local_cluster.ClusterError as error:
        raise DemoError(str(error)) from None
    except KeyboardInterrupt:
        _say("interrupted")
    finally:
        _say("stopping everything the demo started")
        local_cluster.down(state_dir)
    return 0


def _start_cluster(
    state_dir: Path, with_cert_manager: bool, with_data_plane: bool, with_external_dns: bool
) -> Any:
    parts = ["etcd", "kube-apiserver", "kube-controller-manager"]
    parts += ["cert-manager"] * with_cert_manager + ["Traefik"] * with_data_plane
    parts += ["Knot", "external-dns"] * with_external_dns
    message = (
        f"starting {', '.join(parts[:-1])} and {parts[-1]} (the first run builds them from Go "
        "modules: several minutes" + (", Traefik alone 12 to 25" if with_data_plane else "") + ")"
    )
    try:
        return _with_spinner(
            message,
            # The default Gateway API CRDs, as without the data plane: the examples' TCPRoute is
            # v1 there. Traefik then serves HTTPRoute and GRPCRoute (the demo needs no more).
            lambda: local_cluster.up(
                state_dir,
                local_cluster.ClusterOptions(
                    gateway_api=local_cluster.load_versions()["gateway_api"]["default"],
                    with_cert_manager=with_cert_manager,
                    with_data_plane=with_data_plane,
                    with_external_dns=with_external_dns,
                ),
            ),
        )
    except local_cluster.ClusterError as error:
        if not with_cert_manager or with_data_plane:
            raise
        _say(f"cert-manager could not be started ({error}); continuing without it")
        local_cluster.down(state_dir)
        return _with_spinner(message, lambda: local_cluster.up(state_dir))


@contextmanager
def _controller(kubeconfig: Path) -> Iterator[None]:
    from wrapped_gateway.controller.operator import run  # noqa: PLC0415 - loads kopf
    from wrapped_gateway.controller.settings import Settings  # noqa: PLC0415

    settings = Settings(
        kubeconfig=str(kubeconfig),
        namespaces=(),
        health_address="127.0.0.1:0",
        metrics_address="127.0.0.1:0",
        election=None,
        log_level="warning",
        log_format="text",
        workers=2,
        settle_seconds=0.2,
        burst_hold_seconds=30,
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


# --------------------------------------------------------------------------------------
# --with-data-plane: a real HTTPS request through Traefik

LIVE_NAMESPACE = "edge"  # the WrappedGateway edge/edge, of GatewayClass traefik
LIVE_HOSTNAME = "hello.example.com"
LIVE_ROUTE_NAMESPACE = "team-a"  # from examples/
DEMO_CA = "demo-ca"


def _check_data_plane_prerequisites(with_cert_manager: bool) -> None:
    if not with_cert_manager:
        raise DemoError("--with-data-plane needs cert-manager (it issues the listeners' Secrets)")
    reason = netns_backend.available()
    if reason:
        raise DemoError(f"--with-data-plane runs its backend in a network namespace: {reason}")
    if shutil.which("curl") is None:
        raise DemoError("--with-data-plane shows a request with curl, which is not on PATH")


@contextmanager
def _real_traffic(api: client.ApiClient, state: Any) -> Iterator[None]:
    """A backend, a WrappedGateway for Traefik with a route to it, and curl through it."""
    work = Path(state.dir) / "data-plane"
    port = state.data_plane["ports"][0]
    try:
        host = netns_backend.BackendHost.create(work)
        backend = host.serve(f"{LIVE_ROUTE_NAMESPACE}/hello", 8080)
    except netns_backend.BackendError as error:
        raise DemoError(f"the test host for the backend: {error}") from None
    try:
        _say(f"backend {backend.name} on the test host {backend.address}:{backend.port}")
        netns_backend.apply_service(api, LIVE_ROUTE_NAMESPACE, "hello", 80, backend)
        ca = _demo_ca(api, work / "ca.pem")
        for obj in _live_objects(state.data_plane["gateway_class"], port, bool(state.dns)):
            _apply(api, obj)
            metadata = obj["metadata"]
            namespace = f"{metadata['namespace']}/" if "namespace" in metadata else ""
            _say(f"applied {obj['kind']} {namespace}{metadata['name']}")
        _with_spinner(
            f"waiting for Traefik to program the listener for {LIVE_HOSTNAME}:{port}",
            lambda: _until(lambda: _programmed(api, LIVE_HOSTNAME), 120),
        )
        address = _show_resolving(state, LIVE_HOSTNAME) if state.dns else "127.0.0.1"
        _show_curl(LIVE_HOSTNAME, port, ca, address)
        yield
    finally:
        host.close()
        shutil.rmtree(work, ignore_errors=True)


def _demo_ca(api: client.ApiClient, pem: Path) -> Path:
    """A CA ClusterIssuer (signed by a self-signed one), so that curl can verify against it."""
    custom = client.CustomObjectsApi(api)
    cm = {"apiVersion": "cert-manager.io/v1"}
    issuer_ref = {"kind": "ClusterIssuer", "group": "cert-manager.io"}
    _apply(api, {**cm, "kind": "ClusterIssuer", "metadata": {"name": "demo-root"},
                 "spec": {"selfSigned": {}}})  # fmt: skip
    _apply(api, {**cm, "kind": "Certificate",
                 "metadata": {"name": DEMO_CA, "namespace": "kube-system"},
                 "spec": {"isCA": True, "commonName": "wrapped-gateway demo CA",
                          "secretName": DEMO_CA, "privateKey": {"algorithm": "ECDSA"},
                          "issuerRef": {"name": "demo-root", **issuer_ref}}})  # fmt: skip
    _apply(api, {**cm, "kind": "ClusterIssuer", "metadata": {"name": DEMO_CA},
                 "spec": {"ca": {"secretName": DEMO_CA}}})  # fmt: skip

    def ready() -> bool:
        obj = json_object(
            custom.get_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", DEMO_CA)
        )
        conditions = (obj.get("status") or {}).get("conditions", ())
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    _until(ready, 60)
    secret = client.CoreV1Api(api).read_namespaced_secret(DEMO_CA, "kube-system")
    pem.parent.mkdir(parents=True, exist_ok=True)
    pem.write_bytes(base64.b64decode((secret.data or {})["tls.crt"]))
    return pem


def _live_objects(gateway_class: str, port: int, publish_dns: bool) -> list[dict[str, Any]]:
    # spec.dnsEndpoint: the controller publishes the names it accepted for external-dns
    dns_endpoint: dict[str, Any] = {"dnsEndpoint": {}} if publish_dns else {}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LIVE_NAMESPACE}},
        {
            "apiVersion": f"{WRAPPED_GROUP}/{WRAPPED_VERSION}",
            "kind": "WrappedGateway",
            "metadata": {
                "name": "edge",
                "namespace": LIVE_NAMESPACE,
                "annotations": {"cert-manager.io/cluster-issuer": DEMO_CA},
            },
            "spec": {
                "gatewayClassName": gateway_class,
                "routes": {
                    "namespaces": {
                        "from": "Selector",
                        "selector": {"matchLabels": {"gateway-access": "shared"}},
                    }
                },
                **dns_endpoint,
            },
        },
        {
            "apiVersion": f"{GATEWAY_GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "hello", "namespace": LIVE_ROUTE_NAMESPACE},
            "spec": {
                "parentRefs": [{"name": "edge", "namespace": LIVE_NAMESPACE, "port": port}],
                "hostnames": [LIVE_HOSTNAME],
                "rules": [{"backendRefs": [{"name": "hello", "port": 80}]}],
            },
        },
    ]


def _apply(api: client.ApiClient, obj: dict[str, Any]) -> None:
    metadata = obj["metadata"]
    if obj["kind"] == "Namespace":
        client.CoreV1Api(api).patch_namespace(metadata["name"], obj, **APPLY)
        return
    group, version = obj["apiVersion"].split("/")
    plural = obj["kind"].lower() + "s"
    custom = client.CustomObjectsApi(api)
    if "namespace" in metadata:
        custom.patch_namespaced_custom_object(
            group, version, metadata["namespace"], plural, metadata["name"], obj, **APPLY
        )
    else:
        custom.patch_cluster_custom_object(group, version, plural, metadata["name"], obj, **APPLY)


def _programmed(api: client.ApiClient, hostname: str) -> bool:
    """Traefik reports the listener for ``hostname`` Programmed, with the route attached."""
    gateway = json_object(
        client.CustomObjectsApi(api).get_namespaced_custom_object(
            GATEWAY_GROUP, "v1", LIVE_NAMESPACE, "gateways", "edge"
        )
    )
    names = {
        item["name"] for item in gateway["spec"]["listeners"] if item.get("hostname") == hostname
    }
    for listener in (gateway.get("status") or {}).get("listeners", ()):
        conditions = {
            c["type"]: c["status"]
            for c in listener.get("conditions", ())
            if c.get("observedGeneration") == gateway["metadata"]["generation"]
        }
        if listener["name"] in names and conditions.get("Programmed") == "True":
            return bool(listener.get("attachedRoutes", 0) >= 1)
    return False


def _until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except client.ApiException as error:
            if error.status != 404:
                raise
        if time.monotonic() > deadline:
            raise DemoError(f"gave up after {timeout:.0f}s waiting for {check.__name__}")
        time.sleep(0.5)


def _show_resolving(state: Any, hostname: str) -> str:
    """Wait until Knot answers ``hostname`` (external-dns published the DNSEndpoint); show the
    query as kdig would make it and return the address."""
    host, port = state.dns["server"].rsplit(":", 1)

    def resolves() -> bool:
        return bool(local_cluster.query_addresses(int(port), hostname, host=host))

    _with_spinner(
        f"waiting for external-dns to publish {hostname} into Knot ({state.dns['server']})",
        lambda: _until(resolves, 60),
    )
    addresses: list[str] = local_cluster.query_addresses(int(port), hostname, host=host)
    print("\nThe name resolves (external-dns published the controller's DNSEndpoint):")
    print(f"$ kdig @{host} -p {port} +short {hostname} A", flush=True)
    print("\n".join(addresses), flush=True)
    return addresses[0]


def _show_curl(hostname: str, port: int, ca: Path, address: str = "127.0.0.1") -> None:
    command = [
        "curl", "--silent", "--show-error", "--resolve", f"{hostname}:{port}:{address}",
        "--cacert", str(ca), f"https://{hostname}:{port}/",
    ]  # fmt: skip
    marker = "\n--certificate--\n"
    deadline = time.monotonic() + 30  # Traefik applies new configuration within ~2 s
    while True:
        result = subprocess.run(
            [*command, "--write-out", f"{marker}%{{certs}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        body, _, certs = result.stdout.partition(marker)
        answered = result.returncode == 0 and body.startswith("backend ")
        if answered or time.monotonic() > deadline:
            break
        time.sleep(1)
    fields = dict(
        line.split(":", 1)
        for line in certs.split("-----BEGIN", 1)[0].splitlines()
        if ":" in line and not line[:1].isspace()
    )
    print(f"\nReal traffic through Traefik (a listener generated for {hostname}):", flush=True)
    print("$ " + " ".join(command), flush=True)
    print((body or result.stderr).rstrip(), flush=True)
    if fields:
        print(
            f"  (certificate verified against {ca.name}: subjectAltName "
            f"{fields.get('X509v3 Subject Alternative Name', '?')}, issuer "
            f"{fields.get('Issuer', '?').strip()})",
            flush=True,
        )


def _api(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    # kubernetes.config has no annotations (the generated kubernetes.client has)
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    return client.ApiClient(configuration)


def _apply_examples(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    documents = read_documents([str(EXAMPLES)])
    # Namespaces first: the objects in them need them.
    for document in sorted(documents, key=lambda d: d.kind != "Namespace"):
        obj = dict(document.obj)
        metadata = obj["metadata"]
        plural = document.kind.lower() + "s"
        try:
            if document.kind == "Namespace":
                core.patch_namespace(metadata["name"], obj, **APPLY)
            elif "namespace" not in metadata:
                group, version = document.api_version.split("/")
                custom.patch_cluster_custom_object(
                    group, version, plural, metadata["name"], obj, **APPLY
                )
            else:
                group, version = document.api_version.split("/")
                custom.patch_namespaced_custom_object(
                    group, version, metadata["namespace"], plural, metadata["name"], obj, **APPLY
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
        key = ObjectKey.of(wrapped)
        ready = next((c for c in status.get("conditions", ()) if c["type"] == "Ready"), None)
        lines.append(
            f"\nWrappedGateway {key}: Ready={ready['status'] if ready else '?'} "
            f"({ready['message'] if ready else 'not reconciled yet'})"
        )
        try:
            gateway = json_object(
                custom.get_namespaced_custom_object(
                    GATEWAY_GROUP, "v1", metadata["namespace"], "gateways", metadata["name"]
                )
            )
        except client.ApiException:
            gateway = {"spec": {"listeners": []}}
        lines.append(f"  Gateway {key} listeners:")
        # what a Gateway implementation reports (only with --with-data-plane: Traefik)
        programmed = {
            item["name"]: item
            for item in (gateway.get("status") or {}).get("listeners", ())
            if any(c["type"] == "Programmed" for c in item.get("conditions", ()))
        }
        for listener in gateway["spec"]["listeners"]:
            refs = (listener.get("tls") or {}).get("certificateRefs") or ()
            secret = f"  secret {refs[0]['name']}" if refs else ""
            served = ""
            if listener["name"] in programmed:
                reported = programmed[listener["name"]]
                condition = next(c for c in reported["conditions"] if c["type"] == "Programmed")
                served = (
                    f"  Programmed={condition['status']} "
                    f"attachedRoutes={reported.get('attachedRoutes', 0)}"
                )
            lines.append(
                f"    {listener['name']:<40} {listener['protocol']:<5} {listener['port']:<5} "
                f"{listener.get('hostname', '-')}{secret}{served}"
            )
        for refusal in status.get("refusedRoutes", ()):
            lines.append(
                f"  refused {refusal['kind']} {ObjectKey(refusal['namespace'], refusal['name'])}: "
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
                f"  {ObjectKey.of(certificate)} "
                f"dnsNames={certificate['spec'].get('dnsNames')} Ready={ready}"
            )
    return "\n".join(lines)


def _items(custom: client.CustomObjectsApi, group: str, version: str, plural: str) -> list[Any]:
    try:
        listing = json_object(custom.list_cluster_custom_object(group, version, plural))
    except client.ApiException:
        return []  # the kind is not installed (cert-manager is optional)
    items: list[Any] = listing["items"]
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


if __name__ == "__main__":
    sys.exit(main())
