"""The WrappedGateway CRD validates what the core assumes."""

from pathlib import Path
from typing import Any

import yaml

from wrapped_gateway import hostnames
from wrapped_gateway.constants import WRAPPED_GROUP, WRAPPED_KIND, WRAPPED_PLURAL, WRAPPED_VERSION
from wrapped_gateway.wrapped import static

CRD = Path(__file__).resolve().parents[2] / "crds" / "wrappedgateways.yaml"


def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRD.read_text())
    return document


def schema() -> dict[str, Any]:
    (version,) = crd()["spec"]["versions"]
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def test_names_match_the_api_the_controller_serves() -> None:
    spec = crd()["spec"]
    assert crd()["metadata"]["name"] == f"{WRAPPED_PLURAL}.{WRAPPED_GROUP}"
    assert spec["group"] == WRAPPED_GROUP
    assert spec["names"]["kind"] == WRAPPED_KIND
    assert spec["names"]["shortNames"] == ["wgw"]
    assert spec["scope"] == "Namespaced"
    (version,) = spec["versions"]
    assert version["name"] == WRAPPED_VERSION
    assert version["subresources"] == {"status": {}}


def test_printer_columns_show_class_listeners_ready_and_age() -> None:
    (version,) = crd()["spec"]["versions"]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Class"] == ".spec.gatewayClassName"
    assert columns["Listeners"] == ".status.listeners"
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Age"] == ".metadata.creationTimestamp"


def test_hostname_and_listener_name_patterns_are_the_cores() -> None:
    spec = schema()["properties"]["spec"]["properties"]
    listener = spec["listeners"]["items"]["properties"]
    allowed = spec["routes"]["properties"]["hostnames"]["items"]
    # The core uses fullmatch (Python's `$` also matches before a trailing newline; the API
    # server's RE2 `$` does not), so the CRD spells the same pattern anchored.
    assert listener["hostname"]["pattern"] == f"^{hostnames._HOSTNAME.pattern}$"
    assert allowed["pattern"] == f"^{hostnames.ALLOWED_HOSTNAME_PATTERN.pattern}$"
    assert listener["name"]["pattern"] == f"^{static.LISTENER_NAME.pattern}$"
    assert (listener["port"]["minimum"], listener["port"]["maximum"]) == (1, 65535)
    assert spec["listeners"]["maxItems"] == 64


def test_every_other_gateway_spec_field_is_accepted() -> None:
    assert schema()["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"] is True
