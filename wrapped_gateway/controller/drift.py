"""Whether the live Gateway already is what the controller wants, so that nothing is written.

The desired Gateway carries a digest of itself in an annotation. The controller applies only
when the live Gateway lacks that digest (the desired state changed since the last apply, or
the controller never applied it) or no longer contains the desired fields (someone deleted a
listener or edited a field the controller owns). Fields other managers added are not drift.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from wrapped_gateway.constants import WRAPPED_GROUP
from wrapped_gateway.controller.existing import LiveGateway, LiveListenerSet

APPLIED_DIGEST_ANNOTATION = f"{WRAPPED_GROUP}/applied-digest"


def with_digest(gateway: Mapping[str, Any]) -> dict[str, Any]:
    """`gateway` with the annotation that records what it is."""
    digest = hashlib.sha256(json.dumps(gateway, sort_keys=True).encode()).hexdigest()[:16]
    metadata = dict(gateway["metadata"])
    metadata["annotations"] = {**metadata.get("annotations", {}), APPLIED_DIGEST_ANNOTATION: digest}
    return {**gateway, "metadata": metadata}


def digest_of(manifest: Mapping[str, Any]) -> str:
    """The digest `with_digest` gave `manifest`."""
    return str(manifest["metadata"]["annotations"][APPLIED_DIGEST_ANNOTATION])


def needs_apply(desired: Mapping[str, Any], live: LiveGateway | LiveListenerSet | None) -> bool:
    """`desired` must come from `with_digest`."""
    if live is None:
        return True
    wanted = digest_of(desired)
    if live.metadata["annotations"].get(APPLIED_DIGEST_ANNOTATION) != wanted:
        return True
    desired_metadata = {
        "labels": desired["metadata"].get("labels", {}),
        "annotations": desired["metadata"]["annotations"],
    }
    return not (contains(live.metadata, desired_metadata) and contains(live.spec, desired["spec"]))


def contains(live: Any, desired: Any) -> bool:
    """Whether every field of `desired` is in `live` with the same value.

    Lists of named items (listeners) are matched by name, so listeners other managers added
    do not count; other lists must be equal, as server-side apply treats them atomically.
    """
    if isinstance(desired, Mapping):
        return isinstance(live, Mapping) and all(
            key in live and contains(live[key], value) for key, value in desired.items()
        )
    if isinstance(desired, list) and _named(desired):
        if not isinstance(live, list) or not _named(live):
            return False
        by_name = {item["name"]: item for item in live}
        return all(
            item["name"] in by_name and contains(by_name[item["name"]], item) for item in desired
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b) for a, b in zip(live, desired, strict=True))
        )
    return bool(live == desired)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, Mapping) and "name" in i for i in items)
