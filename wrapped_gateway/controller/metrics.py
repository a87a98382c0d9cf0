"""Prometheus metrics of the controller."""

from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter(
    "wrapped_gateway_reconciles_total", "Reconciles of WrappedGateways by result.", ["result"]
)
RECONCILE_SECONDS = Histogram(
    "wrapped_gateway_reconcile_duration_seconds",
    "Time to reconcile one WrappedGateway.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
APPLIES = Counter("wrapped_gateway_applies_total", "Server-side applies of generated Gateways.")
REFUSED_ROUTES = Gauge(
    "wrapped_gateway_refused_routes", "Current refusals of routes, by reason.", ["reason"]
)
INDEXED_ROUTES = Gauge("wrapped_gateway_index_routes", "Routes held in the in-memory index.")
INDEXED_WRAPPED = Gauge(
    "wrapped_gateway_index_wrapped_gateways", "WrappedGateways held in the in-memory index."
)
QUEUE_DEPTH = Gauge("wrapped_gateway_queue_depth", "WrappedGateways waiting to be reconciled.")
LEADER = Gauge("wrapped_gateway_leader", "1 while this replica holds the leader Lease.")


def publish_refusals(per_gateway: Iterable[Mapping[str, int]]) -> None:
    totals: dict[str, int] = {}
    for counts in per_gateway:
        for reason, count in counts.items():
            totals[reason] = totals.get(reason, 0) + count
    for reason in {*totals, *(_known_reasons())}:
        REFUSED_ROUTES.labels(reason=reason).set(totals.get(reason, 0))


def _known_reasons() -> set[str]:
    return {
        sample.labels["reason"] for metric in REFUSED_ROUTES.collect() for sample in metric.samples
    }
