"""Leader election through a coordination.k8s.io Lease, so that one replica of many acts.

The holder renews the Lease every `retry_period`. Whether another replica's Lease has expired
is judged the way client-go judges it: by how long this replica has seen the Lease's record
unchanged, on its own monotonic clock, never by comparing the holder's `renewTime` with the
local clock (machines' clocks disagree; a skew would let two replicas act, or none). A
standby takes the Lease over once the record has not changed for `lease_duration`.

A leader that cannot renew within `renew_deadline` (shorter than `lease_duration`) steps
down before anyone else may take over; one that sees another holder steps down at once. On
shutdown the leader releases the Lease, so a standby takes over at its next attempt.

A replica competes once `may_lead` says so (the controller: once it has caught up), and from
then on, as a leader that stopped competing would hold the Lease until it expired. Until then
it still reads the Lease every round, so that it judges the holder's expiry from its own
observations and takes over a dead holder's Lease as soon as it may, not a lease duration later.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from kubernetes import client
from kubernetes.client import ApiException

from wrapped_gateway.controller.kube import failure
from wrapped_gateway.controller.settings import Election

MAY_LEAD_POLL = 0.1  # seconds between asking `may_lead` while it says no

log = logging.getLogger(__name__)


class LeaseApi(Protocol):
    """The calls of `client.CoordinationV1Api` the elector makes."""

    def read_namespaced_lease(self, name: str, namespace: str) -> Any: ...

    def create_namespaced_lease(self, namespace: str, body: Any) -> Any: ...

    def replace_namespaced_lease(self, name: str, namespace: str, body: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """What a Lease says about its holder; any change to it is a sign of life."""

    holder: str
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int
    duration_seconds: int | None

    @classmethod
    def of(cls, lease: Any) -> "LeaseRecord":
        spec = lease.spec
        return cls(
            holder=spec.holder_identity or "",
            acquire_time=spec.acquire_time,
            renew_time=spec.renew_time,
            transitions=spec.lease_transitions or 0,
            duration_seconds=spec.lease_duration_seconds,
        )


class Clock(NamedTuple):
    """`monotonic` times the election; `utc_now` only stamps the Lease's time fields."""

    monotonic: Callable[[], float] = time.monotonic
    utc_now: Callable[[], datetime] = lambda: datetime.now(UTC)


SYSTEM_CLOCK = Clock()


class LeaderElector:
    def __init__(
        self,
        leases: LeaseApi,
        election: Election,
        on_elected: Callable[[], None] = lambda: None,
        clock: Clock = SYSTEM_CLOCK,
        may_lead: Callable[[], bool] = lambda: True,
    ) -> None:
        self._leases = leases
        self._namespace = election.namespace
        self._name = election.name
        self.identity = election.identity
        self._timing = election.timing
        self._on_elected = on_elected
        self._may_lead = may_lead
        self._ready = False  # `may_lead` said yes once
        self._monotonic = clock.monotonic
        self._utc_now = clock.utc_now
        self._observed: LeaseRecord | None = None
        self._observed_at = 0.0  # local monotonic time at which `_observed` last changed
        self._renewed_at: float | None = None  # local monotonic time of the last own renewal
        self.is_leader = False

    async def run(self) -> None:
        try:
            while True:
                await self.attempt()
                await self._until_next_attempt()
        finally:
            if self.is_leader:
                # Stop acting before the Lease is free for a standby to take.
                self._set_leader(False)
                await asyncio.to_thread(self._release)

    async def _until_next_attempt(self) -> None:
        """`retry_period`, cut short when a replica that could not compete now may: it takes
        a free or expired Lease as soon as it is ready, not up to a period later."""
        if self._ready_to_lead():
            await asyncio.sleep(self._timing.retry_period)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timing.retry_period
        while not self._ready_to_lead() and loop.time() < deadline:
            await asyncio.sleep(min(MAY_LEAD_POLL, self._timing.retry_period))

    async def attempt(self) -> None:
        """One round: acquire or renew the Lease, then act on what happened."""
        started = self._monotonic()
        held: bool | None
        try:
            held = await asyncio.to_thread(self._try_acquire_or_renew, self._ready_to_lead())
        except Exception as error:  # whatever it is, the election goes on
            log.warning("leader election: %s", failure(error))
            held = None  # unknown
        if held:
            # The renewal was sent no earlier than `started`, so no other replica can have
            # seen it expire before `started + lease_duration`.
            self._renewed_at = started
            self._set_leader(True)
        elif held is None and self._within_renew_deadline():
            pass  # a leader keeps acting while its last renewal is recent enough
        else:
            self._set_leader(False)

    def _ready_to_lead(self) -> bool:
        """`may_lead`, no longer asked once it said yes (see the module's docstring)."""
        self._ready = self._ready or self._may_lead()
        return self._ready

    def _within_renew_deadline(self) -> bool:
        return (
            self.is_leader
            and self._renewed_at is not None
            and self._monotonic() - self._renewed_at < self._timing.renew_deadline
        )

    def _set_leader(self, leader: bool) -> None:
        if leader and not self.is_leader:
            log.info("became the leader (%s)", self.identity)
            self.is_leader = True
            self._on_elected()
        elif not leader and self.is_leader:
            log.warning("lost the leader Lease; standing by")
            self.is_leader = False

    def _try_acquire_or_renew(self, compete: bool) -> bool:
        """Whether this replica holds the Lease now; False when another one does, or when it
        does not `compete` (it only observes the Lease then)."""
        try:
            lease = self._leases.read_namespaced_lease(self._name, self._namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            lease = None
        record = LeaseRecord.of(lease) if lease is not None else None
        now = self._monotonic()
        if record is not None and record != self._observed:
            self._observed, self._observed_at = record, now
        if not compete:
            return False
        ours = record is not None and record.holder == self.identity
        if record is not None and not ours and record.holder:
            duration = record.duration_seconds or self._timing.lease_duration
            if now - self._observed_at <= duration:
                return False  # its holder was seen alive within the lease duration
        stamp = self._utc_now()
        spec = client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=int(self._timing.lease_duration),
            acquire_time=record.acquire_time if record is not None and ours else stamp,
            renew_time=stamp,
            lease_transitions=0 if record is None else record.transitions + (0 if ours else 1),
        )
        try:
            if lease is None:
                metadata = client.V1ObjectMeta(name=self._name, namespace=self._namespace)
                body = client.V1Lease(metadata=metadata, spec=spec)
                stored = self._leases.create_namespaced_lease(self._namespace, body)
            else:
                lease.spec = spec  # its resourceVersion makes the replace a compare-and-swap
                stored = self._leases.replace_namespaced_lease(self._name, self._namespace, lease)
        except ApiException as error:
            if error.status == 409:
                return False  # another replica created or wrote the Lease since it was read
            raise
        self._observed, self._observed_at = LeaseRecord.of(stored), now
        return True

    def _release(self) -> None:
        try:
            lease = self._leases.read_namespaced_lease(self._name, self._namespace)
            if lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.renew_time = None
            lease.spec.acquire_time = None
            self._leases.replace_namespaced_lease(self._name, self._namespace, lease)
            log.info("released the leader Lease")
        except Exception as error:
            # Shutting down regardless: a standby then takes over once the Lease expires.
            log.warning("could not release the leader Lease: %s", error)
