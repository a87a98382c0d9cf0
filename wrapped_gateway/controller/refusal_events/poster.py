"""`RefusalEvents`: the one owner of the refused routes' Warning Events. Reconciles tell it
what they found; it decides what to post and when (its ledger, `ledger.py`), makes each Event
(`event.py`), posts it and records the outcome.

It posts apart from the reconciles: a batch at a time, the WrappedGateways in turn. Apart, so
that a flood of thousands of refused routes neither makes each reconcile of the shared Gateway
last as long as its batch of posts (a key rests in proportion to its last reconcile, so every
tenant's next change would wait longer) nor brings the Gateway back to the work queue once a
second to post the next batch.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import urllib3
from kubernetes.client import ApiException

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.controller import metrics
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.kube import KubeApi, failure
from wrapped_gateway.controller.refusal_events.event import refusal_event
from wrapped_gateway.controller.refusal_events.ledger import MAX_POST_ATTEMPTS, EventLedger
from wrapped_gateway.listeners import Refusal

log = logging.getLogger(__name__)
EVENTS_PER_BATCH = 25
BATCH_PAUSE = 0.25  # seconds from a batch's start to the next's: 100 Events a second at most
MAX_BACKOFF = 60.0  # seconds between batches at most (from 1, doubling) while the API server
# cannot take them


class RefusalEvents:
    """What the reconciles report goes through `offer`, `withdraw` and `forget`; `run` posts."""

    def __init__(
        self,
        api: KubeApi,
        index: ClusterIndex,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ledger: EventLedger | None = None,  # one on a clock the caller controls (tests)
    ) -> None:
        self._api = api
        self._index = index
        self._clock = clock
        self._ledger = EventLedger() if ledger is None else ledger
        self._offered = asyncio.Event()
        self._backoff = 0.0  # the pause after a batch the API server could not take
        self._refusing: set[str] = set()  # namespaces that refused an Event since the last post

    def offer(self, gateway: ObjectKey, refusals: Sequence[Refusal]) -> None:
        """The refusals a reconcile of the Gateway found; those unreported are posted in turn."""
        self._ledger.offer(gateway, refusals)
        self._offered.set()

    def withdraw(self, gateway: ObjectKey) -> None:
        """The Gateway reports no refusals for now (its spec is invalid, its namespace is being
        deleted): none of its Events is posted until it offers some again."""
        self._ledger.withdraw(gateway)

    def forget(self, gateway: ObjectKey) -> None:
        """The WrappedGateway is gone: nothing of its refusals is kept or posted."""
        self._ledger.forget(gateway)

    async def run(self, may_post: Callable[[], bool]) -> None:
        """Post batches while `may_post` (the leader's replica), until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            self._offered.clear()  # before the batch: an offer from now on wakes the wait below
            posting = may_post()
            if not posting:
                self._ledger.stand_by()
            began = loop.time()
            pause = await self.post_next() if posting else None
            if pause is None:
                # A standby waits for offers (a replica makes them once it leads); it must not
                # wake for retries it may not make.
                retry_in = self._ledger.due_in() if posting else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._offered.wait(), retry_in)
                continue
            # from the batch's start: the posts' own time counts towards the pace
            await asyncio.sleep(max(0.0, began + pause - loop.time()))

    async def post_next(self) -> float | None:
        """Post the next batch in turn (`run`'s step); how long to wait before the one after
        it, or None when no batch is ready."""
        taken = self._ledger.take(EVENTS_PER_BATCH)
        return None if taken is None else await self._post(*taken)

    async def _post(self, gateway_key: ObjectKey, batch: Sequence[Refusal]) -> float:
        """Post the Events of `batch`, refusals of the Gateway `gateway_key`; how long to wait
        before the next batch (longer, and growing, while the API server cannot take them)."""
        now = self._clock()
        for n, refusal in enumerate(batch):
            if gateway_key not in self._ledger:
                break  # forgotten (the WrappedGateway deleted) while its batch was posted
            if self._index.terminating(refusal.namespace):
                # It goes, and its routes with it; the API server takes no Event there.
                self._ledger.reported(gateway_key, refusal)
                self._refusing.discard(refusal.namespace)
                continue
            route = self._index.route((refusal.kind, refusal.namespace, refusal.name))
            try:
                event = refusal_event(refusal, route, gateway_key, now)
                await asyncio.to_thread(self._api.create_event, event)
            except Exception as error:
                if _unavailable(error):
                    # Not this Event's fault: none is charged, the batch waits for the server.
                    self._ledger.put_back(gateway_key, batch[n:])
                    return self._server_unavailable(error)
                if not (isinstance(error, ApiException) and error.status == 409):
                    self._refused(gateway_key, refusal, error)
                    continue
                # 409 AlreadyExists: its name is derived from the refusal, so this controller
                # before a restart, or another replica, posted it. Its count and lastTimestamp
                # are left alone: the refusal did not happen again, it is the same one seen
                # anew, and a restart with nothing changed should write nothing.
                metrics.REFUSAL_EVENTS.labels(result="exists").inc()
            else:
                metrics.REFUSAL_EVENTS.labels(result="posted").inc()
                self._refusing.discard(refusal.namespace)
            self._ledger.reported(gateway_key, refusal)
        self._backoff = 0.0
        return BATCH_PAUSE

    def _refused(self, gateway_key: ObjectKey, refusal: Refusal, error: Exception) -> None:
        """The API server refused this Event (a quota, a policy of its namespace)."""
        last = self._ledger.post_failed(gateway_key, refusal)
        metrics.REFUSAL_EVENTS.labels(result="given-up" if last else "failed").inc()
        if last:
            self._refusing.discard(refusal.namespace)  # warned of again if it goes on
        elif refusal.namespace not in self._refusing:  # once per namespace, not per Event
            self._refusing.add(refusal.namespace)
            log.warning(
                "namespace %s refuses Events (%s, for %s); each is posted again after a "
                "growing pause, and given up after %d attempts until its report would expire",
                refusal.namespace,
                failure(error),
                refusal,
                MAX_POST_ATTEMPTS,
            )

    def _server_unavailable(self, error: Exception) -> float:
        if not self._backoff:
            log.warning("could not post Events (%s); pausing them", failure(error))
        metrics.REFUSAL_EVENTS.labels(result="failed").inc()
        self._backoff = min(MAX_BACKOFF, 2 * self._backoff or 1.0)
        return self._backoff


def _unavailable(error: Exception) -> bool:
    """An API server that could not be reached or answered in time, that did not take this
    controller's credentials (401: a token being rotated), throttled it (429) or failed (5xx):
    it would take no Event just then. Any other error is this Event's (a refusal, or a bug in
    making it) and is charged to it."""
    if isinstance(error, ApiException):
        status = error.status or 0
        return status in (0, 401, 429) or status >= 500
    return isinstance(error, OSError | TimeoutError | urllib3.exceptions.HTTPError)
