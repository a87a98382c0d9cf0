"""Fixtures for end-to-end tests against a real control plane (hack/local-cluster).

The session-scoped ``cluster`` fixture brings up etcd, kube-apiserver and
kube-controller-manager once per test run (building the binaries from Go modules on the first
run; they are cached under ``${WRAPPED_GATEWAY_CACHE:-~/.cache/wrapped-gateway}``) and stops
them at the end. Set ``WRAPPED_GATEWAY_KUBECONFIG`` to the kubeconfig of a cluster that is
already running (``hack/local-cluster up --dir /tmp/wg``) to skip start-up and tear-down while
iterating.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import local_cluster
import pytest
from kubernetes import client, config

KUBECONFIG_ENV = "WRAPPED_GATEWAY_KUBECONFIG"
GATEWAY_API_ENV = "WRAPPED_GATEWAY_GATEWAY_API"  # e.g. v1.4.1 to test the experimental channel
GW_GROUP = "gateway.networking.k8s.io"


@dataclass
class Cluster:
    kubeconfig: Path
    api_client: client.ApiClient
    configuration: client.Configuration
    state_dir: Path | None  # None when reusing a cluster we did not start

    def token_client(self, token: str) -> client.ApiClient:
        """An ApiClient that authenticates with a bearer token instead of the admin cert."""
        cfg = copy.copy(self.configuration)
        cfg.cert_file = None
        cfg.key_file = None
        cfg.api_key = {"BearerToken": f"Bearer {token}"}
        return client.ApiClient(cfg)


def client_for(kubeconfig: Path) -> tuple[client.Configuration, client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return cfg, client.ApiClient(cfg)


_TIMINGS: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show how long building (if needed) and starting the control plane took."""
    if _TIMINGS:
        terminalreporter.section("hack/local-cluster timings")
        for step, seconds in _TIMINGS.items():
            terminalreporter.write_line(f"{step}: {seconds:.1f}s")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reuse = os.environ.get(KUBECONFIG_ENV)
    if reuse:
        cfg, api = client_for(Path(reuse))
        yield Cluster(Path(reuse), api, cfg, None)
        api.close()
        return
    state_dir = tmp_path_factory.mktemp("local-cluster")
    try:
        state = local_cluster.up(
            state_dir, local_cluster.ClusterOptions(gateway_api=os.environ.get(GATEWAY_API_ENV))
        )
    except local_cluster.ClusterError as e:
        pytest.fail(f"hack/local-cluster up failed: {e}", pytrace=False)
    _TIMINGS.update(state.timings)
    try:
        cfg, api = client_for(state.kubeconfig)
        yield Cluster(state.kubeconfig, api, cfg, state_dir)
        api.close()
    finally:
        local_cluster.down(state_dir)


@pytest.fixture
def core(cluster: Cluster) -> client.CoreV1Api:
    return client.CoreV1Api(cluster.api_client)


@pytest.fixture
def custom(cluster: Cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(cluster.api_client)


@pytest.fixture
def namespace(cluster: Cluster, core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace per test, deleted (asynchronously) afterwards."""
    ns = core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(generate_name="e2e-", labels={"e2e": "true"})
        )
    )
    name: str = ns.metadata.name
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as e:
        if e.status != 404:
            raise


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Retry ``check`` until it returns a truthy value without raising; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
            failure: object = f"returned {result!r}"
        except (AssertionError, client.ApiException) as e:
            failure = e
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {failure}")
        time.sleep(interval)
