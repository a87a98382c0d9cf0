"""A coalescing work queue: each key is reconciled by one worker at a time, bursts collapse.

Like client-go's workqueue: a key added while it waits is not added twice; a key added while
it is being processed is processed once more afterwards, never concurrently. So a burst of
events that arrives during a reconcile becomes one more reconcile.

An idle key is handed out at once, so a single change is not held back. After each reconcile
a key rests before it is handed out again: `settle` seconds, or `cost_factor` times as long as
that reconcile took if that is longer. So under sustained events a key is reconciled at most
about once per `reconcile time + rest`, each time with everything that arrived meanwhile, and
the more a reconcile costs (thousands of routes, a Gateway write the API server validates
slowly, a saturated process) the more each one gathers: the controller spends at most about
1 / (1 + cost_factor) of its time on one busy key.

Under a burst across many keys (at least `burst_keys` distinct keys added within
`burst_window` seconds, as when thousands of routes are created over many WrappedGateways) a
key that was reconciled rests until the burst is over, or `burst_hold` seconds at most, so
that each Gateway is written a few times per burst instead of once per second or two; the
keys held are handed out as soon as the burst ends. Per key, a burst looks like a stream of
single changes (one every second or two), so only the controller-wide count tells them apart.
A key that was not reconciled during the burst is still handed out at once, and so is every
key when changes come to fewer keys (a tenant editing its routes).
"""

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        settle: float = 0.2,
        cost_factor: float = 3.0,
        burst_keys: int = 10,
        burst_window: float = 1.0,
        burst_hold: float = 30.0,
    ) -> None:
        self._settle = settle
        self._cost_factor = cost_factor
        self._burst_keys = burst_keys
        self._burst_window = burst_window
        self._burst_hold = burst_hold
        # Additions of the last burst_window seconds, and how many of them each key has.
        self._recent: deque[tuple[float, K]] = deque()
        self._recent_counts: dict[K, int] = {}
        # Keys resting until the burst is over, and when their ordinary rest ends.
        self._held: dict[K, float] = {}
        # Keys waiting for a delay (a retry's backoff), which the end of a burst must not cut.
        self._delayed_until: dict[K, float] = {}
        self._burst_check: asyncio.TimerHandle | None = None
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()  # waiting, or to run again after processing
        self._processing: dict[K, float] = {}  # key -> loop time it was handed out
        self._timers: dict[K, asyncio.TimerHandle] = {}
        # Loop time until which each recently processed key rests, and the same as a heap of
        # (end, n, key) so that ended rests are forgotten in order (stale entries skipped).
        self._rest_ends: dict[K, float] = {}
        self._rest_heap: list[tuple[float, int, K]] = []
        self._sequence = itertools.count()

    def add(self, key: K, delay: float = 0.0) -> None:
        """Schedule `key` in `delay` seconds, or when its rest ends if that is later.

        The earliest request wins: a change while a retry waits out its backoff runs at once.
        """
        now = asyncio.get_running_loop().time()
        if delay == 0:  # a change, not a retry: counted towards a burst
            self._count_addition(key, now)
        if key in self._processing:
            self._dirty.add(key)  # `done` schedules it
            return
        due = max(now + delay, self._rest_end(key, now))
        if key in self._dirty:
            timer = self._timers.get(key)
            if timer is None or timer.when() <= due:
                return  # already ready, or due no later
            timer.cancel()
            del self._timers[key]
        self._dirty.add(key)
        if delay:
            self._delayed_until[key] = now + delay
        else:
            self._delayed_until.pop(key, None)
        self._schedule(key, due)

    async def get(self) -> K:
        key = await self._ready.get()
        self._dirty.discard(key)
        self._delayed_until.pop(key, None)
        self._processing[key] = asyncio.get_running_loop().time()
        return key

    def done(self, key: K) -> None:
        now = asyncio.get_running_loop().time()
        took = now - self._processing.pop(key, now)
        rest = max(self._settle, self._cost_factor * took)
        self._held.pop(key, None)  # held before this reconcile: that rest is over
        if self._burst_hold > rest and self._in_burst(now):
            self._held[key] = now + rest  # when its rest ends once the burst is over
            rest = self._burst_hold
            self._watch_burst()
        self._forget_rests_ended_by(now)
        if rest > 0:
            self._rest_ends[key] = now + rest
            heapq.heappush(self._rest_heap, (now + rest, next(self._sequence), key))
        if key in self._dirty:
            self._schedule(key, now + rest)

    def __len__(self) -> int:
        return len(self._dirty)

    @property
    def held_for_burst(self) -> int:
        """How many keys rest until the current burst is over."""
        return len(self._held)

    def _rest_end(self, key: K, now: float) -> float:
        self._forget_rests_ended_by(now)
        return self._rest_ends.get(key, now)

    def _forget_rests_ended_by(self, now: float) -> None:
        while self._rest_heap and self._rest_heap[0][0] <= now:
            end, _, key = heapq.heappop(self._rest_heap)
            if self._rest_ends.get(key) == end:
                del self._rest_ends[key]

    def _count_addition(self, key: K, now: float) -> None:
        self._forget_additions_before(now - self._burst_window)
        self._recent.append((now, key))
        self._recent_counts[key] = self._recent_counts.get(key, 0) + 1

    def _in_burst(self, now: float) -> bool:
        self._forget_additions_before(now - self._burst_window)
        return len(self._recent_counts) >= self._burst_keys

    def _forget_additions_before(self, start: float) -> None:
        while self._recent and self._recent[0][0] <= start:
            _, key = self._recent.popleft()
            left = self._recent_counts.pop(key) - 1
            if left:
                self._recent_counts[key] = left

    def _watch_burst(self) -> None:
        if self._burst_check is None:
            loop = asyncio.get_running_loop()
            self._burst_check = loop.call_later(self._burst_window / 4, self._release_held)

    def _release_held(self) -> None:
        """Once the burst is over, the held keys rest only as long as they would have."""
        self._burst_check = None
        now = asyncio.get_running_loop().time()
        if self._in_burst(now):
            self._watch_burst()
            return
        for key, rest_end in self._held.items():
            if self._rest_ends.get(key, now) <= rest_end:
                continue  # handed out since, or held no longer than its ordinary rest
            self._rest_ends[key] = rest_end
            heapq.heappush(self._rest_heap, (rest_end, next(self._sequence), key))
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()
                self._schedule(key, max(rest_end, self._delayed_until.get(key, rest_end)))
        self._held.clear()

    def _schedule(self, key: K, due: float) -> None:
        loop = asyncio.get_running_loop()
        if due <= loop.time():
            self._ready.put_nowait(key)
        else:
            self._timers[key] = loop.call_at(due, self._release, key)

    def _release(self, key: K) -> None:
        del self._timers[key]
        self._ready.put_nowait(key)
