"""Which refusals have their Warning Event posted, so that each is posted once, not once per
reconcile (the Events themselves: `listeners/refusal_events.py`).

The ledger lives in memory, so a restarted controller would post every refusal again; the
Event's name is therefore derived from what it reports, and the API server's AlreadyExists
answer to a second post of the same refusal says that it is posted already.
"""

import time
from collections.abc import Callable, Iterable, Sequence

from cachetools import TTLCache

from wrapped_gateway.listeners import Refusal, Refusals
from wrapped_gateway.listeners.refusal_events import in_turn_by_namespace
from wrapped_gateway.listeners.refusals import Chunk


class EventLedger:
    """Remembers which refusals were reported, for `ttl` seconds (the API server keeps an Event
    an hour by default: a refusal that lasts longer is reported again).

    A Gateway's refusals are asked about on each of its reconciles; one tenant's thousands of
    refused routes must not make every other tenant's change look all of them up (20 ms per
    15,000). A resumed synthesis passes the chunks of the refusals it kept again, the same
    objects (`Refusals.chunks`): a chunk whose every refusal was found reported is remembered
    by identity and answered without lookups for up to `recheck` seconds (an expiry is noticed
    that much later), so only the chunks a change made anew are looked up.
    """

    def __init__(
        self,
        ttl: float = 3600,
        maxsize: int = 50_000,
        recheck: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reported: TTLCache[tuple[str, ...], bool] = TTLCache(maxsize, ttl, timer=clock)
        self._recheck = recheck
        self._clock = clock
        # gateway -> id of each chunk of its refusals last found all reported: the chunk (held,
        # so that its id stays its own) and until when that holds
        self._settled: dict[str, dict[int, tuple[Chunk, float]]] = {}
        # gateway -> namespace -> the batch (a count) in which its refusals last had a turn
        self._turns: dict[str, dict[str, int]] = {}
        self._batches = 0

    def unreported(self, gateway_key: str, refusals: Sequence[Refusal]) -> list[Refusal]:
        """The refusals with no Event yet, taken in turn from each namespace (each namespace's
        in claim order), those that had their turn longest ago (or never) first, so that no
        tenant's refused routes, however old or many, hold back another tenant's Event."""
        now = self._clock()
        chunks = refusals.chunks if isinstance(refusals, Refusals) else (tuple(refusals),)
        settled = self._settled.get(gateway_key, {})
        still: dict[int, tuple[Chunk, float]] = {}  # only the current chunks are kept
        unreported: list[Refusal] = []
        for chunk in chunks:
            known = settled.get(id(chunk))
            if known is not None and known[0] is chunk and now < known[1]:
                still[id(chunk)] = known
                continue
            missing = [r for r in chunk if _mark(gateway_key, r) not in self._reported]
            if missing:
                unreported += missing
            else:
                still[id(chunk)] = (chunk, now + self._recheck)
        self._settled[gateway_key] = still
        if not unreported:
            self._turns.pop(gateway_key, None)
        return in_turn_by_namespace(unreported, self._turns.get(gateway_key, {}))

    def posting(self, gateway_key: str, batch: Iterable[Refusal]) -> None:
        """The Events of `batch` are being posted: its namespaces have had their turn, whether
        or not each post succeeds (one that always fails must not keep its place)."""
        self._batches += 1
        turns = self._turns.setdefault(gateway_key, {})
        for refusal in batch:
            turns[refusal.namespace] = self._batches

    def reported(self, gateway_key: str, refusal: Refusal) -> None:
        """Called once its Event is posted: a refusal whose post failed stays unreported, so
        the next reconcile posts it."""
        self._reported[_mark(gateway_key, refusal)] = True

    def forget(self, gateway_key: str) -> None:
        """The Gateway is gone: its remembered refusals are not kept alive."""
        self._settled.pop(gateway_key, None)
        self._turns.pop(gateway_key, None)


def _mark(gateway_key: str, refusal: Refusal) -> tuple[str, ...]:
    return (
        gateway_key,
        refusal.kind,
        refusal.namespace,
        refusal.name,
        refusal.reason,
        refusal.message,
    )
