"""Warning Events on refused routes, each posted once, not once per reconcile."""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cachetools import TTLCache

from wrapped_gateway.listeners import Refusal
from wrapped_gateway.routes import Route

COMPONENT = "wrapped-gateway"
MAX_MESSAGE = 1024


class EventLedger:
    """Remembers which refusals were already reported, for `ttl` seconds."""

    def __init__(self, ttl: float = 3600, maxsize: int = 50_000) -> None:
        self._seen: TTLCache[tuple[str, ...], bool] = TTLCache(maxsize=maxsize, ttl=ttl)

    def fresh(self, gateway_key: str, refusals: Iterable[Refusal]) -> list[Refusal]:
        """The refusals not reported yet; they count as reported from now on."""
        new = []
        for refusal in refusals:
            mark = (
                gateway_key,
                refusal.kind,
                refusal.namespace,
                refusal.name,
                refusal.reason,
                refusal.message,
            )
            if mark not in self._seen:
                self._seen[mark] = True
                new.append(refusal)
        return new


def refusal_event(
    refusal: Refusal, route: Route | None, gateway_key: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Warning Event on the refused route."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
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
        "metadata": {"generateName": f"{refusal.name}.", "namespace": refusal.namespace},
        "involvedObject": involved,
        "type": "Warning",
        "reason": refusal.reason,
        "message": f"WrappedGateway {gateway_key}: {refusal.message}"[:MAX_MESSAGE],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
