"""A coalescing work queue: each key is reconciled by one worker at a time, bursts collapse.

Like client-go's workqueue: a key added while it waits is not added twice; a key added while
it is being processed is processed once more afterwards, never concurrently. Keys wait
`settle` seconds after their first addition, so a burst of events becomes one reconcile.
"""

import asyncio
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, settle: float = 0.2) -> None:
        self._settle = settle
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}

    def add(self, key: K, delay: float | None = None) -> None:
        """Schedule `key`; it is handed out after `delay` (default: the settle time)."""
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # `done` re-queues it
        self._schedule(key, self._settle if delay is None else delay)

    async def get(self) -> K:
        key = await self._ready.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._schedule(key, self._settle)

    def __len__(self) -> int:
        return len(self._dirty)

    def _schedule(self, key: K, delay: float) -> None:
        if key in self._timers:
            return
        if delay <= 0:
            self._ready.put_nowait(key)
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._release, key)

    def _release(self, key: K) -> None:
        self._timers.pop(key, None)
        self._ready.put_nowait(key)
