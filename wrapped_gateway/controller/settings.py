"""What the controller runs with; `wrapped_gateway/run_options.py` makes it of the command
line and the environment."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True, slots=True)
class Election:
    """Which Lease this replica competes for, as whom, on which timing."""

    namespace: str
    name: str
    identity: str
    timing: LeaseTiming = LeaseTiming()


@dataclass(frozen=True, slots=True)
class Settings:
    kubeconfig: str | None
    namespaces: tuple[str, ...]  # empty: all namespaces
    health_address: str
    metrics_address: str
    election: Election | None  # None: no leader election, this replica always acts
    log_level: str
    log_format: str
    workers: int
    settle_seconds: float
    burst_hold_seconds: float
    resync_seconds: float
