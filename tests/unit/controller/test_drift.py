"""The controller writes only when the live Gateway is not what it wants."""

import copy
from typing import Any

from wrapped_gateway.controller.drift import (
    APPLIED_DIGEST_ANNOTATION,
    contains,
    needs_apply,
    with_digest,
)
from wrapped_gateway.controller.existing import LiveGateway

DESIRED: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "gw", "namespace": "infra", "labels": {"a": "b"}},
    "spec": {
        "gatewayClassName": "example",
        "listeners": [
            {"name": "one", "port": 443, "protocol": "HTTPS", "hostname": "a.example.com"},
            {"name": "two", "port": 5432, "protocol": "TCP"},
        ],
    },
}


def live_of(manifest: dict[str, Any]) -> LiveGateway:
    return LiveGateway.from_object(manifest)


def test_a_gateway_that_does_not_exist_is_applied() -> None:
    assert needs_apply(with_digest(DESIRED), None)


def test_the_gateway_as_applied_needs_nothing() -> None:
    desired = with_digest(DESIRED)
    assert not needs_apply(desired, live_of(desired))


def test_defaults_and_other_managers_fields_are_not_drift() -> None:
    desired = with_digest(DESIRED)
    live = copy.deepcopy(with_digest(DESIRED))
    live["metadata"]["annotations"]["someone.else/note"] = "kept"
    live["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "Same"}}
    live["spec"]["listeners"].append({"name": "added-by-hand", "port": 80, "protocol": "HTTP"})
    assert not needs_apply(desired, live_of(live))


def test_a_deleted_listener_is_drift() -> None:
    desired = with_digest(DESIRED)
    live = copy.deepcopy(with_digest(DESIRED))
    del live["spec"]["listeners"][1]
    assert needs_apply(desired, live_of(live))


def test_an_edited_field_is_drift() -> None:
    desired = with_digest(DESIRED)
    live = copy.deepcopy(with_digest(DESIRED))
    live["spec"]["listeners"][0]["hostname"] = "b.example.com"
    assert needs_apply(desired, live_of(live))


def test_a_changed_desired_state_is_applied() -> None:
    applied = with_digest(DESIRED)
    changed = {**DESIRED, "spec": {**DESIRED["spec"], "gatewayClassName": "other"}}
    assert needs_apply(with_digest(changed), live_of(applied))


def test_a_missing_label_is_drift() -> None:
    desired = with_digest(DESIRED)
    live = copy.deepcopy(with_digest(DESIRED))
    live["metadata"]["labels"] = {}
    assert needs_apply(desired, live_of(live))


def test_the_digest_depends_on_content_only() -> None:
    reordered = {
        "spec": DESIRED["spec"],
        "metadata": DESIRED["metadata"],
        "kind": "Gateway",
        "apiVersion": DESIRED["apiVersion"],
    }
    first = with_digest(DESIRED)["metadata"]["annotations"][APPLIED_DIGEST_ANNOTATION]
    assert with_digest(reordered)["metadata"]["annotations"][APPLIED_DIGEST_ANNOTATION] == first


def test_contains_compares_unnamed_lists_in_order() -> None:
    assert contains({"a": [1, 2]}, {"a": [1, 2]})
    assert not contains({"a": [2, 1]}, {"a": [1, 2]})
    assert not contains({"a": [1, 2, 3]}, {"a": [1, 2]})
    assert contains(
        {"k": [{"group": "g", "kind": "K", "extra": 1}]}, {"k": [{"group": "g", "kind": "K"}]}
    )
