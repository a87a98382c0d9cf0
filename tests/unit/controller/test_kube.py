"""KubeApi: which version of each route kind the controller watches, from the API server's
discovery; and what its writes send."""

import json
from typing import Any
from unittest.mock import MagicMock

import pytest
import urllib3
from kubernetes import client
from pytest_mock import MockerFixture

from wrapped_gateway.constants import FIELD_MANAGER
from wrapped_gateway.controller.kube import METADATA_ONLY, KubeApi
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


def test_a_list_page_asks_for_the_page_after_its_token_and_may_ask_for_metadata_alone(
    mocker: MockerFixture,
) -> None:
    page = {"items": [{"metadata": {"name": "r1"}}], "metadata": {"continue": "next"}}
    api, sent = answering(mocker, 200, page)
    resource = ("gateway.networking.k8s.io", "v1", "httproutes")
    assert api.list_page(resource, "team", "abc", metadata_only=True) == page
    (method, url), options = sent.call_args
    assert (method, url) == (
        "GET",
        "https://api.test/apis/gateway.networking.k8s.io/v1/namespaces/team/httproutes"
        "?limit=500&continue=abc",
    )
    assert options["headers"]["Accept"] == METADATA_ONLY
    api.list_page(("", "v1", "namespaces"), None, None, metadata_only=False)
    (method, url), options = sent.call_args
    assert url == "https://api.test/api/v1/namespaces?limit=500"
    assert "Accept" not in options["headers"]
    api.list_page(resource, None, None, metadata_only=False)  # every namespace
    (method, url), _ = sent.call_args
    assert url == "https://api.test/apis/gateway.networking.k8s.io/v1/httproutes?limit=500"


def test_a_gateway_is_a_forced_server_side_apply_of_the_manifest_as_it_is(
    mocker: MockerFixture,
) -> None:
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "infra", "annotations": {"a": "b"}},
        "spec": {"gatewayClassName": "traefik", "listeners": [{"name": "h", "port": 443}]},
    }
    api, sent = answering(mocker, 200, gateway)
    api.apply(gateway)
    (method, url), options = sent.call_args
    assert method == "PATCH"
    assert url == (
        "https://api.test/apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/edge"
        f"?fieldManager={FIELD_MANAGER}&force=true"
    )
    assert options["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert json.loads(options["body"]) == gateway


def test_an_event_is_posted_with_every_field_it_was_given(mocker: MockerFixture) -> None:
    """The client makes its model of the Event of the dict; nothing may be lost on the way."""
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "r.0123456789abcdef", "namespace": "team-a"},
        "involvedObject": {"kind": "HTTPRoute", "namespace": "team-a", "name": "r", "uid": "u"},
        "type": "Warning",
        "reason": "HostnameConflict",
        "message": "taken",
        "source": {"component": "wrapped-gateway"},
        "reportingComponent": "wrapped-gateway",
        "reportingInstance": "wrapped-gateway",
        "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": "2026-01-02T03:04:05Z",
        "count": 1,
    }
    api, sent = answering(mocker, 201, event)
    api.create_event(event)
    (method, url), options = sent.call_args
    assert (method, url) == ("POST", "https://api.test/api/v1/namespaces/team-a/events")
    posted = json.loads(options["body"])
    stamps = {"firstTimestamp", "lastTimestamp"}
    assert {k: v for k, v in posted.items() if k not in stamps} == {
        k: v for k, v in event.items() if k not in stamps
    }
    # the same instant, written by the client as datetime.isoformat() does
    assert {posted[k] for k in stamps} == {"2026-01-02T03:04:05+00:00"}
