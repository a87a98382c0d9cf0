"""What the benchmarks that run against a control plane share: the local one or a given one,
an API client for it, namespaces, and waiting for a condition."""

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kubernetes import client, config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))
import local_cluster  # noqa: E402 - lives in hack/, put on the path just above


@contextlib.contextmanager
def cluster(kubeconfig: Path | None, scratch: Path) -> Iterator[Path]:
    """The kubeconfig of the cluster given, or of a local control plane started in `scratch`
    (hack/local-cluster, built binaries from the cache) and stopped on the way out."""
    if kubeconfig is not None:
        yield kubeconfig
        return
    state = local_cluster.up(scratch / "cluster")
    try:
        yield state.kubeconfig
    finally:
        local_cluster.down(scratch / "cluster")


def api_client(kubeconfig: Path, threads: int) -> client.ApiClient:
    """A client with a connection for each of `threads` client threads."""
    configuration = client.Configuration()
    # kubernetes.config has no annotations (the generated kubernetes.client has)
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = threads
    return client.ApiClient(configuration)


def create_namespace(api: client.ApiClient, prefix: str) -> str:
    """A new namespace named by the API server after `prefix`; returns its name."""
    created = client.CoreV1Api(api).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name=prefix))
    )
    if created.metadata is None or not created.metadata.name:
        raise RuntimeError(f"the API server named no namespace for {prefix!r}")
    return created.metadata.name


def namespace_exists(api: client.ApiClient, namespace: str) -> bool:
    try:
        client.CoreV1Api(api).read_namespace(namespace)
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} s")
        time.sleep(0.2)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
