"""The controller against Gateway API v1.4.1 experimental CRDs (v1alpha2 TLS, TCP, UDP routes)."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import local_cluster
import pytest
from kubernetes import client, config

from tests.e2e.conftest import eventually
from tests.e2e.controller_process import REJECTED, running_controller
from tests.e2e.test_controller import apply, gateway, http_route, wrapped

pytestmark = pytest.mark.e2e


@dataclass
class LegacyCluster:
    custom: client.CustomObjectsApi
    core: client.CoreV1Api


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LegacyCluster]:
    state_dir = tmp_path_factory.mktemp("gateway-api-v1.4.1")
    state = local_cluster.up(state_dir, local_cluster.ClusterOptions(gateway_api="v1.4.1"))
    try:
        configuration = client.Configuration()
        config.load_kube_config(str(state.kubeconfig), client_configuration=configuration)
        api = client.ApiClient(configuration)
        log = Path(state_dir) / "controller.log"
        with running_controller(state.kubeconfig, log):
            yield LegacyCluster(client.CustomObjectsApi(api), client.CoreV1Api(api))
        assert REJECTED not in log.read_text()
    finally:
        local_cluster.down(state_dir)


def test_v1alpha2_routes_get_listeners(legacy: LegacyCluster) -> None:
    namespace = "legacy"
    legacy.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    apply(legacy.custom, wrapped(namespace))
    apply(legacy.custom, http_route(namespace, "web", ["web.example.com"]))
    apply(legacy.custom, http_route(
        namespace, "apiserver", ["cp.example.com"], kind="TLSRoute", version="v1alpha2",
        annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"}, sectionName="kube-apiserver",
        port=6443,
    ))  # fmt: skip
    apply(legacy.custom, http_route(
        namespace, "db", [], kind="TCPRoute", version="v1alpha2",
        annotations={"wrapped-gateway.dev/ports": "5432"},
    ))  # fmt: skip
    apply(legacy.custom, http_route(
        namespace, "dns", [], kind="UDPRoute", version="v1alpha2",
        annotations={"wrapped-gateway.dev/ports": "53"},
    ))  # fmt: skip

    def listeners() -> dict[str, dict[str, object]]:
        return {
            item["name"]: item for item in gateway(legacy.custom, namespace)["spec"]["listeners"]
        }

    eventually(
        lambda: (
            set(listeners())
            == {"https-443-web.example.com", "kube-apiserver", "tcp-5432", "udp-53"}
        )
    )
    assert listeners()["kube-apiserver"]["tls"] == {"mode": "Passthrough"}
    assert listeners()["kube-apiserver"]["port"] == 6443


def test_listener_sets_mode_says_the_gateway_api_lacks_listener_sets(legacy: LegacyCluster) -> None:
    """Gateway API v1.4 serves no ListenerSet: the WrappedGateway says so, and no Gateway is
    applied that the API server would strip of `allowedListeners`."""
    namespace = "legacy-listener-sets"
    legacy.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    apply(
        legacy.custom,
        wrapped(
            namespace,
            output="ListenerSets",
            listeners=[{"name": "http", "port": 80, "protocol": "HTTP"}],
        ),
    )
    apply(legacy.custom, http_route(namespace, "web", ["web.example.com"], kind="HTTPRoute"))

    def ready() -> dict[str, str]:
        status = (
            legacy.custom.get_namespaced_custom_object(
                "wrapped-gateway.dev", "v1alpha1", namespace, "wrappedgateways", "gw"
            ).get("status")
            or {}
        )
        return next((c for c in status.get("conditions") or () if c["type"] == "Ready"), {})

    condition = eventually(lambda: ready() if ready().get("reason") else None)
    assert (condition["status"], condition["reason"]) == ("False", "ListenerSetsUnavailable")
    assert "Gateway API v1.5" in condition["message"]
    with pytest.raises(client.ApiException) as missing:
        gateway(legacy.custom, namespace)
    assert missing.value.status == 404
