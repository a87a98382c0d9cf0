"""Every call the controller makes to the API server, and nothing else."""

from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client

from wrapped_gateway.constants import (
    DNS_ENDPOINT_GROUP,
    DNS_ENDPOINT_PLURAL,
    DNS_ENDPOINT_VERSION,
    FIELD_MANAGER,
    GATEWAY_GROUP,
    GATEWAY_KIND,
    LISTENER_SET_KIND,
    LISTENER_SET_PLURAL,
    WRAPPED_API_VERSION,
    WRAPPED_GROUP,
    WRAPPED_KIND,
    WRAPPED_PLURAL,
    WRAPPED_VERSION,
    Resource,
)
from wrapped_gateway.routes import RouteKind
from wrapped_gateway.routes.parse import versions_to_watch

APPLY_PATCH = "application/apply-patch+yaml"
# Each object of a LIST as its metadata alone: what re-listings and Namespaces need. Whole
# objects (which hold the metadata too) from a server that cannot, rather than a 406.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
LIST_PAGE = 500  # objects per LIST request, as client-go's informers ask for
GENERATED_PLURALS = {GATEWAY_KIND: "gateways", LISTENER_SET_KIND: LISTENER_SET_PLURAL}
PLURALS: dict[RouteKind, str] = {kind: kind.value.lower() + "s" for kind in RouteKind}


class KubeApi:
    def __init__(self, api_client: client.ApiClient, field_manager: str = FIELD_MANAGER) -> None:
        self.api_client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._field_manager = field_manager

    def apply(self, generated: dict[str, Any]) -> None:
        """Server-side apply of a generated Gateway or ListenerSet; the watch brings the
        stored object."""
        self._apply((GATEWAY_GROUP, "v1", GENERATED_PLURALS[generated["kind"]]), generated)

    def apply_dns_endpoint(self, manifest: dict[str, Any]) -> None:
        """Server-side apply of a WrappedGateway's DNSEndpoint."""
        self._apply((DNS_ENDPOINT_GROUP, DNS_ENDPOINT_VERSION, DNS_ENDPOINT_PLURAL), manifest)

    def delete_dns_endpoint(self, namespace: str, name: str) -> None:
        """Delete a WrappedGateway's DNSEndpoint; one already gone is fine."""
        try:
            self._custom.delete_namespaced_custom_object(
                DNS_ENDPOINT_GROUP, DNS_ENDPOINT_VERSION, namespace, DNS_ENDPOINT_PLURAL, name
            )
        except client.ApiException as error:
            if error.status != 404:
                raise

    def delete_listener_set(self, namespace: str, name: str) -> None:
        """Delete a ListenerSet; one already gone is fine."""
        try:
            self._custom.delete_namespaced_custom_object(
                GATEWAY_GROUP, "v1", namespace, LISTENER_SET_PLURAL, name
            )
        except client.ApiException as error:
            if error.status != 404:
                raise

    def serves_listener_sets(self) -> bool:
        """Whether the API server serves gateway.networking.k8s.io/v1 ListenerSet (v1.5+)."""
        try:
            resources = self._get(f"/apis/{GATEWAY_GROUP}/v1").get("resources", ())
        except client.ApiException as error:
            if error.status == 404:
                return False
            raise
        return any(r["name"] == LISTENER_SET_PLURAL for r in resources)

    def apply_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        body = {
            "apiVersion": WRAPPED_API_VERSION,
            "kind": WRAPPED_KIND,
            "metadata": {"name": name, "namespace": namespace},
            "status": status,
        }
        resource = (WRAPPED_GROUP, WRAPPED_VERSION, WRAPPED_PLURAL)
        self._apply(resource, body, self._custom.patch_namespaced_custom_object_status)

    def _apply(
        self,
        resource: Resource,
        manifest: dict[str, Any],
        patch: Callable[..., object] | None = None,
    ) -> None:
        """Server-side apply of `manifest`, taking over what others set (`patch`: which
        subresource, the object itself by default)."""
        group, version, plural = resource
        metadata = manifest["metadata"]
        (patch or self._custom.patch_namespaced_custom_object)(
            group,
            version,
            metadata["namespace"],
            plural,
            metadata["name"],
            body=manifest,
            field_manager=self._field_manager,
            force=True,
            _content_type=APPLY_PATCH,
        )

    def create_event(self, event: Mapping[str, Any]) -> None:
        # The client's model of an Event, which it would make of a dict itself.
        body = client.CoreV1Event.model_validate(event)
        self._core.create_namespaced_event(event["metadata"]["namespace"], body=body)

    def served_route_versions(self) -> dict[RouteKind, str]:
        """The version to watch for each route kind the API server serves (`versions_to_watch`
        of its discovery documents)."""
        try:
            group = self._get(f"/apis/{GATEWAY_GROUP}")
        except client.ApiException as error:
            if error.status == 404:
                return {}
            raise
        preferred = group.get("preferredVersion", {}).get("version")
        kinds_by_version: dict[str, set[str]] = {}
        for version in group.get("versions", ()):
            name = version["version"]
            resources = self._get(f"/apis/{GATEWAY_GROUP}/{name}").get("resources", ())
            kinds_by_version[name] = {r["kind"] for r in resources if "/" not in r["name"]}
        return versions_to_watch(preferred, kinds_by_version)

    def list_page(
        self, resource: Resource, namespace: str | None, token: str | None, metadata_only: bool
    ) -> dict[str, Any]:
        """One page of a LIST of `resource` (in `namespace`, or everywhere), continuing from
        `token`; with `metadata_only`, each object is its metadata alone."""
        group, version, plural = resource
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        path += f"/namespaces/{namespace}/{plural}" if namespace else f"/{plural}"
        query: list[tuple[str, str | int]] = [("limit", LIST_PAGE)]
        if token:
            query.append(("continue", token))
        return self._get(path, query, METADATA_ONLY if metadata_only else None)

    def _get(
        self, path: str, query: list[tuple[str, str | int]] | None = None, accept: str | None = None
    ) -> dict[str, Any]:
        """A discovery document or a LIST, fetched the way the generated API classes make
        their calls."""
        request = self.api_client.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": accept} if accept else None,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request)
        response.read()  # type: ignore[no-untyped-call]  # RESTResponse.read has no annotations
        # raises ApiException for an answer other than 2xx, as the generated calls do
        document = self.api_client.response_deserialize(response, {"200": "object"}).data
        return json_object(document)


def failure(error: BaseException) -> str:
    """A failed call as logs report it: the API server's answer, or, when it could not be
    reached, urllib3's error (an unreachable API server raises those, not ApiException)."""
    if isinstance(error, client.ApiException):
        return f"{error.status} {error.reason}"
    return f"{type(error).__name__}: {error}"


def json_object(answer: object) -> dict[str, Any]:
    """An answer the client types `object` (a custom object, a discovery document), which the
    API server sends as a JSON object."""
    if not isinstance(answer, dict):
        raise TypeError(f"the API server answered a {type(answer).__name__}, not an object")
    return answer
