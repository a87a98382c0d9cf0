"""Prometheus metrics of the controller.

What happens (reconciles, applies, their durations) is counted by instruments as it happens.
What the controller holds (indexed objects, queued and held keys, current refusals, objects
awaited from kopf at start-up, leadership) is read from its state by `StateCollector` when
Prometheus scrapes, so nothing has to keep a gauge in step with it.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

RECONCILES = Counter(
    "wrapped_gateway_reconciles_total", "Reconciles of WrappedGateways by result.", ["result"]
)
RECONCILE_SECONDS = Histogram(
    "wrapped_gateway_reconcile_duration_seconds",
    "Time to reconcile one WrappedGateway.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
APPLIES = Counter("wrapped_gateway_applies_total", "Server-side applies of generated Gateways.")
REFUSAL_EVENTS = Counter(
    "wrapped_gateway_refusal_events_total",
    "Posts of refused routes' Events by result: posted, exists (posted before), failed, given-up.",
    ["result"],
)


@dataclass(frozen=True, slots=True)
class ControllerState:
    """What the controller holds at one moment."""

    indexed_routes: int
    indexed_wrapped_gateways: int
    queue_depth: int
    leader: bool
    refusals_by_reason: Mapping[str, int] = field(default_factory=dict)
    held_for_burst: int = 0
    awaited_from_kopf: int = 0


# The single-valued gauges: name, help, and the field of the state each reads.
_GAUGES = (
    ("index_routes", "Routes held in the in-memory index.", "indexed_routes"),
    ("index_wrapped_gateways", "WrappedGateways held in the in-memory index.",
     "indexed_wrapped_gateways"),
    ("queue_depth", "WrappedGateways waiting to be reconciled.", "queue_depth"),
    ("queue_held_for_burst",
     "WrappedGateways resting until a burst of changes across many of them is over.",
     "held_for_burst"),
    ("awaited_from_kopf",
     "Objects of the start-up listing kopf has not handed over yet (not ready until 0).",
     "awaited_from_kopf"),
    ("leader", "1 while this replica holds the leader Lease.", "leader"),
)  # fmt: skip


class StateCollector(Collector):
    """Gauges over the controller's state, read at each scrape from `read_state`."""

    def __init__(self, read_state: Callable[[], ControllerState]) -> None:
        self._read_state = read_state

    def collect(self) -> Iterator[Metric]:
        state = self._read_state()
        refused = GaugeMetricFamily(
            "wrapped_gateway_refused_routes",
            "Current refusals of routes, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(state.refusals_by_reason.items()):
            refused.add_metric([reason], count)
        yield refused
        for name, description, field_name in _GAUGES:
            value = float(getattr(state, field_name))
            yield GaugeMetricFamily(f"wrapped_gateway_{name}", description, value=value)
