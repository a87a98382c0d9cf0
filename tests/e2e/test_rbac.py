"""The chart's RBAC is exactly what the controller needs: proven against the real API server.

The chart's ServiceAccount, ClusterRole(Binding) and leader-election Role(Binding) are rendered
with `helm template`, applied, and the controller runs with a kubeconfig holding a token for
that ServiceAccount (TokenRequest API), with the arguments and environment of the chart's
Deployment. It must pass the core scenarios without a single "forbidden"; and with any one
permission removed, it must be denied (403) a request it makes for those scenarios. The core
scenarios include ListenerSet mode (a ListenerSet created for a route, deleted with it) where the
API server serves ListenerSet (Gateway API v1.5 and later).
"""

import copy
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.e2e.conftest import Cluster, eventually
from tests.e2e.controller_process import running_controller
from tests.e2e.test_controller import apply, gateway, hostnames, http_route, status, wrapped
from tests.e2e.test_helm_chart import container, render, server_side_apply
from tests.e2e.test_listener_sets import (
    STATIC_HTTP,
    listener_set,
    listener_set_hostnames,
    listener_set_route,
    serves_listener_sets,
)

pytestmark = pytest.mark.e2e
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
# what the controller is told to do when denied something, in its log
DENIED = ("forbidden", "Forbidden", "Not enough permissions")
FAST_LEASE = {"leaseDuration": 4, "renewDeadline": 3, "retryPeriod": 0.5}

# Every permission the chart grants, as (kind of role, apiGroup, resource, verb). The chart must
# grant exactly these (test_the_chart_grants_exactly_these_permissions) and each one is needed
# (test_every_permission_is_needed).
CLUSTER = "ClusterRole"
LEASE = "Role"
GW = "gateway.networking.k8s.io"
WG = "wrapped-gateway.dev"
PERMISSIONS = [
    *[
        (CLUSTER, GW, route, verb)
        for route in ("httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes")
        for verb in ("list", "watch")
    ],
    *[(CLUSTER, GW, "gateways", verb) for verb in ("list", "watch", "create", "patch")],
    *[
        (CLUSTER, GW, "listenersets", verb)
        for verb in ("list", "watch", "create", "patch", "delete")
    ],
    (CLUSTER, WG, "wrappedgateways", "list"),
    (CLUSTER, WG, "wrappedgateways", "watch"),
    (CLUSTER, WG, "wrappedgateways/status", "patch"),
    (CLUSTER, "", "events", "create"),
    (CLUSTER, "", "namespaces", "list"),
    (CLUSTER, "", "namespaces", "watch"),
    (CLUSTER, "apiextensions.k8s.io", "customresourcedefinitions", "list"),
    (CLUSTER, "apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    (LEASE, "coordination.k8s.io", "leases", "create"),
    (LEASE, "coordination.k8s.io", "leases", "get"),
    (LEASE, "coordination.k8s.io", "leases", "update"),
]
Permission = tuple[str, str, str, str]


def granted(docs: list[dict[str, Any]]) -> set[Permission]:
    return {
        (doc["kind"], group, resource, verb)
        for doc in docs
        if doc["kind"] in (CLUSTER, LEASE)
        for rule in doc["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def without(docs: list[dict[str, Any]], permission: Permission) -> list[dict[str, Any]]:
    """The manifests with one (kind, group, resource, verb) taken out of its role."""
    kind, group, resource, verb = permission
    result = copy.deepcopy(docs)
    for doc in result:
        if doc["kind"] != kind:
            continue
        rules = []
        for rule in doc["rules"]:
            if group in rule["apiGroups"] and resource in rule["resources"]:
                others = [r for r in rule["resources"] if r != resource]
                if others:
                    rules.append({**rule, "resources": others})
                verbs = [v for v in rule["verbs"] if v != verb]
                if verbs:
                    rules.append({**rule, "resources": [resource], "verbs": verbs})
            else:
                rules.append(rule)
        doc["rules"] = rules
    assert permission not in granted(result)
    assert granted(result) == granted(docs) - {permission}
    return result


@dataclass
class Install:
    namespace: str
    kubeconfig: Path
    args: list[str]  # `wrapped-gateway run` arguments from the chart's Deployment
    env: dict[str, str]


@pytest.fixture
def install_rbac(
    cluster: Cluster,
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[list[dict[str, Any]]], Install]]:
    """Applies the chart's RBAC objects and returns a token kubeconfig for its ServiceAccount."""
    rbac = client.RbacAuthorizationV1Api(cluster.api_client)
    cluster_scoped: list[tuple[str, str]] = []

    def install(docs: list[dict[str, Any]]) -> Install:
        for doc in docs:
            if doc["kind"] in RBAC_KINDS:
                server_side_apply(cluster.api_client, doc)
                if doc["kind"].startswith("Cluster"):
                    cluster_scoped.append((doc["kind"], doc["metadata"]["name"]))
        (account,) = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
        token = core.create_namespaced_service_account_token(
            account["metadata"]["name"],
            namespace,
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
            ),
        ).status.token
        kubeconfig = tmp_path / f"sa-{len(cluster_scoped)}.kubeconfig"
        kubeconfig.write_text(token_kubeconfig(cluster.kubeconfig, token))
        main = container(docs)
        args = [
            arg
            for arg in main["args"][1:]
            if not arg.startswith(("--health-address", "--metrics-address"))
        ]
        assert main["args"][0] == "run"
        env = {}
        for item in main.get("env", ()):
            if item.get("valueFrom") == {"fieldRef": {"fieldPath": "metadata.namespace"}}:
                env[item["name"]] = namespace  # the downward API, as in the pod
            else:
                env[item["name"]] = item["value"]
        for name, value in env.items():
            monkeypatch.setenv(name, value)  # the controller process inherits it
        return Install(namespace, kubeconfig, args, env)

    yield install
    for kind, name in cluster_scoped:
        delete = (
            rbac.delete_cluster_role if kind == "ClusterRole" else rbac.delete_cluster_role_binding
        )
        try:
            delete(name)
        except client.ApiException as error:
            if error.status != 404:
                raise


def token_kubeconfig(admin_kubeconfig: Path, token: str) -> str:
    """A kubeconfig with the admin kubeconfig's server and CA, authenticating with `token`."""
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        k: v
                        for k, v in server.items()
                        if k in ("server", "certificate-authority", "certificate-authority-data")
                    },
                }
            ],
            "users": [{"name": "wrapped-gateway", "user": {"token": token}}],
            "contexts": [
                {"name": "sa", "context": {"cluster": "local", "user": "wrapped-gateway"}}
            ],
            "current-context": "sa",
        }
    )


def chart_rbac(namespace: str, **values: Any) -> list[dict[str, Any]]:
    """The chart rendered as release `namespace` (unique cluster-scoped names) in `namespace`."""
    return render(
        namespace,
        namespace,
        values={"replicaCount": 2, "leaderElection": FAST_LEASE, **values},
    )


def test_watching_one_namespace_needs_cluster_wide_reads_of_namespaces_and_crds_only(
    install_rbac: Callable[[list[dict[str, Any]]], Install],
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    """controller.watchNamespaces: the namespaced permissions come from a RoleBinding there."""
    docs = chart_rbac(namespace, controller={"watchNamespaces": [namespace]})
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] == "RoleBinding"} == {
        namespace
    }
    install = install_rbac(docs)
    assert f"--namespace={namespace}" in install.args
    with running_controller(install.kubeconfig, tmp_path / "controller.log", *install.args) as wg:
        eventually(lambda: wg.metric("wrapped_gateway_leader") == 1, timeout=15)
        run_scenario(custom, core, namespace, timeout=30)
        time.sleep(1)
    assert denied_in(wg.log_text()) is None, wg.log_text()


def denied_in(log: str, namespace: str | None = None) -> str | None:
    """The first log line saying the controller was denied something.

    With `namespace`, lines about objects in other namespaces only are left out: a cluster-wide
    controller also sees other tests' namespaces, and one being deleted refuses new objects
    with 403 Forbidden (NamespaceLifecycle admission, not RBAC). RBAC is the same in every
    namespace, so a missing permission shows up in `namespace` as well.
    """
    for line in log.splitlines():
        if not any(word in line for word in DENIED):
            continue
        named = set(_NAMESPACE_IN_LOG.findall(line))
        if namespace is None or not named or namespace in named:
            return line
    return None


# "reconcile of NS/NAME failed ...", "could not post an Event for KIND NS/NAME: ..."
_NAMESPACE_IN_LOG = re.compile(r"(?:reconcile of|Event for [A-Za-z]+) ([a-z0-9][-a-z0-9]*)/")


def test_the_chart_grants_exactly_these_permissions() -> None:
    docs = chart_rbac("infra")
    assert granted(docs) == set(PERMISSIONS)
    # nothing on routes beyond reading them
    route_verbs = {verb for _, _, resource, verb in granted(docs) if resource.endswith("routes")}
    assert route_verbs == {"list", "watch"}


def test_the_controller_does_its_job_with_the_charts_service_account(
    install_rbac: Callable[[list[dict[str, Any]]], Install],
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    install = install_rbac(chart_rbac(namespace))
    coordination = client.CoordinationV1Api(core.api_client)
    lease_name = f"{namespace}-wrapped-gateway"
    with running_controller(install.kubeconfig, tmp_path / "controller.log", *install.args) as wg:
        # leader election: the Lease is created and renewed in the release namespace
        eventually(lambda: wg.metric("wrapped_gateway_leader") == 1, timeout=15)
        first = coordination.read_namespaced_lease(lease_name, namespace).spec
        assert first.holder_identity
        eventually(
            lambda: (
                coordination.read_namespaced_lease(lease_name, namespace).spec.renew_time
                > first.renew_time
            ),
            timeout=10,
        )
        run_scenario(custom, core, namespace, timeout=30)
        # the Gateway is restored when deleted: server-side apply creates it again
        uid = gateway(custom, namespace)["metadata"]["uid"]
        custom.delete_namespaced_custom_object(GW, "v1", namespace, "gateways", "gw")
        eventually(lambda: gateway(custom, namespace)["metadata"]["uid"] != uid)
        time.sleep(1)
    # stopped: it released the Lease (update), and nothing was ever denied
    log = wg.log_text()
    assert denied_in(log, namespace) is None, log
    assert "released the leader Lease" in log


def run_scenario(
    custom: client.CustomObjectsApi,
    core: client.CoreV1Api,
    namespace: str,
    timeout: float,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Routes of every kind → listeners, status written, a refusal Event posted."""
    apply(custom, wrapped(namespace, routes={"hostnames": ["*.example.com"]}))
    routes = [
        http_route(namespace, "web", ["web.example.com"]),
        http_route(namespace, "api", ["api.example.com"], kind="GRPCRoute"),
        http_route(namespace, "tls", ["tls.example.com"], kind="TLSRoute"),
        http_route(namespace, "db", [], kind="TCPRoute", annotations=PORT_5432),
        http_route(namespace, "dns", [], kind="UDPRoute", annotations=PORT_53),
        http_route(namespace, "stray", ["stray.example.org"]),
    ]
    for route in routes:
        apply(custom, route)
    expected = {"web.example.com", "api.example.com", "tls.example.com", "TCP:5432", "UDP:53"}

    def done() -> bool:
        if stop():
            return True
        refused = {
            r["name"]: r["reason"] for r in status(custom, namespace).get("refusedRoutes", ())
        }
        events = core.list_namespaced_event(namespace).items
        return (
            hostnames(custom, namespace) == expected
            and refused == {"stray": "HostnameNotAllowed"}
            and any(
                e.involved_object.name == "stray" and e.reason == "HostnameNotAllowed"
                for e in events
            )
        )

    eventually(done, timeout=timeout)
    if not stop() and serves_listener_sets(custom.api_client):
        run_listener_set_scenario(custom, namespace, timeout, stop)


LISTENER_SET_WRAPPED = "ls"


def run_listener_set_scenario(
    custom: client.CustomObjectsApi,
    namespace: str,
    timeout: float,
    stop: Callable[[], bool],
) -> None:
    """ListenerSet mode: a route's ListenerSet is created, then deleted with its last route."""
    apply(
        custom,
        wrapped(namespace, LISTENER_SET_WRAPPED, output="ListenerSets", listeners=[STATIC_HTTP]),
    )
    route = listener_set_route(namespace, "self-service", ["ls.example.com"], LISTENER_SET_WRAPPED)
    apply(custom, route)

    def generated() -> bool:
        found = listener_set(custom, namespace, LISTENER_SET_WRAPPED)
        return found is not None and listener_set_hostnames(found["spec"]["listeners"]) == {
            "ls.example.com"
        }

    eventually(lambda: stop() or generated(), timeout=timeout)
    if stop():
        return
    custom.delete_namespaced_custom_object(GW, "v1", namespace, "httproutes", "self-service")
    eventually(
        lambda: stop() or listener_set(custom, namespace, LISTENER_SET_WRAPPED) is None,
        timeout=timeout,
    )


PORT_5432 = {"wrapped-gateway.dev/ports": "5432"}
PORT_53 = {"wrapped-gateway.dev/ports": "53"}


@pytest.mark.parametrize(
    "permission",
    PERMISSIONS,
    ids=[f"{resource.replace('/', '-')}-{verb}" for _, _, resource, verb in PERMISSIONS],
)
def test_every_permission_is_needed(
    permission: Permission,
    install_rbac: Callable[[list[dict[str, Any]]], Install],
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    """Without it the controller is denied (403) a request it makes for the core scenario."""
    if permission[2] == "listenersets" and not serves_listener_sets(core.api_client):
        pytest.skip("this API server serves no ListenerSet (Gateway API before v1.5)")
    install = install_rbac(without(chart_rbac(namespace), permission))
    custom = client.CustomObjectsApi(core.api_client)
    coordination = client.CoordinationV1Api(core.api_client)
    log = tmp_path / "controller.log"
    failure = None
    # Watching only this namespace: other tests' namespaces, being deleted, refuse new objects
    # with 403 Forbidden (NamespaceLifecycle), which would be mistaken for a denial here.
    args = [*install.args, f"--namespace={namespace}"]
    with running_controller(install.kubeconfig, log, *args, wait_ready=False) as wg:

        def told() -> bool:
            return denied_in(wg.log_text()) is not None

        try:
            eventually(lambda: wg.ready() or told() or wg.process.poll() is not None, timeout=15)
            run_scenario(custom, core, namespace, timeout=6, stop=told)

            def lease_renewed() -> bool:
                if told():
                    return True
                lease = coordination.read_namespaced_lease(
                    f"{namespace}-wrapped-gateway", namespace
                )
                return bool(lease.spec.renew_time > lease.spec.acquire_time)

            eventually(lease_renewed, timeout=3)
        except AssertionError as error:
            failure = str(error).splitlines()[0]
        wg.stop(kill=True)  # a denied start-up would make kopf linger on SIGTERM
    # Every permission's absence is reported as a denial (403) in the log; a scenario that
    # merely failed could have failed for another reason, so it does not count as proof.
    evidence = denied_in(log.read_text())
    print(f"\n{'/'.join(permission[1:])}: {evidence}")
    assert evidence, (
        f"no denial logged without {permission} (scenario: {failure or 'passed'}):\n"
        f"{log.read_text()}"
    )
