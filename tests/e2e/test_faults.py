"""The controller under faults, on a control plane of its own (issue #9, "Faults").

- kube-apiserver stopped for 20 s and started again mid-burst (same etcd, same port): the
  controller recovers, misses no route, and ends with exactly the Gateway `render` computes
  from the final objects.
- SIGKILL of the controller mid-burst, then a new one: the same end state, and a refused
  route's Event is not posted a second time.
- A watch that expired (410 Gone) while the controller stalled: the new listing brings every
  route created, changed and deleted meanwhile.

The fixture starts a separate control plane, since stopping the API server would disturb the
other tests' session cluster.
"""

import base64
import copy
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import local_cluster
import pytest
import urllib3
from kubernetes import client, config

from tests.e2e.conftest import eventually
from tests.e2e.controller_process import REJECTED, running_controller
from tests.e2e.test_controller import _with_server_defaults, apply, gateway, http_route, wrapped
from wrapped_gateway.render.manifests import Document
from wrapped_gateway.render.render import render

pytestmark = pytest.mark.e2e

OUTAGE_SECONDS = 20


class OwnCluster:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.kubeconfig = state_dir / "kubeconfig"
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=cfg)
        self.api = client.ApiClient(cfg)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    def restart_apiserver(self, down_for: float) -> None:
        """Stop kube-apiserver, wait, start it again with the same arguments and port."""
        state = local_cluster.State.load(self.dir)
        (old,) = [c for c in state.components if c.name == "kube-apiserver"]
        argv = Path(f"/proc/{old.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        local_cluster.stop_components([old])
        state.components.remove(old)
        state.save()
        time.sleep(down_for)
        local_cluster.start_process(state, "kube-apiserver", argv, old.ports)
        eventually(self.serving, timeout=60)

    def compact_etcd(self) -> int:
        """Compact etcd at its current revision: every older resourceVersion is gone, as
        the API server's own compaction does after five minutes. Returns that revision."""
        state = local_cluster.State.load(self.dir)

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            request = urllib.request.Request(
                f"{state.etcd}/v3/kv/{path}",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                answer: dict[str, Any] = json.load(response)
                return answer

        any_key = base64.b64encode(b"/").decode()
        revision = int(post("range", {"key": any_key, "limit": 1})["header"]["revision"])
        post("compaction", {"revision": revision, "physical": True})
        return revision

    def serving(self) -> bool:
        try:
            self.core.list_namespace(limit=1)
        except (client.ApiException, urllib3.exceptions.HTTPError):
            return False
        return True


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnCluster]:
    state_dir = tmp_path_factory.mktemp("fault-cluster")
    local_cluster.up(state_dir)
    try:
        cluster = OwnCluster(state_dir)
        yield cluster
        cluster.api.close()
    finally:
        local_cluster.down(state_dir)


def routes_for(namespace: str, start: int, stop: int) -> list[dict[str, Any]]:
    return [http_route(namespace, f"r{i}", [f"h{i}.example.com"]) for i in range(start, stop)]


def apply_retrying(own: OwnCluster, obj: dict[str, Any]) -> None:
    """Apply through an outage: a tenant's client retries too."""
    eventually(lambda: own.serving() and (apply(own.custom, obj) or True), timeout=90)


def assert_gateway_is_what_render_computes(own: OwnCluster, namespace: str) -> None:
    def stored(plural: str, version: str = "v1") -> list[dict[str, Any]]:
        group = (
            "wrapped-gateway.dev" if plural == "wrappedgateways" else "gateway.networking.k8s.io"
        )
        items: list[dict[str, Any]] = own.custom.list_namespaced_custom_object(
            group, version, namespace, plural
        )["items"]
        kind = "WrappedGateway" if plural == "wrappedgateways" else "HTTPRoute"
        return [{**item, "kind": kind, "apiVersion": f"{group}/{version}"} for item in items]

    objects = stored("wrappedgateways", "v1alpha1") + stored("httproutes")
    rendered = render([Document(f"api {i}", copy.deepcopy(o)) for i, o in enumerate(objects)])
    (desired,) = rendered.gateways
    assert desired.gateway is not None

    def agrees() -> bool:
        live = gateway(own.custom, namespace)["spec"]
        return live == _with_server_defaults(desired.gateway["spec"], live)  # type: ignore[index]

    eventually(agrees, timeout=90)


@pytest.fixture
def fault_namespace(own: OwnCluster) -> Iterator[str]:
    body = client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="fault-"))
    name: str = own.core.create_namespace(body).metadata.name
    yield name
    own.core.delete_namespace(name)


def test_an_api_server_outage_mid_burst_loses_no_route(
    own: OwnCluster, fault_namespace: str, tmp_path: Path
) -> None:
    namespace = fault_namespace
    log = tmp_path / "controller.log"
    apply(own.custom, wrapped(namespace))
    with running_controller(own.kubeconfig, log) as controller:
        for route in routes_for(namespace, 0, 40):
            apply(own.custom, route)
        own.restart_apiserver(down_for=OUTAGE_SECONDS)
        # the burst goes on after the outage: new routes, a changed one, a deleted one
        for route in routes_for(namespace, 40, 80):
            apply_retrying(own, route)
        changed = http_route(namespace, "r3", ["changed.example.com"])
        apply_retrying(own, changed)
        own.custom.delete_namespaced_custom_object(
            "gateway.networking.k8s.io", "v1", namespace, "httproutes", "r5"
        )
        try:
            assert_gateway_is_what_render_computes(own, namespace)
        except AssertionError as error:
            raise AssertionError(f"{error}\ncontroller log:\n{log.read_text()[-4000:]}") from None
        assert controller.ready()
        hostnames = {
            item["hostname"] for item in gateway(own.custom, namespace)["spec"]["listeners"]
        }
        assert "changed.example.com" in hostnames
        assert "h5.example.com" not in hostnames
        assert len(hostnames) == 64  # the limit: r64 takes the place r5 left
    assert REJECTED not in log.read_text()


def test_a_killed_controller_is_replaced_without_losing_a_route_or_repeating_an_event(
    own: OwnCluster, fault_namespace: str, tmp_path: Path
) -> None:
    namespace = fault_namespace
    log = tmp_path / "controller.log"
    apply(own.custom, wrapped(namespace))

    def refusal_events() -> list[client.CoreV1Event]:
        events: list[client.CoreV1Event] = own.core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=db"
        ).items
        return events

    with running_controller(own.kubeconfig, log) as first:
        apply(own.custom, http_route(namespace, "db", [], kind="TCPRoute"))  # MissingPorts
        for route in routes_for(namespace, 0, 30):
            apply(own.custom, route)
        eventually(lambda: len(refusal_events()) == 1)
        first.stop(kill=True)
    for route in routes_for(namespace, 30, 50):
        apply(own.custom, route)
    with running_controller(own.kubeconfig, log) as second:
        # Events are posted before the apply of the same reconcile, so once the new routes
        # are on the Gateway the new controller has reported the refusal too.
        assert_gateway_is_what_render_computes(own, namespace)
        assert second.ready()
    assert [event.reason for event in refusal_events()] == ["MissingPorts"]
    assert REJECTED not in log.read_text()


def test_a_watch_that_expired_while_the_controller_stalled_is_listed_again(
    own: OwnCluster, fault_namespace: str, tmp_path: Path
) -> None:
    """The controller is stopped (SIGSTOP) and its watch connections are cut (kube-apiserver
    restarts) before routes are created, changed and deleted, so that no event of them can
    wait in its sockets. Then etcd is compacted past every resourceVersion its watches hold,
    and kube-apiserver restarts again, so that its watch cache starts after them too. Resumed,
    the controller's watches ask for a resourceVersion that is gone: 410 Gone, and kopf lists
    again. Only that listing can show the changes, a deletion included."""
    namespace = fault_namespace
    log = tmp_path / "controller.log"
    apply(own.custom, wrapped(namespace))
    with running_controller(own.kubeconfig, log, "--log-level", "debug") as controller:
        for route in routes_for(namespace, 0, 10):
            apply(own.custom, route)
        assert_gateway_is_what_render_computes(own, namespace)
        os.kill(controller.process.pid, signal.SIGSTOP)
        try:
            own.restart_apiserver(down_for=1)
            for route in routes_for(namespace, 10, 15):
                apply_retrying(own, route)  # the first ones wait for the CRDs to be served
            apply(own.custom, http_route(namespace, "r3", ["changed.example.com"]))
            own.custom.delete_namespaced_custom_object(
                "gateway.networking.k8s.io", "v1", namespace, "httproutes", "r5"
            )
            own.compact_etcd()
            own.restart_apiserver(down_for=1)
        finally:
            os.kill(controller.process.pid, signal.SIGCONT)
        try:
            assert_gateway_is_what_render_computes(own, namespace)
        except AssertionError as error:
            raise AssertionError(f"{error}\ncontroller log:\n{log.read_text()[-4000:]}") from None
        hostnames = {
            item["hostname"] for item in gateway(own.custom, namespace)["spec"]["listeners"]
        }
        assert {"changed.example.com", "h14.example.com"} <= hostnames
        assert not {"h3.example.com", "h5.example.com"} & hostnames
        assert controller.ready()
    # kopf's words for the 410 Gone of a watch: proof that the watch expired, rather than
    # resumed where it stopped
    assert "Restarting the watch-stream for httproutes" in log.read_text()
    assert REJECTED not in log.read_text()
