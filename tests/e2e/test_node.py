"""The path users take: the chart's Pods, from the image built from the Dockerfile, on a node.

One cluster with a node (``hack/local-cluster up --with-node``) for the module: the chart is
installed once into a namespace that enforces the ``restricted`` Pod Security Standard, and
the tests run in file order (each also stands alone: ``release`` installs what it needs). The
last one takes the node down and checks that nothing of it is left on the machine.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import local_cluster
import pytest
from kubernetes import client

from tests.e2e.conftest import eventually
from tests.e2e.node import CHART, NodeCluster, node_cluster
from tests.e2e.test_controller import apply, gateway, hostnames, http_route, wrapped

pytestmark = pytest.mark.e2e
__all__ = ["node_cluster"]  # the fixture, used by name

RELEASE = "wrapped-gateway"  # the chart's full name, its Deployment's and its Lease's
SYSTEM = "wg-system"
LEASE_DURATION = 30  # so that a handover at the standby's next attempt cannot be mistaken
RETRY_PERIOD = 2  # for a lease that expired
TWO_REPLICAS = (
    "--set=replicaCount=2",
    f"--set=leaderElection.leaseDuration={LEASE_DURATION}",
    "--set=leaderElection.renewDeadline=20",
    f"--set=leaderElection.retryPeriod={RETRY_PERIOD}",
)


@pytest.fixture(scope="module")
def core(node_cluster: NodeCluster) -> client.CoreV1Api:
    return client.CoreV1Api(node_cluster.api_client)


@pytest.fixture(scope="module")
def custom(node_cluster: NodeCluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(node_cluster.api_client)


@pytest.fixture(scope="module")
def release(node_cluster: NodeCluster, core: client.CoreV1Api) -> str:
    """The chart installed with its defaults (image wrapped-gateway:<appVersion>, 1 replica)
    into a namespace enforcing the restricted Pod Security Standard."""
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=SYSTEM, labels=labels))
    )
    started = time.monotonic()
    notes = node_cluster.helm(
        "install", RELEASE, str(CHART), "--namespace", SYSTEM, "--wait", "--timeout=180s"
    )
    node_cluster.timings["helm install --wait (1 replica Ready)"] = time.monotonic() - started
    assert f"docker build -t wrapped-gateway:{local_cluster.chart_app_version()}" in notes
    return RELEASE


@pytest.fixture
def apps(core: client.CoreV1Api) -> Iterator[str]:
    """A namespace for a WrappedGateway and its routes."""
    ns = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="apps-"))
    )
    yield ns.metadata.name
    core.delete_namespace(ns.metadata.name)


def controller_pods(core: client.CoreV1Api) -> list[client.V1Pod]:
    pods = core.list_namespaced_pod(
        SYSTEM, label_selector=f"app.kubernetes.io/instance={RELEASE}"
    ).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def lease_holder(node_cluster: NodeCluster) -> str:
    lease = client.CoordinationV1Api(node_cluster.api_client).read_namespaced_lease(RELEASE, SYSTEM)
    return str(lease.spec.holder_identity or "")


def pod_of(holder: str, pods: list[client.V1Pod]) -> client.V1Pod | None:
    """The Pod whose replica holds the Lease (its identity is the Pod's hostname + a suffix)."""
    return next((p for p in pods if holder.startswith(f"{p.metadata.name}-")), None)


def two_ready_replicas_and_a_leader(
    node_cluster: NodeCluster, core: client.CoreV1Api
) -> tuple[client.V1Pod, client.V1Pod]:
    """(leader, standby) once both replicas of the current ReplicaSet are Ready."""

    def settled() -> tuple[client.V1Pod, client.V1Pod] | None:
        pods = controller_pods(core)
        leader = pod_of(lease_holder(node_cluster), pods)
        if len(pods) != 2 or not all(map(ready, pods)) or leader is None:
            return None
        (standby,) = [p for p in pods if p.metadata.name != leader.metadata.name]
        return leader, standby

    result: tuple[client.V1Pod, client.V1Pod] = eventually(settled, timeout=120)
    return result


def test_a_warm_run_reuses_the_images_the_node_loaded(node_cluster: NodeCluster) -> None:
    """The images are cached by what they are built from: running the tests (byte code,
    logs) changes nothing of it, so asking again builds nothing."""
    loaded = local_cluster.State.load(node_cluster.state_dir).node["images"]
    started = time.monotonic()
    again = [
        local_cluster.ensure_pause_image(local_cluster.load_versions()),
        local_cluster.ensure_controller_image(),
    ]
    assert time.monotonic() - started < 10
    assert {image.reference: str(image.archive) for image in again} == loaded
    controller_ref = f"docker.io/library/wrapped-gateway:{local_cluster.chart_app_version()}"
    assert controller_ref in loaded


def test_the_chart_runs_as_pods_under_the_restricted_standard(
    node_cluster: NodeCluster, core: client.CoreV1Api, custom: client.CustomObjectsApi,
    release: str, apps: str,
) -> None:  # fmt: skip
    # the namespace does enforce the standard: a privileged Pod is refused there
    privileged = client.V1Pod(
        metadata=client.V1ObjectMeta(name="privileged"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c",
                    image=f"wrapped-gateway:{local_cluster.chart_app_version()}",
                    security_context=client.V1SecurityContext(privileged=True),
                )
            ]
        ),
    )
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod(SYSTEM, privileged)
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.body

    (pod,) = controller_pods(core)
    assert ready(pod), "helm --wait returned before the Pod was Ready"
    (container,) = pod.spec.containers
    assert container.readiness_probe.http_get.path == "/readyz"
    assert container.liveness_probe.http_get.path == "/healthz"
    (status,) = pod.status.container_statuses
    assert status.ready
    assert status.restart_count == 0
    assert status.image_id, "the kubelet ran no image"
    # on the Pod network, talking to the API server through the kubernetes Service
    assert not pod.spec.host_network
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(local_cluster.POD_SUBNET)

    apply(custom, wrapped(apps))
    apply(custom, http_route(apps, "web", ["web.example.com"]))
    eventually(lambda: "web.example.com" in hostnames(custom, apps), timeout=60)

    # `kubectl logs`: the API server fetches them from the kubelet
    lines = [
        line
        for line in core.read_namespaced_pod_log(pod.metadata.name, SYSTEM).splitlines()
        if line.strip()
    ]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records
    assert all(isinstance(r, dict) and r.get("message") for r in records)
    assert any("severity" in r for r in records)


def test_a_missing_image_is_named_by_the_install_notes_and_the_pod(
    node_cluster: NodeCluster, core: client.CoreV1Api
) -> None:
    """What a user without the image sees: NOTES.txt names the image, how to build and load it,
    and the waiting reason the Pod then shows."""
    namespace = "wg-missing-image"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    notes = node_cluster.helm(
        "install", "missing", str(CHART), "--namespace", namespace,
        "--set=image.tag=not-built", "--set=image.pullPolicy=Never",
    )  # fmt: skip
    assert "docker build -t wrapped-gateway:not-built ." in notes
    assert "kind load docker-image wrapped-gateway:not-built" in notes

    def waiting_reason() -> str | None:
        pods = core.list_namespaced_pod(namespace).items
        statuses = [s for p in pods for s in p.status.container_statuses or []]
        return next((s.state.waiting.reason for s in statuses if s.state.waiting), None)

    eventually(lambda: waiting_reason() == "ErrImageNeverPull", timeout=60)
    assert "ErrImageNeverPull" in notes
    node_cluster.helm("uninstall", "missing", "--namespace", namespace)
    core.delete_namespace(namespace)


def test_a_deleted_leader_pod_hands_the_lease_over_at_once(
    node_cluster: NodeCluster, core: client.CoreV1Api, custom: client.CustomObjectsApi,
    release: str, apps: str,
) -> None:  # fmt: skip
    node_cluster.helm(
        "upgrade", release, str(CHART), "--namespace", SYSTEM, "--reuse-values",
        *TWO_REPLICAS, "--wait", "--timeout=180s",
    )  # fmt: skip
    leader, standby = two_ready_replicas_and_a_leader(node_cluster, core)
    apply(custom, wrapped(apps))
    apply(custom, http_route(apps, "before", ["before.example.com"]))
    eventually(lambda: "before.example.com" in hostnames(custom, apps), timeout=60)

    # A clean shutdown: the kubelet sends SIGTERM, the leader releases the Lease, and the
    # standby takes it at its next attempt, not a lease duration later.
    core.delete_namespaced_pod(leader.metadata.name, SYSTEM)
    deleted_at = time.monotonic()
    apply(custom, http_route(apps, "during", ["during.example.com"]))
    eventually(
        lambda: lease_holder(node_cluster).startswith(f"{standby.metadata.name}-"), timeout=60
    )
    handover = time.monotonic() - deleted_at
    node_cluster.timings["leader Pod deleted -> standby holds the Lease"] = handover
    assert handover < LEASE_DURATION / 3, f"took {handover:.1f}s: the Lease was not released"
    # the route created as the leader went reaches its Gateway through the new leader
    eventually(lambda: "during.example.com" in hostnames(custom, apps), timeout=60)
    log = core.read_namespaced_pod_log(standby.metadata.name, SYSTEM)
    assert "became the leader" in log


def test_helm_upgrade_rolls_the_pods_while_routes_are_created(
    node_cluster: NodeCluster, core: client.CoreV1Api, custom: client.CustomObjectsApi,
    release: str, apps: str,
) -> None:  # fmt: skip
    node_cluster.helm(
        "upgrade", release, str(CHART), "--namespace", SYSTEM, "--reuse-values",
        *TWO_REPLICAS, "--wait", "--timeout=180s",
    )  # fmt: skip
    old_pods = {p.metadata.name for p in two_ready_replicas_and_a_leader(node_cluster, core)}
    apply(custom, wrapped(apps, routes={"hostnames": ["*.allowed.example"]}))
    allowed = [f"r{n}.allowed.example" for n in range(24)]
    refused = [f"r{n}.refused.example" for n in range(4)]

    def create_routes() -> None:
        for n, name in enumerate(allowed):
            apply(custom, http_route(apps, f"allowed-{n}", [name]))
            if n % 6 == 0:
                apply(custom, http_route(apps, f"refused-{n // 6}", [refused[n // 6]]))
            time.sleep(0.4)

    creator = threading.Thread(target=create_routes)
    started = time.monotonic()
    creator.start()
    node_cluster.helm(
        "upgrade", release, str(CHART), "--namespace", SYSTEM, "--reuse-values",
        "--set=controller.logLevel=debug", "--wait", "--timeout=180s",
    )  # fmt: skip
    creator.join()
    node_cluster.timings["helm upgrade --wait (rolling 2 replicas)"] = time.monotonic() - started

    new_pods = {p.metadata.name for p in two_ready_replicas_and_a_leader(node_cluster, core)}
    assert not new_pods & old_pods, "the upgrade did not replace the Pods"
    # none lost: every allowed route has its listener, no refused one has
    eventually(lambda: set(allowed) <= hostnames(custom, apps), timeout=60)
    assert not set(refused) & hostnames(custom, apps)

    # no duplicate Events: each refusal was reported once, by whichever replica led
    def refusal_events() -> list[Any]:
        return [
            e
            for e in core.list_namespaced_event(apps).items
            if e.reason == "HostnameNotAllowed" and e.involved_object.kind == "HTTPRoute"
        ]

    eventually(lambda: len(refusal_events()) >= len(refused), timeout=60)
    time.sleep(5)  # time for a second post to show up
    events = refusal_events()
    assert sorted(e.involved_object.name for e in events) == [
        f"refused-{n}" for n in range(len(refused))
    ]
    assert all((e.count or 1) == 1 for e in events), [(e.metadata.name, e.count) for e in events]

    # no write when nothing changed: another rollout, no route changes, no Gateway write
    version = gateway(custom, apps)["metadata"]["resourceVersion"]
    node_cluster.helm(
        "upgrade", release, str(CHART), "--namespace", SYSTEM, "--reuse-values",
        "--set=controller.logLevel=info", "--wait", "--timeout=180s",
    )  # fmt: skip
    newest = {p.metadata.name for p in two_ready_replicas_and_a_leader(node_cluster, core)}
    assert not newest & new_pods
    time.sleep(5)
    assert gateway(custom, apps)["metadata"]["resourceVersion"] == version


def test_down_leaves_nothing_of_the_node_on_the_machine(
    node_cluster: NodeCluster, core: client.CoreV1Api, release: str
) -> None:
    assert controller_pods(core), "no Pod runs: nothing to clean up, the test proves nothing"
    before = local_cluster.node_traces(node_cluster.state_dir)
    for trace in ("containerd-shim", "mount", "cgroup", "link", "route", "iptables"):
        assert any(t.startswith(trace) for t in before), f"no {trace} seen while running"
    started = time.monotonic()
    local_cluster.down(node_cluster.state_dir)
    node_cluster.timings["down (drain, stop, clean the host)"] = time.monotonic() - started
    assert local_cluster.node_traces(node_cluster.state_dir) == []
    assert not node_cluster.state_dir.exists() or not any(node_cluster.state_dir.iterdir())
