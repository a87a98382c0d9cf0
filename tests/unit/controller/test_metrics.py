"""The state gauges are read from the controller's state at each scrape."""

from prometheus_client import CollectorRegistry, generate_latest

from wrapped_gateway.controller.metrics import ControllerState, StateCollector


class FakeController:
    def __init__(self) -> None:
        self.current = ControllerState(
            indexed_routes=0, indexed_wrapped_gateways=0, queue_depth=0, leader=False
        )

    def state(self) -> ControllerState:
        return self.current


def scrape(registry: CollectorRegistry) -> dict[str, float]:
    """Every sample of a scrape, as `name{labels}` -> value."""
    samples: dict[str, float] = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples


def test_each_scrape_reports_the_state_at_that_moment() -> None:
    controller = FakeController()
    registry = CollectorRegistry()
    registry.register(StateCollector(controller.state))
    assert scrape(registry) == {
        "wrapped_gateway_index_routes": 0,
        "wrapped_gateway_index_wrapped_gateways": 0,
        "wrapped_gateway_queue_depth": 0,
        "wrapped_gateway_queue_held_for_burst": 0,
        "wrapped_gateway_awaited_from_kopf": 0,
        "wrapped_gateway_leader": 0,
    }
    controller.current = ControllerState(
        indexed_routes=1200,
        indexed_wrapped_gateways=3,
        queue_depth=2,
        leader=True,
        refusals_by_reason={"HostnameConflict": 4, "InvalidHostname": 1},
        held_for_burst=5,
        awaited_from_kopf=700,
    )
    assert scrape(registry) == {
        'wrapped_gateway_refused_routes{reason="HostnameConflict"}': 4,
        'wrapped_gateway_refused_routes{reason="InvalidHostname"}': 1,
        "wrapped_gateway_index_routes": 1200,
        "wrapped_gateway_index_wrapped_gateways": 3,
        "wrapped_gateway_queue_depth": 2,
        "wrapped_gateway_queue_held_for_burst": 5,
        "wrapped_gateway_awaited_from_kopf": 700,
        "wrapped_gateway_leader": 1,
    }


def test_a_reason_no_route_is_refused_for_any_more_leaves_the_scrape() -> None:
    controller = FakeController()
    registry = CollectorRegistry()
    registry.register(StateCollector(controller.state))
    controller.current = ControllerState(1, 1, 0, False, {"HostnameConflict": 1})
    assert 'wrapped_gateway_refused_routes{reason="HostnameConflict"}' in scrape(registry)
    controller.current = ControllerState(1, 1, 0, False, {})
    assert not any(series.startswith("wrapped_gateway_refused") for series in scrape(registry))
