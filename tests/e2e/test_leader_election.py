"""Two replicas with --leader-election: exactly one acts; when it dies, the other takes over,
and a replica that has not caught up yet never acts."""

import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.e2e.conftest import Cluster, eventually
from tests.e2e.controller_process import running_controller
from tests.e2e.test_controller import apply, hostnames, http_route, wrapped

pytestmark = pytest.mark.e2e


def test_one_replica_acts_and_a_standby_takes_over(
    cluster: Cluster,
    custom: client.CustomObjectsApi,
    coordination: client.CoordinationV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    lease = lease_flags(namespace, retry_period=0.5)
    with (
        running_controller(cluster.kubeconfig, tmp_path / "a.log", *lease) as first,
        running_controller(cluster.kubeconfig, tmp_path / "b.log", *lease) as second,
    ):
        eventually(
            lambda: (
                first.metric("wrapped_gateway_leader") + second.metric("wrapped_gateway_leader")
                == 1
            )
        )
        leader, standby = (
            (first, second) if first.metric("wrapped_gateway_leader") else (second, first)
        )
        holder = coordination.read_namespaced_lease(
            "wrapped-gateway", namespace
        ).spec.holder_identity
        assert holder

        apply(custom, wrapped(namespace))
        apply(custom, http_route(namespace, "a", ["a.example.com"]))
        eventually(lambda: hostnames(custom, namespace) == {"a.example.com"})
        assert leader.metric("wrapped_gateway_applies_total") >= 1
        assert standby.metric("wrapped_gateway_applies_total") == 0

        leader.stop(kill=True)  # no chance to release the Lease
        killed_at = time.monotonic()
        eventually(lambda: standby.metric("wrapped_gateway_leader") == 1, timeout=20)
        assert time.monotonic() - killed_at < 10
        new_holder = coordination.read_namespaced_lease(
            "wrapped-gateway", namespace
        ).spec.holder_identity
        assert new_holder != holder

        apply(custom, http_route(namespace, "b", ["b.example.com"]))
        eventually(lambda: hostnames(custom, namespace) == {"a.example.com", "b.example.com"})
        assert standby.metric("wrapped_gateway_applies_total") >= 1


def test_a_replica_takes_the_lease_only_once_it_is_ready(
    cluster: Cluster, custom: client.CustomObjectsApi, namespace: str, tmp_path: Path
) -> None:
    """The leader stops (releasing its Lease) as a new replica starts, as when both are
    replaced at once: the new one may take the free Lease at its first attempt, yet it must
    not act until it is ready, and a change made while nobody acts is not lost."""
    lease = lease_flags(namespace, retry_period=0.2)
    apply(custom, wrapped(namespace))
    # Objects for the new replica to index and for kopf to hand over: its time unready.
    for number in range(150):
        apply(custom, http_route(namespace, f"r{number}", [f"h{number % 5}.example.com"]))
    every = {f"h{n}.example.com" for n in range(5)}
    with running_controller(cluster.kubeconfig, tmp_path / "old.log", *lease) as old:
        eventually(lambda: old.metric("wrapped_gateway_leader") == 1)
        eventually(lambda: hostnames(custom, namespace) == every)
        old.stop()  # SIGTERM: it releases the Lease on the way out
    with running_controller(
        cluster.kubeconfig, tmp_path / "new.log", *lease, wait_ready=False
    ) as new:
        apply(custom, http_route(namespace, "late", ["late.example.com"]))  # nobody acts now
        unready_samples = 0
        deadline = time.monotonic() + 60
        while True:
            try:
                # The metrics are read before /readyz: readiness never goes back, so a sample
                # that was unready at /readyz was unready when the metrics were read too.
                leading = new.metric("wrapped_gateway_leader")
                applies = new.metric("wrapped_gateway_applies_total")
            except OSError:
                assert new.process.poll() is None, new.log_text()
                assert time.monotonic() < deadline, "its endpoints never came up"
                time.sleep(0.02)
                continue  # its endpoints are not up yet
            if new.ready():
                break
            unready_samples += 1
            assert (leading, applies) == (0, 0), "acted before it was ready"
            assert time.monotonic() < deadline, f"never ready:\n{new.log_text()}"
        assert unready_samples > 0, "never seen unready: the test proves nothing"
        eventually(lambda: new.metric("wrapped_gateway_leader") == 1, timeout=10)
        eventually(lambda: hostnames(custom, namespace) == every | {"late.example.com"})
        assert new.metric("wrapped_gateway_applies_total") >= 1


def lease_flags(namespace: str, retry_period: float) -> list[str]:
    """Replicas competing for a Lease in `namespace` that expires 4 s after its last renewal."""
    return [
        "--leader-election",
        "--leader-election-namespace", namespace,
        "--lease-name", "wrapped-gateway",
        "--lease-duration", "4",
        "--renew-deadline", "3",
        "--retry-period", str(retry_period),
        "--namespace", namespace,
    ]  # fmt: skip


@pytest.fixture
def coordination(cluster: Cluster) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(cluster.api_client)
