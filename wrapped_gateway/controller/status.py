"""The WrappedGateway's status, computed from a reconcile's outcome."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.listeners.model import DesiredGateway
from wrapped_gateway.listeners.refusals import FAIR_FIRST, Refusals

MAX_REFUSALS_IN_STATUS = FAIR_FIRST  # the CRD's maxItems


class Outcome:
    """Reasons of the Ready condition."""

    PROGRAMMED = "Programmed"  # the Gateway matches the desired one
    INVALID_SPEC = "InvalidSpec"
    GATEWAY_NOT_OWNED = "GatewayNotOwned"
    NO_LISTENERS = "NoListeners"
    APPLY_FAILED = "ApplyFailed"
    LISTENER_SETS_UNAVAILABLE = "ListenerSetsUnavailable"  # Gateway API before v1.5
    LISTENER_SET_NAME_TAKEN = "ListenerSetNameTaken"  # an older one writes ListenerSets so named


@dataclass(frozen=True, slots=True)
class Verdict:
    ready: bool
    reason: str
    message: str


def programmed(desired: DesiredGateway) -> Verdict:
    message = f"Gateway {desired.key} has {desired.listener_count} listeners"
    return Verdict(True, Outcome.PROGRAMMED, message)


def invalid_spec(error: str | None) -> Verdict:
    return Verdict(False, Outcome.INVALID_SPEC, error or "invalid spec")


def apply_failed(message: str) -> Verdict:
    return Verdict(False, Outcome.APPLY_FAILED, message)


def gateway_not_owned(desired: DesiredGateway) -> Verdict:
    return Verdict(
        False,
        Outcome.GATEWAY_NOT_OWNED,
        f"Gateway {desired.key} exists and is not controlled by this WrappedGateway; it is "
        "left untouched. Delete or rename it to let the controller manage it.",
    )


def no_listeners(gateway_exists: bool) -> Verdict:
    return Verdict(
        False,
        Outcome.NO_LISTENERS,
        "no static listeners and no route contributes one; the Gateway API requires at least "
        "one listener"
        + (", so the existing Gateway keeps its listeners" if gateway_exists else ""),
    )


def listener_set_name_taken(name: str, elder: ObjectKey) -> Verdict:
    """`elder`, an older WrappedGateway named `name`, writes the ListenerSets of that name."""
    return Verdict(
        False,
        Outcome.LISTENER_SET_NAME_TAKEN,
        f"WrappedGateway {elder} is older and writes the ListenerSets named {name!r}, which "
        "routes name without a namespace; this one writes none and generates nothing. Rename "
        "it (routes then name the new ListenerSet).",
    )


LISTENER_SETS_UNAVAILABLE = Verdict(
    False,
    Outcome.LISTENER_SETS_UNAVAILABLE,
    "spec.output is ListenerSets, but the API server does not serve "
    "gateway.networking.k8s.io/v1 ListenerSet; install the Gateway API v1.5 or later, or use "
    "spec.output Gateway",
)


def status_for(
    generation: int,
    verdict: Verdict,
    desired: DesiredGateway | None,
    previous: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    refusals = desired.refusals if desired else Refusals()
    shared_catch_alls = desired.shared_catch_alls if desired else ()
    conditions = [
        _condition("Ready", verdict.ready, verdict.reason, verdict.message, generation),
        _condition(
            "RoutesAccepted",
            not refusals,
            "AllAccepted" if not refusals else "RoutesRefused",
            "every route contributes its listeners"
            if not refusals
            else f"{len(refusals)} refusal(s); see refusedRoutes and the routes' Events",
            generation,
        ),
        _condition(
            "TenantsIsolated",
            not shared_catch_alls,
            "Isolated" if not shared_catch_alls else "SharedCatchAllListener",
            "every listener that admits other namespaces serves only named hostnames"
            if not shared_catch_alls
            else "; ".join(shared_catch_alls),
            generation,
        ),
    ]
    return {
        "observedGeneration": generation,
        "listeners": desired.listener_count if desired else 0,
        "refusedRouteCount": len(refusals),
        "refusedRoutes": [
            {
                key: value
                for key, value in {
                    "kind": str(r.kind),
                    "namespace": r.namespace,
                    "name": r.name,
                    "hostname": r.hostname,
                    "port": r.port,
                    "reason": r.reason,
                    "message": r.message,
                }.items()
                if value is not None
            }
            for r in refusals.fair_first(MAX_REFUSALS_IN_STATUS)
        ],
        "conditions": _keep_transition_times(conditions, previous, now),
    }


def _condition(kind: str, ok: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
    }


def _keep_transition_times(
    conditions: list[dict[str, Any]], previous: Mapping[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """A condition's lastTransitionTime changes only when its status does."""
    before = {c.get("type"): c for c in previous.get("conditions") or ()}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in conditions:
        old = before.get(condition["type"])
        same = old is not None and old.get("status") == condition["status"]
        condition["lastTransitionTime"] = old["lastTransitionTime"] if same and old else stamp
    return conditions
