import argparse

import pytest

from wrapped_gateway.run_options import add_run_arguments, settings_from


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_watch_everything_without_leader_election(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    settings = settings_from(parse())
    assert settings.namespaces == ()
    assert settings.health_address == ":8081"
    assert settings.metrics_address == ":8080"
    assert settings.election is None
    with_election = settings_from(parse("--leader-election")).election
    assert with_election is not None
    assert with_election.timing.lease_duration == 15.0
    assert with_election.name == "wrapped-gateway"


def test_every_flag_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRAPPED_GATEWAY_NAMESPACES", "a,b")
    monkeypatch.setenv("WRAPPED_GATEWAY_LEADER_ELECTION", "true")
    monkeypatch.setenv("WRAPPED_GATEWAY_LEASE_DURATION", "4")
    monkeypatch.setenv("WRAPPED_GATEWAY_LOG_FORMAT", "json")
    monkeypatch.setenv("POD_NAMESPACE", "system")
    settings = settings_from(parse())
    assert settings.namespaces == ("a", "b")
    assert settings.election is not None
    assert settings.election.timing.lease_duration == 4.0
    assert settings.log_format == "json"
    assert settings.election.namespace == "system"


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRAPPED_GATEWAY_HEALTH_ADDRESS", ":1")
    assert settings_from(parse("--health-address", ":2")).health_address == ":2"


def test_a_malformed_variable_is_reported_like_a_malformed_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WRAPPED_GATEWAY_LEASE_DURATION", "soon")
    with pytest.raises(SystemExit):
        parse()
    assert "--lease-duration: invalid float value: 'soon'" in capsys.readouterr().err
