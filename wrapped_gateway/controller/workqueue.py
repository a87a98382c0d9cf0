"""A coalescing work queue: each key is reconciled by one worker at a time, bursts collapse.

Like client-go's workqueue: a key added while it waits is not added twice; a key added while
it is being processed is processed once more afterwards, never concurrently. So a burst of
events that arrives during a reconcile becomes one more reconcile.

An idle key is handed out at once, so a single change is not held back. A key rests for
`settle` seconds after each reconcile before it is handed out again: under sustained events
one key is reconciled at most about once per `reconcile time + settle`, each time with
everything that arrived meanwhile.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, settle: float = 0.2) -> None:
        self._settle = settle
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()  # waiting, or to run again after processing
        self._processing: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        # Loop time until which each recently processed key rests; in order of that time,
        # since every rest is equally long, so expired ones are dropped from the front.
        self._rest_ends: OrderedDict[K, float] = OrderedDict()

    def add(self, key: K, delay: float = 0.0) -> None:
        """Schedule `key` in `delay` seconds, or when its rest ends if that is later.

        The earliest request wins: a change while a retry waits out its backoff runs at once.
        """
        if key in self._processing:
            self._dirty.add(key)  # `done` schedules it
            return
        now = asyncio.get_running_loop().time()
        due = max(now + delay, self._rest_end(key, now))
        if key in self._dirty:
            timer = self._timers.get(key)
            if timer is None or timer.when() <= due:
                return  # already ready, or due no later
            timer.cancel()
            del self._timers[key]
        self._dirty.add(key)
        self._schedule(key, due)

    async def get(self) -> K:
        key = await self._ready.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        now = asyncio.get_running_loop().time()
        self._forget_rests_ended_by(now)
        if self._settle > 0:
            self._rest_ends[key] = now + self._settle
            self._rest_ends.move_to_end(key)
        if key in self._dirty:
            self._schedule(key, now + self._settle)

    def __len__(self) -> int:
        return len(self._dirty)

    def _rest_end(self, key: K, now: float) -> float:
        self._forget_rests_ended_by(now)
        return self._rest_ends.get(key, now)

    def _forget_rests_ended_by(self, now: float) -> None:
        while self._rest_ends and next(iter(self._rest_ends.values())) <= now:
            self._rest_ends.popitem(last=False)

    def _schedule(self, key: K, due: float) -> None:
        loop = asyncio.get_running_loop()
        if due <= loop.time():
            self._ready.put_nowait(key)
        else:
            self._timers[key] = loop.call_at(due, self._release, key)

    def _release(self, key: K) -> None:
        del self._timers[key]
        self._ready.put_nowait(key)
