"""Posts the Warning Events of refused routes, apart from the reconciles: a batch at a time,
the WrappedGateways in turn (which are posted already, and in what order, is the ledger's:
`listeners/event_ledger.py`).

Apart, so that a flood of thousands of refused routes neither makes each reconcile of the
shared Gateway last as long as its batch of posts (a key rests in proportion to its last
reconcile, so every tenant's next change would wait longer) nor brings the Gateway back to
the work queue once a second to post the next batch.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from kubernetes.client import ApiException

from wrapped_gateway.controller import metrics
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.kube import KubeApi, failure
from wrapped_gateway.listeners import Refusal
from wrapped_gateway.listeners.event_ledger import EventLedger
from wrapped_gateway.listeners.refusal_events import refusal_event

log = logging.getLogger(__name__)
EVENTS_PER_BATCH = 25
BATCH_PAUSE = 0.25  # seconds between batches, whoever's: 100 Events a second at the most


class EventPoster:
    def __init__(
        self,
        api: KubeApi,
        index: ClusterIndex,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = api
        self._index = index
        self._clock = clock
        self.ledger = EventLedger()
        self._offered = asyncio.Event()

    def offer(self, gateway_key: str, refusals: Sequence[Refusal]) -> None:
        """The refusals a reconcile of the Gateway found; those unreported are posted in turn."""
        self.ledger.offer(gateway_key, refusals)
        self._offered.set()

    async def run(self, may_post: Callable[[], bool]) -> None:
        """Post batches while `may_post` (the leader's replica), until cancelled."""
        while True:
            self._offered.clear()  # before `take`: an offer from now on wakes the wait below
            posting = may_post()
            taken = self.ledger.take(EVENTS_PER_BATCH) if posting else None
            if taken is None:
                # A standby waits for offers (a replica makes them once it leads); it must not
                # wake for retries it may not make.
                retry_in = self.ledger.due_in() if posting else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._offered.wait(), retry_in)
                continue
            await self.post(*taken)
            await asyncio.sleep(BATCH_PAUSE)

    async def post(self, gateway_key: str, batch: Sequence[Refusal]) -> None:
        """Post the Events of `batch`, refusals of the Gateway `gateway_key`."""
        now = self._clock()
        for refusal in batch:
            route = self._index.route((refusal.kind, refusal.namespace, refusal.name))
            try:
                event = refusal_event(refusal, route, gateway_key, now)
                await asyncio.to_thread(self._api.create_event, event)
            except Exception as error:
                if not (isinstance(error, ApiException) and error.status == 409):
                    # This one stays unreported and is posted again after a pause (or, after
                    # many failures, given up until its report would expire).
                    last = self.ledger.post_failed(gateway_key, refusal)
                    metrics.REFUSAL_EVENTS.labels(result="given-up" if last else "failed").inc()
                    given_up = "; given up until its report would expire" if last else ""
                    log.warning(
                        "could not post an Event for %s: %s%s", refusal, failure(error), given_up
                    )
                    continue
                # 409 AlreadyExists: its name is derived from the refusal, so this controller
                # before a restart, or another replica, posted it. Its count and lastTimestamp
                # are left alone: the refusal did not happen again, it is the same one seen
                # anew, and a restart with nothing changed should write nothing.
                metrics.REFUSAL_EVENTS.labels(result="exists").inc()
            else:
                metrics.REFUSAL_EVENTS.labels(result="posted").inc()
            self.ledger.reported(gateway_key, refusal)
