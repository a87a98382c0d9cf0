"""The workers: every reconcile counted by its result, a failed one retried with a growing
backoff that a success resets, a standby reconciling nothing."""

import argparse
import asyncio
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client
from kubernetes.client import ApiException
from prometheus_client import REGISTRY

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller import operator
from wrapped_gateway.run_options import add_run_arguments, settings_from

KEY = ObjectKey("infra", "gw")


class ScriptedReconciler:
    """Answers each reconcile with the next of `outcomes`: a result, or an exception raised."""

    def __init__(self, outcomes: list[str | Exception]) -> None:
        self._outcomes: Iterator[str | Exception] = iter(outcomes)
        self.reconciled: list[ObjectKey] = []
        self.after_success: Callable[[], None] = lambda: None
        self.stood_by: list[ObjectKey] = []

    def stand_by(self, key: ObjectKey) -> None:
        self.stood_by.append(key)

    async def reconcile(self, key: ObjectKey) -> str:
        self.reconciled.append(key)
        outcome = next(self._outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        self.after_success()
        return outcome


def _controller(
    monkeypatch: pytest.MonkeyPatch, reconciler: ScriptedReconciler
) -> operator.Controller:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    controller = operator.Controller(settings_from(parser.parse_args([])), client.ApiClient())
    controller.reconciler = reconciler  # type: ignore[assignment]
    return controller


def _reconciles(result: str) -> float:
    return REGISTRY.get_sample_value("wrapped_gateway_reconciles_total", {"result": result}) or 0.0


def _delays(controller: operator.Controller, outcomes: int) -> list[float]:
    """Run one worker until `outcomes` reconciles are done; the delay each retry was queued with."""
    delays: list[float] = []
    add = controller.queue.add

    def recording_add(key: ObjectKey, delay: float = 0.0) -> None:
        delays.append(delay)
        add(key, delay=0.0)  # the test does not wait the backoffs out

    async def scenario() -> None:
        controller.queue.add(KEY)
        controller.queue.add = recording_add  # type: ignore[method-assign]
        worker = asyncio.create_task(controller.work())
        reconciler = controller.reconciler
        while len(reconciler.reconciled) < outcomes:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the last one's retry, if any, is queued
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(scenario())
    return delays


def test_a_failed_reconcile_is_retried_later_and_later_until_it_succeeds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server_error = ApiException(status=500, reason="Internal Server Error")
    bug = RuntimeError("a bug")  # counted and retried like any failure, not lost
    reconciler = ScriptedReconciler([server_error, bug, server_error, "applied"])
    controller = _controller(monkeypatch, reconciler)
    errors, applied = _reconciles("error"), _reconciles("applied")
    assert _delays(controller, 4) == [0.5, 1.0, 2.0]
    assert _reconciles("error") - errors == 3
    assert _reconciles("applied") - applied == 1


def test_a_success_resets_the_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    failure = ApiException(status=500, reason="Internal Server Error")
    reconciler = ScriptedReconciler([failure, failure, "applied", failure])
    controller = _controller(monkeypatch, reconciler)
    reconciler.after_success = lambda: controller.queue.add(KEY)  # a change comes in
    # retried after 0.5 s and 1 s; the change (queued at once); its failure, after 0.5 s again
    assert _delays(controller, 4) == [0.5, 1.0, 0.0, 0.5]


def test_a_standby_reconciles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    reconciler = ScriptedReconciler([])
    controller = _controller(monkeypatch, reconciler)
    monkeypatch.setattr(operator.Controller, "acting", property(lambda _: False))

    async def scenario() -> None:
        controller.queue.add(KEY)
        worker = asyncio.create_task(controller.work())
        await asyncio.sleep(0.05)
        assert len(controller.queue) == 0  # taken, and done with
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker

    asyncio.run(scenario())
    assert reconciler.reconciled == []
    assert reconciler.stood_by == [KEY]
