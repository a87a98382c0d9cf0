"""Two replicas with --leader-election: exactly one acts; when it dies, the other takes over."""

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
    lease = [
        "--leader-election",
        "--leader-election-namespace", namespace,
        "--lease-name", "wrapped-gateway",
        "--lease-duration", "4",
        "--renew-deadline", "3",
        "--retry-period", "0.5",
        "--namespace", namespace,
    ]  # fmt: skip
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


@pytest.fixture
def coordination(cluster: Cluster) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(cluster.api_client)
