"""Which version of each route kind the controller watches, from the API server's discovery."""

from typing import Any

import pytest
from kubernetes import client
from pytest_mock import MockerFixture

from wrapped_gateway.controller.kube import KubeApi
from wrapped_gateway.routes import RouteKind

GROUP = "/apis/gateway.networking.k8s.io"


def discovery(preferred: str, kinds: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """What the API server answers for the group and each of its versions."""
    answers: dict[str, dict[str, Any]] = {
        GROUP: {
            "preferredVersion": {"version": preferred},
            "versions": [{"version": v} for v in kinds],
        }
    }
    for version, names in kinds.items():
        resources = [{"name": k.lower() + "s", "kind": k} for k in names]
        resources += [{"name": k.lower() + "s/status", "kind": k} for k in names]
        answers[f"{GROUP}/{version}"] = {"resources": resources}
    return answers


def served(mocker: MockerFixture, answers: dict[str, dict[str, Any]]) -> dict[RouteKind, str]:
    api = KubeApi(client.ApiClient())
    mocker.patch.object(api, "_get", side_effect=lambda path: answers[path])
    return api.served_route_versions()


def test_gateway_api_v1_1_grpcroute_is_watched_at_v1alpha2_where_v1_lacks_it(
    mocker: MockerFixture,
) -> None:
    """v1.0 served GRPCRoute at v1alpha2 only, while the group prefers v1."""
    answers = discovery(
        "v1",
        {
            "v1": ["HTTPRoute", "Gateway"],
            "v1beta1": ["HTTPRoute"],
            "v1alpha2": ["GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"],
        },
    )
    assert served(mocker, answers) == {
        RouteKind.HTTP: "v1",
        RouteKind.GRPC: "v1alpha2",
        RouteKind.TLS: "v1alpha2",
        RouteKind.TCP: "v1alpha2",
        RouteKind.UDP: "v1alpha2",
    }


def test_the_preferred_version_wins_where_it_serves_the_kind(mocker: MockerFixture) -> None:
    answers = discovery(
        "v1",
        {"v1": ["HTTPRoute", "GRPCRoute", "TLSRoute"], "v1alpha2": ["GRPCRoute", "TLSRoute"]},
    )
    assert served(mocker, answers) == {
        RouteKind.HTTP: "v1",
        RouteKind.GRPC: "v1",
        RouteKind.TLS: "v1",
    }


def test_without_the_gateway_api_nothing_is_watched(mocker: MockerFixture) -> None:
    api = KubeApi(client.ApiClient())
    mocker.patch.object(api, "_get", side_effect=client.ApiException(status=404))
    assert api.served_route_versions() == {}


def test_other_errors_are_not_taken_for_a_missing_gateway_api(mocker: MockerFixture) -> None:
    api = KubeApi(client.ApiClient())
    mocker.patch.object(api, "_get", side_effect=client.ApiException(status=503))
    with pytest.raises(client.ApiException):
        api.served_route_versions()
