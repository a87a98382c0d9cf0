"""Smoke tests proving the local control plane is a real one.

Every assertion here is about what kube-apiserver / kube-controller-manager do: CRD schema and
CEL validation of the Gateway API, server-side apply field ownership, garbage collection,
namespace finalization, watches with resourceVersions, TokenRequest and RBAC.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import local_cluster
import pytest
from kubernetes import client, watch

from .conftest import GATEWAY_API_ENV, GW_GROUP, KUBECONFIG_ENV, Cluster, eventually

pytestmark = pytest.mark.e2e

APPLY = "application/apply-patch+yaml"


def gateway(name: str, listeners: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GW_GROUP}/v1",
        "kind": "Gateway",
        "metadata": {"name": name},
        "spec": {"gatewayClassName": "e2e", "listeners": listeners},
    }


def http_listener(i: int) -> dict[str, Any]:
    return {"name": f"l{i}", "port": 8000 + i, "protocol": "HTTP", "hostname": f"h{i}.example.com"}


def create_gateway(custom: client.CustomObjectsApi, ns: str, gw: dict[str, Any]) -> Any:
    return custom.create_namespaced_custom_object(GW_GROUP, "v1", ns, "gateways", gw)


def rejected(custom: client.CustomObjectsApi, ns: str, gw: dict[str, Any]) -> str:
    """Create the Gateway, expect HTTP 422 from the API server, return its message."""
    with pytest.raises(client.ApiException) as err:
        create_gateway(custom, ns, gw)
    assert err.value.status == 422, err.value.body
    return str(err.value.body)


def test_gateway_listener_limit_is_64(custom: client.CustomObjectsApi, namespace: str) -> None:
    create_gateway(custom, namespace, gateway("max", [http_listener(i) for i in range(64)]))
    body = rejected(custom, namespace, gateway("too-many", [http_listener(i) for i in range(65)]))
    assert "spec.listeners" in body
    assert "must have at most 64 items" in body


def test_tcp_listener_with_hostname_is_rejected(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    body = rejected(
        custom,
        namespace,
        gateway(
            "tcp", [{"name": "tcp", "port": 5432, "protocol": "TCP", "hostname": "db.example.com"}]
        ),
    )
    assert "hostname must not be specified for protocols ['TCP', 'UDP']" in body
    # the same listener without a hostname is fine
    create_gateway(
        custom, namespace, gateway("tcp", [{"name": "tcp", "port": 5432, "protocol": "TCP"}])
    )


def test_duplicate_listener_names_are_rejected(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    body = rejected(
        custom,
        namespace,
        gateway(
            "dup",
            [
                {"name": "web", "port": 80, "protocol": "HTTP"},
                {"name": "web", "port": 81, "protocol": "HTTP"},
            ],
        ),
    )
    assert "Duplicate value" in body or "Listener name must be unique" in body


def _apply(
    custom: client.CustomObjectsApi,
    ns: str,
    gw: dict[str, Any],
    manager: str,
    *,
    force: bool = False,
) -> dict[str, Any]:
    custom.patch_namespaced_custom_object(
        GW_GROUP,
        "v1",
        ns,
        "gateways",
        gw["metadata"]["name"],
        gw,
        field_manager=manager,
        force=force,
        _content_type=APPLY,
    )
    # (the generated client drops the body of a 201 Created, so read the object back)
    obj: dict[str, Any] = custom.get_namespaced_custom_object(
        GW_GROUP, "v1", ns, "gateways", gw["metadata"]["name"]
    )
    return obj


def test_server_side_apply_conflict_on_a_listener_field(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    _apply(
        custom,
        namespace,
        gateway("ssa", [{"name": "web", "port": 80, "protocol": "HTTP"}]),
        "alice",
    )
    bobs = gateway("ssa", [{"name": "web", "port": 8080, "protocol": "HTTP"}])
    with pytest.raises(client.ApiException) as err:
        _apply(custom, namespace, bobs, "bob")
    assert err.value.status == 409, err.value.body
    assert 'conflict with \\"alice\\": .spec.listeners[name=\\"web\\"].port' in err.value.body

    obj = _apply(custom, namespace, bobs, "bob", force=True)
    assert obj["spec"]["listeners"][0]["port"] == 8080
    owners = {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}
    assert '{"name":"web"}' in str(owners["bob"]) or "web" in str(owners["bob"])
    assert "f:port" in str(owners["bob"])
    assert "f:port" not in str(owners.get("alice", {}))


def _configmap(name: str, owner: dict[str, Any] | None = None) -> client.V1ConfigMap:
    refs = None
    if owner is not None:
        refs = [
            client.V1OwnerReference(
                api_version=owner["apiVersion"],
                kind=owner["kind"],
                name=owner["name"],
                uid=owner["uid"],
            )
        ]
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, owner_references=refs), data={"k": "v"}
    )


def _gone(read: Any, *args: Any) -> bool:
    try:
        read(*args)
    except client.ApiException as e:
        if e.status == 404:
            return True
        raise
    return False


def test_garbage_collector_deletes_dependents(
    core: client.CoreV1Api, custom: client.CustomObjectsApi, namespace: str
) -> None:
    owner_cm = core.create_namespaced_config_map(namespace, _configmap("owner"))
    core.create_namespaced_config_map(
        namespace,
        _configmap(
            "cm-dependent",
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": "owner",
                "uid": owner_cm.metadata.uid,
            },
        ),
    )
    gw = create_gateway(custom, namespace, gateway("owner", [http_listener(1)]))
    core.create_namespaced_config_map(
        namespace,
        _configmap(
            "gw-dependent",
            {
                "apiVersion": f"{GW_GROUP}/v1",
                "kind": "Gateway",
                "name": "owner",
                "uid": gw["metadata"]["uid"],
            },
        ),
    )
    core.create_namespaced_config_map(namespace, _configmap("bystander"))

    core.delete_namespaced_config_map("owner", namespace)
    custom.delete_namespaced_custom_object(GW_GROUP, "v1", namespace, "gateways", "owner")

    eventually(lambda: _gone(core.read_namespaced_config_map, "cm-dependent", namespace))
    eventually(lambda: _gone(core.read_namespaced_config_map, "gw-dependent", namespace))
    assert core.read_namespaced_config_map("bystander", namespace).data == {"k": "v"}


def test_namespace_deletion_is_finalized(
    core: client.CoreV1Api, custom: client.CustomObjectsApi
) -> None:
    ns = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(generate_name="e2e-doomed-"))
    ).metadata.name
    create_gateway(custom, ns, gateway("gw", [http_listener(1)]))
    core.create_namespaced_config_map(ns, _configmap("cm"))
    core.delete_namespace(ns)
    # the namespace controller must empty the namespace, including custom resources
    eventually(lambda: _gone(core.read_namespace, ns), timeout=60)


def test_watch_sees_a_change(custom: client.CustomObjectsApi, namespace: str) -> None:
    created = create_gateway(custom, namespace, gateway("watched", [http_listener(1)]))
    rv = created["metadata"]["resourceVersion"]
    seen: list[dict[str, Any]] = []
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(
            custom.list_namespaced_custom_object,
            GW_GROUP,
            "v1",
            namespace,
            "gateways",
            resource_version=rv,
            timeout_seconds=20,
        ):
            seen.append(event)
            if event["type"] == "MODIFIED":
                w.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    custom.patch_namespaced_custom_object(
        GW_GROUP,
        "v1",
        namespace,
        "gateways",
        "watched",
        {"metadata": {"labels": {"changed": "yes"}}},
    )
    thread.join(timeout=25)
    assert not thread.is_alive(), f"no MODIFIED event within the timeout; saw {seen}"
    event = seen[-1]
    assert event["type"] == "MODIFIED"
    assert event["object"]["metadata"]["labels"] == {"changed": "yes"}
    assert int(event["object"]["metadata"]["resourceVersion"]) > int(rv)


def test_serviceaccount_token_and_rbac(
    cluster: Cluster, core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="robot"))
    )
    token = core.create_namespaced_service_account_token(
        "robot",
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    ).status.token
    robot = cluster.token_client(token)
    try:
        review = client.AuthenticationV1Api(robot).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
        assert review.status.user_info.username == f"system:serviceaccount:{namespace}:robot"

        robot_core = client.CoreV1Api(robot)
        with pytest.raises(client.ApiException) as err:
            robot_core.list_namespaced_config_map(namespace)
        assert err.value.status == 403, err.value.body

        rbac = client.RbacAuthorizationV1Api(cluster.api_client)
        rbac.create_namespaced_role(
            namespace,
            client.V1Role(
                metadata=client.V1ObjectMeta(name="read-configmaps"),
                rules=[
                    client.V1PolicyRule(
                        api_groups=[""], resources=["configmaps"], verbs=["get", "list"]
                    )
                ],
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="robot-reads-configmaps"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="Role", name="read-configmaps"
                ),
                subjects=[
                    client.RbacV1Subject(kind="ServiceAccount", name="robot", namespace=namespace)
                ],
            ),
        )
        eventually(lambda: robot_core.list_namespaced_config_map(namespace) is not None)
        # still only what the Role grants
        with pytest.raises(client.ApiException) as err:
            robot_core.create_namespaced_config_map(namespace, _configmap("nope"))
        assert err.value.status == 403
    finally:
        robot.close()


def test_controller_manager_creates_default_serviceaccount(
    core: client.CoreV1Api, namespace: str
) -> None:
    eventually(lambda: core.read_namespaced_service_account("default", namespace))


@pytest.mark.skipif(
    bool(os.environ.get(KUBECONFIG_ENV)),
    reason="reusing a cluster whose Gateway API release is unknown",
)
def test_pinned_gateway_api_release_and_channel(cluster: Cluster) -> None:
    versions = local_cluster.load_versions()["gateway_api"]
    release = os.environ.get(GATEWAY_API_ENV) or versions["default"]
    channel = versions["releases"][release]["channel"]
    ext = client.ApiextensionsV1Api(cluster.api_client)
    crd = ext.read_custom_resource_definition(f"gateways.{GW_GROUP}")
    assert crd.metadata.annotations["gateway.networking.k8s.io/bundle-version"] == release
    assert crd.metadata.annotations["gateway.networking.k8s.io/channel"] == channel
    tls = ext.read_custom_resource_definition(f"tlsroutes.{GW_GROUP}")
    served = {v.name for v in tls.spec.versions if v.served}
    if release == "v1.4.1":  # experimental channel: TLSRoute only as v1alpha2 there
        assert "v1alpha2" in served
        assert "v1" not in served
