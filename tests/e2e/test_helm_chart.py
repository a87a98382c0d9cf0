"""The Helm chart: lint, template, and the rendered manifests accepted by a real API server.

Helm is built from its Go module by hack/local-cluster (pinned in hack/versions.json, cached).
"""

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import local_cluster
import pytest
import yaml
from kubernetes import client

from tests.e2e.conftest import Cluster
from wrapped_gateway.controller.kube import json_object

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "wrapped-gateway"
APPLY = "application/apply-patch+yaml"
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}


def helm_binary() -> Path:
    return local_cluster.ensure_binaries("helm")["helm"]


def helm(*args: str) -> str:
    result = subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def render(
    release: str = "wg",
    namespace: str = "infra",
    *options: str,
    values: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """`helm template` of the chart; `options` are more helm flags (--set, --api-versions...)."""
    sets = [f"--set-json={key}={_json(value)}" for key, value in (values or {}).items()]
    out = helm("template", release, str(CHART), "--namespace", namespace, *sets, *options)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _json(value: Any) -> str:
    return json.dumps(value)


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in docs if doc["kind"] == kind]
    return found


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(doc["kind"] for doc in docs)


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = found
    return result


def server_side_apply(
    api_client: client.ApiClient, obj: dict[str, Any], *, dry_run: bool = False
) -> dict[str, Any]:
    """Server-side apply any manifest as the admin (plural = lowercase kind + s)."""
    api_version, kind = obj["apiVersion"], obj["kind"]
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    namespace = obj["metadata"].get("namespace")
    scope = "" if kind in CLUSTER_SCOPED else f"/namespaces/{namespace}"
    path = f"{prefix}{scope}/{kind.lower()}s/{obj['metadata']['name']}"
    query = [("fieldManager", "e2e-helm"), ("force", "true")]
    if dry_run:
        query.append(("dryRun", "All"))
    request = api_client.param_serialize(
        "PATCH",
        path,
        query_params=query,
        header_params={"Content-Type": APPLY, "Accept": "application/json"},
        body=obj,
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(*request)
    response.read()
    stored = api_client.response_deserialize(response, {"200": "object", "201": "object"})
    return json_object(stored.data)


def test_helm_lint_passes_strict() -> None:
    out = helm("lint", str(CHART), "--strict")
    assert "0 chart(s) failed" in out
    helm("lint", str(CHART), "--strict", "--set", "replicaCount=3")


def test_the_default_rendering() -> None:
    docs = render()
    assert kinds(docs) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    args = container(docs)["args"]
    assert "--leader-election" not in args
    assert not any(arg.startswith("--namespace") for arg in args)
    # what `docker build -t wrapped-gateway:0.1.0 .` (README) makes: no registry has the image
    assert container(docs)["image"] == "wrapped-gateway:0.1.0"


def test_rendered_manifests_are_accepted_by_the_api_server(
    cluster: Cluster, namespace: str
) -> None:
    """Every rendered object, CRD included, passes a server-side dry-run apply."""
    for values in (
        {},
        {"replicaCount": 2, "podDisruptionBudget": {"enabled": True}},
        {"controller": {"watchNamespaces": [namespace]}},
    ):
        docs = render(namespace, namespace, "--include-crds", values=values)
        assert "CustomResourceDefinition" in kinds(docs)
        for doc in docs:
            stored = server_side_apply(cluster.api_client, doc, dry_run=True)
            assert stored["kind"] == doc["kind"], stored
    # dry-run created nothing
    assert not client.AppsV1Api(cluster.api_client).list_namespaced_deployment(namespace).items


def test_more_than_one_replica_turns_on_leader_election() -> None:
    docs = render("wg", "infra", values={"replicaCount": 2})
    args = container(docs)["args"]
    assert "--leader-election" in args
    assert "--lease-name=wg-wrapped-gateway" in args
    env = {item["name"]: item for item in container(docs)["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    role = only(docs, "Role")
    assert role["metadata"]["namespace"] == "infra"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["wg-wrapped-gateway"],
            "verbs": ["get", "update"],
        },
    ]
    binding = only(docs, "RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "wg-wrapped-gateway", "namespace": "infra"}
    ]
    # one replica: no Lease, no Role; unless asked for
    assert "Role" not in kinds(render())
    assert (
        "--leader-election"
        in container(render(values={"leaderElection": {"enabled": True}}))["args"]
    )


def test_pod_disruption_budget_is_opt_in() -> None:
    assert "PodDisruptionBudget" not in kinds(render())
    pdb = only(render(values={"podDisruptionBudget": {"enabled": True}}), "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "wrapped-gateway",
        "app.kubernetes.io/instance": "wg",
    }
    pdb = only(
        render(values={"podDisruptionBudget": {"enabled": True, "minAvailable": 1}}),
        "PodDisruptionBudget",
    )
    assert pdb["spec"] == {"minAvailable": 1, "selector": pdb["spec"]["selector"]}


def test_service_monitor_needs_opt_in_and_the_prometheus_operator_api() -> None:
    enabled = {"metrics": {"serviceMonitor": {"enabled": True}}}
    monitoring = "--api-versions=monitoring.coreos.com/v1"
    assert "ServiceMonitor" not in kinds(render("wg", "infra", monitoring))
    assert "ServiceMonitor" not in kinds(render(values=enabled))  # API absent
    monitor = only(render("wg", "infra", monitoring, values=enabled), "ServiceMonitor")
    service = only(render(), "Service")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]


def test_the_deployment_is_locked_down() -> None:
    docs = render()
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    main = container(docs)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == pod["securityContext"]["runAsUser"] == 65532
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert "--health-address=:8081" in main["args"]
    assert "--metrics-address=:8080" in main["args"]
    assert pod["serviceAccountName"] == only(docs, "ServiceAccount")["metadata"]["name"]


def test_values_reach_the_controller_flags() -> None:
    docs = render(
        values={
            "controller": {
                "watchNamespaces": ["a", "b"],
                "logLevel": "debug",
                "logFormat": "text",
            },
            "image": {"tag": "9.9.9", "repository": "example.com/wg"},
        }
    )
    args = container(docs)["args"]
    assert {"--namespace=a", "--namespace=b", "--log-level=debug", "--log-format=text"} <= set(args)
    assert container(docs)["image"] == "example.com/wg:9.9.9"
    # watching some namespaces: namespaced permissions only there
    bindings = [doc for doc in docs if doc["kind"] == "RoleBinding"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a", "b"]
    assert {b["roleRef"]["name"] for b in bindings} == {"wg-wrapped-gateway-namespaced"}
    cluster_wide = next(
        doc
        for doc in docs
        if doc["kind"] == "ClusterRole" and doc["metadata"]["name"] == "wg-wrapped-gateway"
    )
    assert {r for rule in cluster_wide["rules"] for r in rule["resources"]} == {
        "namespaces",
        "customresourcedefinitions",
    }


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": 0},
        {"controller": {"logLevel": "verbose"}},
        {"controller": {"logFormat": "xml"}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"unknownKey": True},
    ],
    ids=["replicas", "log-level", "log-format", "pull-policy", "unknown-key"],
)
def test_the_values_schema_refuses_nonsense(values: dict[str, Any]) -> None:
    key, value = next(iter(values.items()))
    result = subprocess.run(
        [
            str(helm_binary()),
            "template",
            "wg",
            str(CHART),
            f"--set-json={key}={_json(value)}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "schema" in result.stderr.lower(), result.stderr


def test_the_container_runs_the_images_entrypoint_with_run() -> None:
    """The chart sets only args; the image's ENTRYPOINT is `wrapped-gateway`, CMD `run`."""
    dockerfile = (REPO / "Dockerfile").read_text()
    entrypoint = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", dockerfile, re.MULTILINE)
    cmd = re.search(r"^CMD\s+(\[.*\])\s*$", dockerfile, re.MULTILINE)
    assert entrypoint
    assert cmd
    assert yaml.safe_load(entrypoint.group(1)) == ["wrapped-gateway"]
    assert yaml.safe_load(cmd.group(1)) == ["run"]
    main = container(render())
    assert "command" not in main  # keep the image's ENTRYPOINT
    assert main["args"][0] == "run"


def test_the_pod_passes_the_restricted_pod_security_standard(
    cluster: Cluster, core: client.CoreV1Api, namespace: str
) -> None:
    """The API server's PodSecurity admission, enforcing `restricted`, admits the chart's pod."""
    core.patch_namespace(
        namespace, {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    docs = render(namespace, namespace)
    server_side_apply(cluster.api_client, only(docs, "ServiceAccount"))  # admission looks it up
    template = only(docs, "Deployment")["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "wg",
            "namespace": namespace,
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
    }
    server_side_apply(cluster.api_client, pod, dry_run=True)
    # and the check has teeth: without the container securityContext it is refused
    loose = copy.deepcopy(pod)
    del loose["spec"]["containers"][0]["securityContext"]
    with pytest.raises(client.ApiException) as refused:
        server_side_apply(cluster.api_client, loose, dry_run=True)
    assert "PodSecurity" in str(refused.value.body)


def test_dns_endpoints_are_written_only_when_the_chart_allows_it() -> None:
    def dns_endpoint_verbs(docs: list[dict[str, Any]]) -> set[str]:
        return {
            verb
            for doc in docs
            if doc["kind"] == "ClusterRole"
            for rule in doc["rules"]
            if "dnsendpoints" in rule["resources"]
            for verb in rule["verbs"]
        }

    assert dns_endpoint_verbs(render()) == set()
    enabled = render(values={"rbac": {"dnsEndpoints": True}})
    assert dns_endpoint_verbs(enabled) == {"create", "patch", "delete"}
