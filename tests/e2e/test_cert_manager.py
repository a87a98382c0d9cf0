"""cert-manager, for real: its Gateway API shim issues a Certificate per generated listener.

A control plane of its own (``hack/local-cluster up --with-cert-manager``: cert-manager's
controllers built from its Go module, with Gateway API support), the controller as a process,
and a self-signed ClusterIssuer. There is no kubelet: nothing here needs a Pod to run.
"""

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import local_cluster
import pytest
from kubernetes import client

from tests.e2e import acme
from tests.e2e.conftest import GW_GROUP, client_for, eventually
from tests.e2e.controller_process import REJECTED, ControllerProcess, running_controller
from tests.e2e.test_controller import apply, gateway, http_route, status, wrapped

pytestmark = pytest.mark.e2e
CM = "cert-manager.io"
ISSUER = "selfsigned"  # the name `wrapped()` puts in its cert-manager.io/cluster-issuer annotation
# A kubeconfig of a cluster started with `hack/local-cluster up --with-cert-manager`, to reuse
# it instead of starting one (while iterating on these tests).
KUBECONFIG_ENV = "WRAPPED_GATEWAY_CERT_MANAGER_KUBECONFIG"


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    reuse = os.environ.get(KUBECONFIG_ENV)
    if reuse:
        yield Path(reuse)
        return
    state_dir = tmp_path_factory.mktemp("cert-manager-cluster")
    try:
        state = local_cluster.up(state_dir, local_cluster.ClusterOptions(with_cert_manager=True))
    except local_cluster.ClusterError as e:
        pytest.fail(f"hack/local-cluster up --with-cert-manager failed: {e}", pytrace=False)
    try:
        yield state.kubeconfig
    finally:
        local_cluster.down(state_dir)


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    _, api_client = client_for(kubeconfig)
    with api_client:
        yield api_client


@pytest.fixture(scope="module")
def cm_custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def cm_core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def ready_self_signed_issuer(custom: client.CustomObjectsApi) -> str:
    """A self-signed ClusterIssuer, applied and Ready; its name."""
    body = {
        "apiVersion": f"{CM}/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": ISSUER},
        "spec": {"selfSigned": {}},
    }
    custom.patch_cluster_custom_object(
        CM,
        "v1",
        "clusterissuers",
        ISSUER,
        body,
        field_manager="e2e",
        force=True,
        _content_type="application/apply-patch+yaml",
    )

    def ready() -> bool:
        obj = custom.get_cluster_custom_object(CM, "v1", "clusterissuers", ISSUER)
        conditions = obj.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    eventually(ready, timeout=30)
    return ISSUER


@pytest.fixture(scope="module")
def issuer(cm_custom: client.CustomObjectsApi) -> str:
    return ready_self_signed_issuer(cm_custom)


@pytest.fixture(scope="module")
def controller(
    kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerProcess]:
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    with running_controller(kubeconfig, log) as process:
        yield process
    assert REJECTED not in log.read_text(), log.read_text()


@pytest.fixture
def ns(cm_core: client.CoreV1Api) -> Iterator[str]:
    created = cm_core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="e2e-cm-"))
    )
    name: str = created.metadata.name
    yield name
    cm_core.delete_namespace(name)


def certificates(custom: client.CustomObjectsApi, namespace: str) -> dict[str, dict[str, Any]]:
    items = custom.list_namespaced_custom_object(CM, "v1", namespace, "certificates")["items"]
    return {c["metadata"]["name"]: c for c in items}


def certificate_secrets(custom: client.CustomObjectsApi, namespace: str) -> dict[str, str]:
    """Secret name -> hostname, for each listener of the generated Gateway with a certificateRef."""
    refs = {}
    for listener in gateway(custom, namespace)["spec"]["listeners"]:
        for ref in listener.get("tls", {}).get("certificateRefs", []):
            refs[ref["name"]] = listener["hostname"]
    return refs


def subject_alt_names(pem: bytes) -> list[str]:
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName"],
        input=pem,
        capture_output=True,
        check=True,
    ).stdout.decode()
    # "X509v3 Subject Alternative Name: \n    DNS:a.example.com, DNS:..."
    return [n.strip() for n in out.splitlines()[1].split(",")]


def test_a_certificate_per_hostname_from_a_self_signed_cluster_issuer(
    controller: ControllerProcess,
    issuer: str,
    cm_custom: client.CustomObjectsApi,
    cm_core: client.CoreV1Api,
    ns: str,
) -> None:
    custom = cm_custom
    apply(custom, wrapped(ns))
    web = http_route(ns, "web", ["a.example.com", "*.b.example.com"])
    apply(custom, web)
    apply(custom, http_route(ns, "api", ["c.example.com"], kind="GRPCRoute"))
    apply(
        custom,
        http_route(
            ns,
            "pass",
            ["pass.example.com"],
            kind="TLSRoute",
            annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"},
        ),
    )
    hosts = {"a.example.com", "*.b.example.com", "c.example.com"}
    eventually(lambda: set(certificate_secrets(custom, ns).values()) == hosts)
    secrets = certificate_secrets(custom, ns)
    assert gateway(custom, ns)["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == (
        issuer
    )
    listeners = {item["name"]: item for item in gateway(custom, ns)["spec"]["listeners"]}
    assert listeners["tls-443-pass.example.com"]["tls"] == {"mode": "Passthrough"}

    # cert-manager's gateway shim: one Certificate per Secret, with exactly its hostname
    eventually(lambda: set(certificates(custom, ns)) == set(secrets), timeout=30)
    for name, cert in certificates(custom, ns).items():
        assert cert["spec"]["secretName"] == name
        assert cert["spec"]["dnsNames"] == [secrets[name]]
        assert cert["spec"]["issuerRef"] == {"name": issuer, "kind": "ClusterIssuer", "group": CM}
        assert cert["metadata"]["ownerReferences"][0]["kind"] == "Gateway"

    # ... issued: each Secret holds a certificate for its hostname
    def issued(name: str) -> list[str]:
        secret = cm_core.read_namespaced_secret(name, ns)
        data = secret.data or {}
        assert data.get("tls.crt"), f"{name} has no certificate yet"
        return subject_alt_names(base64.b64decode(data["tls.crt"]))

    for name, hostname in secrets.items():
        assert eventually(lambda n=name: issued(n), timeout=60) == [f"DNS:{hostname}"]

    def ready(name: str) -> bool:
        cert = certificates(custom, ns)[name]
        conditions = cert.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    for name in secrets:
        eventually(lambda n=name: ready(n), timeout=30)

    # The TLS passthrough listener got no Certificate.
    assert all(
        "pass.example.com" not in c["spec"]["dnsNames"] for c in certificates(custom, ns).values()
    )

    # Removing a hostname removes its listener, and cert-manager removes its Certificate.
    (wildcard_secret,) = [n for n, h in secrets.items() if h == "*.b.example.com"]
    web["spec"]["hostnames"] = ["a.example.com"]
    apply(custom, web)
    eventually(lambda: "*.b.example.com" not in certificate_secrets(custom, ns).values())
    eventually(lambda: set(certificates(custom, ns)) == set(secrets) - {wildcard_secret})
    assert status(custom, ns).get("refusedRoutes", []) == []


# --------------------------------------------------------------------------------------
# ACME HTTP-01 against pebble (Let's Encrypt's test ACME server, built from its Go module)


@pytest.fixture(scope="module")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[acme.Pebble]:
    """A running pebble; no test here gets as far as its validation."""
    with acme.pebble(tmp_path_factory.mktemp("pebble"), local_cluster.free_port()) as server:
        yield server


def test_the_shims_solver_route_names_the_gateway_and_gets_the_names_plain_http_listener(
    controller: ControllerProcess,
    pebble: acme.Pebble,
    cm_custom: client.CustomObjectsApi,
    ns: str,
) -> None:
    """cert-manager (v1.21) points the solver route of a Certificate the gateway shim made at
    the Gateway that asked for it, whatever the Issuer's solver says, so the route always
    reaches the controller; it gets a plain-HTTP listener for its name alone. (Issuance itself,
    through a data plane: tests/e2e/test_acme_http01.py.)"""
    custom = cm_custom
    issuer = {
        "apiVersion": f"{CM}/v1",
        "kind": "Issuer",
        "metadata": {"name": "acme", "namespace": ns},
        "spec": {
            "acme": {
                "server": pebble.url,
                "caBundle": base64.b64encode(pebble.ca).decode(),
                "privateKeySecretRef": {"name": "acme-account"},
                # a static listener, as once documented: the route names it, and the Gateway
                "solvers": [
                    {
                        "http01": {
                            "gatewayHTTPRoute": {
                                "parentRefs": [{"name": "gw", "sectionName": "http"}]
                            }
                        }
                    }
                ],
            }
        },
    }
    apply(custom, issuer)
    static = [{"name": "http", "port": 80, "protocol": "HTTP"}]
    wrapped_gateway = wrapped(ns, listeners=static)
    wrapped_gateway["metadata"]["annotations"] = {"cert-manager.io/issuer": "acme"}
    apply(custom, wrapped_gateway)
    apply(custom, http_route(ns, "web", ["acme.example.com"]))

    def listeners() -> dict[str, dict[str, Any]]:
        return {item["name"]: item for item in gateway(custom, ns)["spec"]["listeners"]}

    eventually(lambda: set(listeners()) == {"http", "https-443-acme.example.com"})

    # cert-manager: Certificate -> CertificateRequest -> Order -> Challenge -> solver HTTPRoute
    def solver_routes() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = custom.list_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", ns, "httproutes", label_selector=acme.SOLVER_LABEL
        )["items"]
        return items

    # cert-manager may present a challenge again (a second solver route) under load
    routes = eventually(solver_routes, timeout=90)
    for route in routes:
        assert route["spec"]["hostnames"] == ["acme.example.com"]
        gateway_ref = {"group": GW_GROUP, "kind": "Gateway", "name": "gw", "namespace": ns}
        assert gateway_ref in route["spec"]["parentRefs"], route["spec"]["parentRefs"]
    plain = eventually(lambda: listeners().get("http-80-acme.example.com"))
    assert plain["protocol"] == "HTTP"
    assert plain["allowedRoutes"]["namespaces"] == {"from": "Same"}
    assert "tls" not in plain
    refused = status(custom, ns).get("refusedRoutes", [])
    solver_names = {route["metadata"]["name"] for route in routes}
    assert all(r["name"] not in solver_names for r in refused), refused
