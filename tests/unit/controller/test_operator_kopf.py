"""What the controller asks of kopf: watch events only, so kopf needs no last-handled state."""

import argparse

import kopf
import pytest
from kubernetes import client

from wrapped_gateway.controller import kopf_config, operator
from wrapped_gateway.routes import RouteKind
from wrapped_gateway.run_options import add_run_arguments, settings_from


def _registry(monkeypatch: pytest.MonkeyPatch) -> kopf.OperatorRegistry:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    controller = operator.Controller(settings_from(parser.parse_args([])), client.ApiClient())
    return controller.registry(dict.fromkeys(RouteKind, "v1"))


def test_only_event_handlers_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    # kopf's change handlers, daemons and timers read the last-handled state that
    # `NoDiffBase` does not keep; the controller must register none of them.
    registry = _registry(monkeypatch)
    assert registry._watching.get_all_handlers()
    assert not registry._changing.get_all_handlers()
    assert not registry._spawning.get_all_handlers()
    assert not registry._indexing.get_all_handlers()


def test_the_diffbase_keeps_nothing() -> None:
    storage = kopf_config.kopf_settings().persistence.diffbase_storage
    assert isinstance(storage, kopf_config.NoDiffBase)
    body = kopf.Body({"metadata": {"name": "r", "annotations": {"a": "b"}}, "spec": {"x": [1]}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=kopf.BodyEssence())
    assert not patch


def test_kopfs_idle_workers_exit_at_once() -> None:
    """A worker per object stays alive this long after its event: a listing of thousands of
    routes would keep thousands alive (and their memory) at every start."""
    assert kopf_config.kopf_settings().queueing.idle_timeout <= 0.5
