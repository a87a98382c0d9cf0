"""Leader election through a coordination.k8s.io Lease, so that one replica of many acts.

The holder renews the Lease every `retry_period`; a standby takes it over once it has not
been renewed for `lease_duration`. A leader that cannot renew within `renew_deadline` steps
down before anyone else may take over, so two replicas never act at once. On shutdown the
leader releases the Lease, so a standby takes over at its next attempt.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubernetes import client
from kubernetes.client import ApiException

from wrapped_gateway.controller import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class LeaderElector:
    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming = LeaseTiming(),
        on_elected: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = client.CoordinationV1Api(api_client)
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._timing = timing
        self._on_elected = on_elected
        self._clock = clock
        self._renewed_at: datetime | None = None
        self.is_leader = False

    async def run(self) -> None:
        try:
            while True:
                try:
                    held = await asyncio.to_thread(self._try_acquire_or_renew)
                except ApiException as error:
                    log.warning("leader election: %s %s", error.status, error.reason)
                    held = False
                self._update(held)
                await asyncio.sleep(self._timing.retry_period)
        finally:
            if self.is_leader:
                await asyncio.to_thread(self._release)
                self._update(False)

    def _update(self, held: bool) -> None:
        now = self._clock()
        if held:
            self._renewed_at = now
        elif self.is_leader and self._renewed_at is not None:
            # Keep acting only while the last renewal is within the deadline.
            held = now - self._renewed_at < timedelta(seconds=self._timing.renew_deadline)
        if held and not self.is_leader:
            log.info("became the leader (%s)", self.identity)
            self.is_leader = True
            self._on_elected()
        elif not held and self.is_leader:
            log.warning("lost the leader Lease; standing by")
            self.is_leader = False
        metrics.LEADER.set(1 if self.is_leader else 0)

    def _try_acquire_or_renew(self) -> bool:
        now = self._clock()
        try:
            lease = self._api.read_namespaced_lease(self._name, self._namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            self._api.create_namespaced_lease(self._namespace, self._lease_body(now))
            return True
        spec = lease.spec
        holder = spec.holder_identity
        renewed = spec.renew_time or spec.acquire_time
        duration = spec.lease_duration_seconds or self._timing.lease_duration
        expired = renewed is None or now - renewed > timedelta(seconds=duration)
        if holder not in (None, "", self.identity) and not expired:
            return False
        transitions = (spec.lease_transitions or 0) + (0 if holder == self.identity else 1)
        acquired = spec.acquire_time if holder == self.identity else now
        lease.spec = client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=int(self._timing.lease_duration),
            acquire_time=acquired,
            renew_time=now,
            lease_transitions=transitions,
        )
        try:
            # The resourceVersion in `lease` makes this a compare-and-swap.
            self._api.replace_namespaced_lease(self._name, self._namespace, lease)
        except ApiException as error:
            if error.status == 409:
                return False  # another replica got there first
            raise
        return True

    def _release(self) -> None:
        try:
            lease = self._api.read_namespaced_lease(self._name, self._namespace)
            if lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.renew_time = None
            lease.spec.acquire_time = None
            self._api.replace_namespaced_lease(self._name, self._namespace, lease)
            log.info("released the leader Lease")
        except ApiException as error:
            log.warning("could not release the leader Lease: %s", error.reason)

    def _lease_body(self, now: datetime) -> client.V1Lease:
        return client.V1Lease(
            metadata=client.V1ObjectMeta(name=self._name, namespace=self._namespace),
            spec=client.V1LeaseSpec(
                holder_identity=self.identity,
                lease_duration_seconds=int(self._timing.lease_duration),
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
