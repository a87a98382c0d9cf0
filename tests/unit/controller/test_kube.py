"""Which version of each route kind the controller watches, from the API server's discovery."""

import json
from typing import Any
from unittest.mock import MagicMock

import pytest
import urllib3
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


def answering(
    mocker: MockerFixture, status: int, body: dict[str, Any]
) -> tuple[KubeApi, MagicMock]:
    """A KubeApi whose every HTTP request gets `status` and `body`; and the requests sent."""
    configuration = client.Configuration(host="https://api.test")
    configuration.api_key = {"BearerToken": "Bearer t0ken"}  # as kubeconfig loading stores it
    api_client = client.ApiClient(configuration)
    answer = urllib3.HTTPResponse(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
        preload_content=False,
    )
    sent = mocker.patch.object(api_client.rest_client.pool_manager, "request", return_value=answer)
    return KubeApi(api_client), sent


def test_a_discovery_document_is_an_authenticated_get_of_its_path(mocker: MockerFixture) -> None:
    """Through the client's own request path, not a mock of `_get`: the client's API for a
    raw call changed in 37, and only the start-up against an API server showed it."""
    document = {"kind": "APIGroup", "preferredVersion": {"version": "v1"}}
    api, sent = answering(mocker, 200, document)
    assert api._get(GROUP) == document
    (method, url), options = sent.call_args
    assert (method, url) == ("GET", f"https://api.test{GROUP}")
    assert options["headers"]["authorization"] == "Bearer t0ken"


def test_a_discovery_document_not_served_raises_the_api_servers_status(
    mocker: MockerFixture,
) -> None:
    api, _ = answering(mocker, 404, {"kind": "Status", "code": 404})
    with pytest.raises(client.ApiException) as raised:
        api._get(GROUP)
    assert raised.value.status == 404
