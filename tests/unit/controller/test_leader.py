"""Leader election against an in-memory Lease store, on clocks the tests move by hand.

The wall clock that stamps the Lease and the holder's own `renewTime` deliberately disagree:
expiry must be judged by how long this replica has seen the Lease unchanged, on its monotonic
clock, whatever the other machine's clock says.
"""

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from wrapped_gateway.controller.leader import Clock, LeaderElector
from wrapped_gateway.controller.settings import Election, LeaseTiming

NAME, NAMESPACE = "wrapped-gateway", "system"
TIMING = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=2)
LOCAL_WALL_CLOCK = datetime(2026, 1, 1, tzinfo=UTC)


class FakeLeases:
    """Stands in for CoordinationV1Api: one Lease, compare-and-swap on resourceVersion."""

    def __init__(self) -> None:
        self.lease: client.V1Lease | None = None
        self.failure: Exception | None = None  # raised by every call while set

    def read_namespaced_lease(self, name: str, namespace: str) -> client.V1Lease:
        self._maybe_fail()
        if self.lease is None:
            raise ApiException(status=404, reason="Not Found")
        return copy.deepcopy(self.lease)

    def create_namespaced_lease(self, namespace: str, body: client.V1Lease) -> client.V1Lease:
        self._maybe_fail()
        if self.lease is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        return self._store(body)

    def replace_namespaced_lease(
        self, name: str, namespace: str, body: client.V1Lease
    ) -> client.V1Lease:
        self._maybe_fail()
        assert self.lease is not None
        if body.metadata.resource_version != self.lease.metadata.resource_version:
            raise ApiException(status=409, reason="Conflict")
        return self._store(body)

    def held_by(self, holder: str, renew_time: datetime, transitions: int = 0) -> None:
        """Another replica writes the Lease (with its own clock's idea of the time)."""
        spec = client.V1LeaseSpec(
            holder_identity=holder,
            lease_duration_seconds=15,
            acquire_time=renew_time,
            renew_time=renew_time,
            lease_transitions=transitions,
        )
        self._store(client.V1Lease(metadata=client.V1ObjectMeta(name=NAME), spec=spec))

    @property
    def spec(self) -> Any:
        assert self.lease is not None
        return self.lease.spec

    def _store(self, lease: client.V1Lease) -> client.V1Lease:
        version = int(self.lease.metadata.resource_version) + 1 if self.lease else 1
        lease = copy.deepcopy(lease)
        lease.metadata.resource_version = str(version)
        self.lease = lease
        return copy.deepcopy(lease)

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure


class Clocks:
    """The local monotonic clock and the local wall clock, advanced together."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def monotonic(self) -> float:
        return self.seconds

    def utc_now(self) -> datetime:
        return LOCAL_WALL_CLOCK + timedelta(seconds=self.seconds)


@pytest.fixture
def leases() -> FakeLeases:
    return FakeLeases()


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def elector(
    leases: FakeLeases,
    clocks: Clocks,
    identity: str = "me",
    elected: list[str] | None = None,
    timing: LeaseTiming = TIMING,
) -> LeaderElector:
    return LeaderElector(
        leases,
        Election(NAMESPACE, NAME, identity, timing),
        on_elected=lambda: (elected if elected is not None else []).append(identity),
        clock=Clock(clocks.monotonic, clocks.utc_now),
    )


def test_a_live_holder_whose_clock_lags_is_not_taken_over(
    leases: FakeLeases, clocks: Clocks
) -> None:
    skewed = datetime(2000, 1, 1, tzinfo=UTC)  # the holder's clock is 26 years behind
    leases.held_by("other", skewed)
    standby = elector(leases, clocks)

    async def scenario() -> None:
        for renewal in range(1, 60):
            await standby.attempt()
            assert not standby.is_leader, f"took over a live holder after {renewal} rounds"
            clocks.seconds += TIMING.retry_period
            leases.held_by("other", skewed + timedelta(seconds=2 * renewal))

    asyncio.run(scenario())
    assert leases.spec.holder_identity == "other"


def test_a_holder_whose_record_stops_changing_is_taken_over_after_the_lease_duration(
    leases: FakeLeases, clocks: Clocks
) -> None:
    ahead = LOCAL_WALL_CLOCK + timedelta(days=365)  # its clock is a year ahead; then it dies
    leases.held_by("other", ahead, transitions=3)
    elected: list[str] = []
    standby = elector(leases, clocks, elected=elected)

    async def scenario() -> None:
        await standby.attempt()  # first sight of the record starts the local count
        clocks.seconds += TIMING.lease_duration
        await standby.attempt()
        assert not standby.is_leader  # unchanged for exactly the lease duration: still valid
        clocks.seconds += 0.1
        await standby.attempt()

    asyncio.run(scenario())
    assert standby.is_leader
    assert elected == ["me"]
    spec = leases.spec
    assert spec.holder_identity == "me"
    assert spec.lease_transitions == 4
    assert spec.acquire_time == spec.renew_time == clocks.utc_now()
    assert spec.lease_duration_seconds == 15


def test_a_holder_seen_renewing_late_is_judged_from_its_last_change(
    leases: FakeLeases, clocks: Clocks
) -> None:
    leases.held_by("other", LOCAL_WALL_CLOCK)
    standby = elector(leases, clocks)

    async def scenario() -> None:
        await standby.attempt()
        clocks.seconds += 10
        leases.held_by("other", LOCAL_WALL_CLOCK + timedelta(seconds=10))
        await standby.attempt()  # changed: the count restarts here
        clocks.seconds += 14
        await standby.attempt()
        assert not standby.is_leader
        clocks.seconds += 2
        await standby.attempt()

    asyncio.run(scenario())
    assert standby.is_leader


def test_the_leader_creates_then_renews_its_lease(leases: FakeLeases, clocks: Clocks) -> None:
    elected: list[str] = []
    leader = elector(leases, clocks, elected=elected)

    async def scenario() -> None:
        await leader.attempt()
        acquired = leases.spec.acquire_time
        for _ in range(20):  # well past the lease duration: its own Lease never expires
            clocks.seconds += TIMING.retry_period
            await leader.attempt()
            assert leader.is_leader
            assert leases.spec.renew_time == clocks.utc_now()
            assert leases.spec.acquire_time == acquired

    asyncio.run(scenario())
    assert elected == ["me"]  # elected once, not once per renewal
    assert leases.spec.lease_transitions == 0


@pytest.mark.parametrize(
    "failure",
    [ApiException(status=503, reason="Service Unavailable"), ConnectionError("refused")],
    ids=["api-error", "unreachable"],
)
def test_a_leader_that_cannot_renew_steps_down_at_the_renew_deadline(
    leases: FakeLeases, clocks: Clocks, failure: Exception
) -> None:
    leader = elector(leases, clocks)

    async def scenario() -> list[bool]:
        await leader.attempt()
        leases.failure = failure
        acting = []
        for _ in range(6):
            clocks.seconds += TIMING.retry_period
            await leader.attempt()
            acting.append(leader.is_leader)
        return acting

    # renewed at 0; failing attempts at 2, 4, 6, 8 keep acting; 10 is the deadline
    assert asyncio.run(scenario()) == [True, True, True, True, False, False]


def test_a_leader_that_sees_another_holder_steps_down_at_once(
    leases: FakeLeases, clocks: Clocks
) -> None:
    leader = elector(leases, clocks)

    async def scenario() -> None:
        await leader.attempt()
        leases.held_by("other", LOCAL_WALL_CLOCK)  # e.g. it judged this one's Lease expired
        clocks.seconds += TIMING.retry_period
        await leader.attempt()

    asyncio.run(scenario())
    assert not leader.is_leader
    assert leases.spec.holder_identity == "other"


def test_two_replicas_never_lead_at_once(leases: FakeLeases, clocks: Clocks) -> None:
    first, second = elector(leases, clocks, "first"), elector(leases, clocks, "second")

    async def scenario() -> None:
        for _ in range(30):
            await first.attempt()
            await second.attempt()
            assert first.is_leader != second.is_leader
            clocks.seconds += TIMING.retry_period

    asyncio.run(scenario())
    assert first.is_leader


def test_shutdown_releases_the_lease_and_a_standby_takes_over_at_once(
    leases: FakeLeases, clocks: Clocks
) -> None:
    fast = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=0.01)
    leader = elector(leases, clocks, "leader", timing=fast)
    standby = elector(leases, clocks, "standby", timing=fast)

    async def scenario() -> None:
        running = asyncio.create_task(leader.run())
        while not leader.is_leader:
            await asyncio.sleep(0.01)
        await standby.attempt()
        assert not standby.is_leader
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert not leader.is_leader
        assert leases.spec.holder_identity is None
        await standby.attempt()  # no local time has passed: a released Lease is free

    asyncio.run(scenario())
    assert standby.is_leader
    assert leases.spec.holder_identity == "standby"
    assert leases.spec.lease_transitions == 1


def test_a_replica_that_may_not_lead_yet_takes_no_lease_but_judges_its_expiry_meanwhile(
    leases: FakeLeases, clocks: Clocks
) -> None:
    caught_up = False
    leases.held_by("dead", LOCAL_WALL_CLOCK)  # its holder never renews again
    standby = LeaderElector(
        leases,
        Election(NAMESPACE, NAME, "me", TIMING),
        clock=Clock(clocks.monotonic, clocks.utc_now),
        may_lead=lambda: caught_up,
    )

    async def scenario() -> None:
        nonlocal caught_up
        for _ in range(20):  # long past the lease duration, while not caught up
            await standby.attempt()
            assert not standby.is_leader
            clocks.seconds += TIMING.retry_period
        assert leases.spec.holder_identity == "dead"
        caught_up = True
        await standby.attempt()  # the expiry was judged while it waited: it takes over at once

    asyncio.run(scenario())
    assert standby.is_leader
    assert leases.spec.holder_identity == "me"


def test_a_leader_keeps_renewing_once_it_may_lead_whatever_may_lead_says_later(
    leases: FakeLeases, clocks: Clocks
) -> None:
    """A leader that stopped competing would hold the Lease without renewing it, and no
    replica could take over until it expired."""
    answers = iter([True])
    leader = LeaderElector(
        leases,
        Election(NAMESPACE, NAME, "me", TIMING),
        clock=Clock(clocks.monotonic, clocks.utc_now),
        may_lead=lambda: next(answers, False),
    )

    async def scenario() -> None:
        for _ in range(5):
            await leader.attempt()
            assert leader.is_leader
            clocks.seconds += TIMING.retry_period

    asyncio.run(scenario())
    assert leases.spec.renew_time == clocks.utc_now() - timedelta(seconds=TIMING.retry_period)


def test_a_replica_that_may_not_lead_yet_creates_no_lease(
    leases: FakeLeases, clocks: Clocks
) -> None:
    standby = LeaderElector(
        leases,
        Election(NAMESPACE, NAME, "me", TIMING),
        clock=Clock(clocks.monotonic, clocks.utc_now),
        may_lead=lambda: False,
    )
    asyncio.run(standby.attempt())
    assert not standby.is_leader
    assert leases.lease is None


def test_a_replica_takes_a_free_lease_as_soon_as_it_may_lead_not_a_retry_period_later(
    leases: FakeLeases,
) -> None:
    """Real time here: the wait between attempts is what is tested."""
    slow = LeaseTiming(lease_duration=15, renew_deadline=10, retry_period=30)
    caught_up = False
    replica = LeaderElector(
        leases, Election(NAMESPACE, NAME, "me", slow), may_lead=lambda: caught_up
    )

    async def scenario() -> float:
        nonlocal caught_up
        running = asyncio.create_task(replica.run())
        await asyncio.sleep(0.3)  # its first attempt, which could not compete, is done
        assert not replica.is_leader
        caught_up = True
        started = asyncio.get_running_loop().time()
        while not replica.is_leader:
            await asyncio.sleep(0.01)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(scenario()) < 5  # not the 30 s retry period
