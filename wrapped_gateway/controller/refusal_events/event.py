"""The Warning Event that reports a refused route, named after what it reports (the route's
uid, the reason, the hostname and ports, the message), so that every replica and restart
posts the same refusal under the same name and the API server refuses a second post."""

import hashlib
from datetime import datetime
from typing import Any

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.listeners.refusals import Refusal
from wrapped_gateway.routes import Route

COMPONENT = "wrapped-gateway"
MAX_MESSAGE = 1024
MAX_NAME = 253  # a DNS subdomain
DIGEST_CHARS = 16


def refusal_event(
    refusal: Refusal, route: Route | None, gateway_key: ObjectKey, now: datetime
) -> dict[str, Any]:
    """A core/v1 Warning Event on the refused route."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = f"WrappedGateway {gateway_key}: {refusal.message}"[:MAX_MESSAGE]
    involved: dict[str, Any] = {
        "kind": str(refusal.kind),
        "namespace": refusal.namespace,
        "name": refusal.name,
    }
    if route is not None:
        involved["apiVersion"] = route.api_version
        if route.uid:
            involved["uid"] = route.uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": event_name(refusal, involved, message),
            "namespace": refusal.namespace,
        },
        "involvedObject": involved,
        "type": "Warning",
        "reason": refusal.reason,
        "message": message,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def event_name(refusal: Refusal, involved: dict[str, Any], message: str) -> str:
    """The same name for the same refusal of the same route, from any replica or restart.

    The route's uid is part of it, so a route deleted and created again under its name gets
    its Events again; without a uid (a route no longer indexed) its kind and name stand in.
    """
    identity = involved.get("uid") or f"{involved['kind']}/{refusal.route_key}"
    ports = ",".join(map(str, refusal.ports))
    fields = (identity, refusal.reason, refusal.hostname or "", ports, message)
    digest = hashlib.sha256("\0".join(fields).encode()).hexdigest()[:DIGEST_CHARS]
    prefix = refusal.name[: MAX_NAME - DIGEST_CHARS - 1].rstrip(".-")
    return f"{prefix}.{digest}"
