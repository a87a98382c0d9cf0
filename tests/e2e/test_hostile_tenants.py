"""Hostile tenants on a shared Gateway, against the real API server (issue #8).

The worst inputs a tenant can write (a ports annotation of a hundred thousand digits, listener
name squatting, a flood of long TCP hostnames, a wildcard over another team's name) are
applied together; the Gateway must keep accepting the other tenants' changes, the API server
must accept every Gateway the controller applies, and the controller must stay ready, also
after a restart with all of it in place.
"""

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.e2e.conftest import Cluster, eventually
from tests.e2e.controller_process import REJECTED, running_controller
from tests.e2e.test_controller import apply, gateway, hostnames, http_route, status, wrapped
from wrapped_gateway.constants import MAX_LISTENER_HOSTNAMES_SIZE

pytestmark = pytest.mark.e2e

LABEL = "x" * 57
TCP_ROUTES = 70  # 16 hostnames of 250 characters each: 280 KiB of hostnames in all


@pytest.fixture
def tenants(core: client.CoreV1Api, namespace: str) -> Iterator[tuple[str, str]]:
    """Two tenant namespaces beside the platform's `namespace`."""
    names = []
    for role in ("good", "evil"):
        body = client.V1Namespace(metadata=client.V1ObjectMeta(generate_name=f"e2e-{role}-"))
        names.append(core.create_namespace(body).metadata.name)
    yield names[0], names[1]
    for name in names:
        core.delete_namespace(name)


def listener_names(custom: client.CustomObjectsApi, namespace: str) -> list[str]:
    return [item["name"] for item in gateway(custom, namespace)["spec"]["listeners"]]


def test_hostile_inputs_do_not_freeze_the_shared_gateway(
    cluster: Cluster,
    custom: client.CustomObjectsApi,
    namespace: str,
    tenants: tuple[str, str],
    tmp_path: Any,
) -> None:
    good, evil = tenants
    log = tmp_path / "controller.log"
    to_gateway = {"gateway_namespace": namespace}
    apply(custom, wrapped(namespace, routes={"namespaces": {"from": "All"}}))
    with running_controller(cluster.kubeconfig, log) as controller:
        apply(
            custom, http_route(good, "web", ["a.example.com", "*.good.example.com"], **to_gateway)
        )
        eventually(lambda: hostnames(custom, namespace) == {"a.example.com", "*.good.example.com"})
        # creationTimestamps have one-second resolution, and ties go to "namespace/name"
        time.sleep(1.1)

        attack(custom, namespace, evil)
        # the good tenant keeps adding routes, and the Gateway follows
        apply(custom, http_route(good, "more", ["c.example.com"], **to_gateway))
        eventually(lambda: "c.example.com" in hostnames(custom, namespace))
        assert_attack_contained(custom, namespace, good, evil)
        assert controller.ready()

    # a restart with every hostile object in place: start-up completes, nothing is lost
    before = set(listener_names(custom, namespace))
    with running_controller(cluster.kubeconfig, log) as restarted:
        apply(custom, http_route(good, "late", ["late.example.com"], **to_gateway))
        eventually(lambda: "late.example.com" in hostnames(custom, namespace))
        assert restarted.ready()
    assert set(listener_names(custom, namespace)) >= before
    assert REJECTED not in log.read_text(), log.read_text()


def attack(custom: client.CustomObjectsApi, platform: str, evil: str) -> None:
    """Everything the evil tenant writes, all at once."""
    to_gateway = {"gateway_namespace": platform}
    # a ports annotation of a hundred thousand digits
    apply(
        custom,
        http_route(
            evil,
            "digits",
            ["digits.example.org"],
            annotations={"wrapped-gateway.dev/ports": "9" * 100_000},
            **to_gateway,
        ),
    )
    for name, names, ports in (
        # every port from 1 to 30000 times 16 hostnames: half a million claims and refusals on
        # every reconcile if expanded
        ("flood", [f"f{i}.example.org" for i in range(16)], range(1, 30001)),
        # the most ports a route may list, 64, times 16 hostnames under the good tenant's wildcard
        ("greedy", [f"g{i}.good.example.com" for i in range(16)], range(1, 65)),
    ):
        annotations = {"wrapped-gateway.dev/ports": ",".join(map(str, ports))}
        apply(custom, http_route(evil, name, names, annotations=annotations, **to_gateway))
    # squatting the name the good tenant's next listener would get
    apply(
        custom,
        http_route(
            evil,
            "squat",
            ["squat.example.org"],
            sectionName="https-443-c.example.com",
            **to_gateway,
        ),
    )
    # a wildcard over the good tenant's name, on another port
    apply(
        custom,
        http_route(evil, "wild", ["*.example.com"], port=8443, **to_gateway),
    )
    # long TCP hostnames, 16 per route, more than the API's 256 KiB metadata limit in all
    for index in range(TCP_ROUTES):
        names = ",".join(
            f"{LABEL}.{LABEL}.{LABEL}.{LABEL}.t{index}-{n}.example.net" for n in range(16)
        )
        apply(
            custom,
            http_route(
                evil,
                f"tcp-{index}",
                [],
                kind="TCPRoute",
                annotations={
                    "wrapped-gateway.dev/ports": "5432",
                    "external-dns.kubernetes.io/hostname": names,
                },
                **to_gateway,
            ),
        )


def assert_attack_contained(
    custom: client.CustomObjectsApi, platform: str, good: str, evil: str
) -> None:
    def refusals() -> dict[str, set[str]]:
        by_route: dict[str, set[str]] = {}
        for refused in status(custom, platform).get("refusedRoutes", ()):
            by_route.setdefault(refused["name"], set()).add(refused["reason"])
        return by_route

    eventually(
        lambda: {"digits", "flood", "wild", "greedy", f"tcp-{TCP_ROUTES - 1}"} <= set(refusals()),
        timeout=60,
    )
    reasons = refusals()
    assert reasons["digits"] == reasons["flood"] == {"InvalidPorts"}
    assert reasons["wild"] == {"HostnameConflict"}
    # the first 64 keys collide with the good tenant's wildcard; the rest are never expanded
    assert reasons["greedy"] == {"HostnameConflict", "TooManyListeners"}
    assert reasons[f"tcp-{TCP_ROUTES - 1}"] == {"TooManyHostnames"}
    greedy = [
        (r["reason"], r["hostname"])
        for r in status(custom, platform)["refusedRoutes"]
        if r["name"] == "greedy"
    ]
    assert len(greedy) == len(set(greedy)) <= 32, "one refusal per (reason, hostname)"

    stored = gateway(custom, platform)
    listeners = {item["name"]: item for item in stored["spec"]["listeners"]}
    # the squatter holds the name c.example.com's listener would get; it gets another
    by_hostname = {item.get("hostname"): item for item in listeners.values()}
    assert by_hostname["c.example.com"]["name"] != "https-443-c.example.com"
    assert by_hostname["c.example.com"]["allowedRoutes"]["namespaces"]["selector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": good}
    }
    assert "*.example.com" not in by_hostname
    annotation = stored["metadata"]["annotations"]["wrapped-gateway.dev/listener-hostnames"]
    assert len(annotation.encode()) <= MAX_LISTENER_HOSTNAMES_SIZE
    assert json.loads(annotation)["tcp-5432"]
    owners = {
        item["allowedRoutes"]["namespaces"]
        .get("selector", {})
        .get("matchLabels", {})
        .get("kubernetes.io/metadata.name")
        for item in listeners.values()
    }
    assert owners == {good, evil}


def test_a_namespace_placeholder_and_a_quota_hold_each_tenant_to_its_share(
    cluster: Cluster,
    custom: client.CustomObjectsApi,
    namespace: str,
    tenants: tuple[str, str],
    tmp_path: Any,
) -> None:
    """The squatter's `*.example.com`, allowed by a broad allow-list, would take every name
    below it from every tenant; `*.{namespace}.example.com` holds it to its own. The hog's
    older routes would take every listener; `listenersPerNamespace` leaves the rest room. A
    TCPRoute on 443 would take HTTPS from everyone; `ports` keeps TCP to its range."""
    good, evil = tenants
    policy = {
        "namespaces": {"from": "All"},
        "hostnames": ["*.{namespace}.example.com"],
        "listenersPerNamespace": 1,
        "ports": {"HTTPS": [443], "TCP": ["5000-5999"]},
    }
    for refused_by_the_crd in (
        {**policy, "hostnames": ["x{namespace}.io"]},
        {**policy, "ports": {"HTTP": [80]}},
    ):
        with pytest.raises(client.ApiException) as refused:
            apply(custom, wrapped(namespace, routes=refused_by_the_crd))
        assert refused.value.status == 422, refused_by_the_crd
    apply(custom, wrapped(namespace, routes=policy))
    to_gateway = {"gateway_namespace": namespace}
    with running_controller(cluster.kubeconfig, tmp_path / "controller.log"):
        apply(custom, http_route(evil, "squat", ["*.example.com"], **to_gateway))
        apply(custom, http_route(evil, "tcp", [], kind="TCPRoute", port=443, **to_gateway))
        apply(custom, http_route(evil, "own", [f"*.{evil}.example.com"], **to_gateway))
        time.sleep(1.1)  # one-second creationTimestamps: "more" is younger than "own"
        apply(custom, http_route(evil, "more", [f"more.{evil}.example.com"], **to_gateway))
        apply(custom, http_route(good, "web", [f"web.{good}.example.com"], **to_gateway))
        eventually(
            lambda: (
                hostnames(custom, namespace) == {f"*.{evil}.example.com", f"web.{good}.example.com"}
            )
        )

        def squat_refusal() -> dict[str, Any]:
            refused = status(custom, namespace).get("refusedRoutes", [])
            found = [r for r in refused if r["name"] == "squat"]
            assert len(found) == 1, refused  # the status follows the Gateway: retried
            return found[0]

        refusal = eventually(squat_refusal)
        assert refusal["reason"] == "HostnameNotAllowed"
        assert f"*.{evil}.example.com" in refusal["message"]
        eventually(
            lambda: (
                {r["name"]: r["reason"] for r in status(custom, namespace)["refusedRoutes"]}
                == {
                    "squat": "HostnameNotAllowed",
                    "more": "TooManyListeners",
                    "tcp": "PortNotAllowed",
                }
            )
        )
