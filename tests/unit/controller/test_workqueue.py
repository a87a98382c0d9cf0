import asyncio

import pytest

from wrapped_gateway.controller.workqueue import WorkQueue


async def drain(queue: WorkQueue[str], timeout: float = 0.05) -> list[str]:
    keys = []
    while True:
        try:
            key = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            return keys
        keys.append(key)
        queue.done(key)


@pytest.mark.parametrize("settle", [0.0, 0.01])
def test_a_burst_of_additions_becomes_one_item(settle: float) -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue(settle=settle)
        for _ in range(1000):
            queue.add("a")
        queue.add("b")
        return await drain(queue)

    assert sorted(asyncio.run(scenario())) == ["a", "b"]


def test_a_key_added_while_processing_comes_back_once_afterwards() -> None:
    async def scenario() -> tuple[str, list[str]]:
        queue: WorkQueue[str] = WorkQueue(settle=0)
        queue.add("a")
        key = await queue.get()
        for _ in range(10):
            queue.add("a")  # events during the reconcile
        # not handed out while it is being processed
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.get(), 0.05)
        queue.done(key)
        return key, await drain(queue)

    assert asyncio.run(scenario()) == ("a", ["a"])


def test_a_delayed_key_waits() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0)
        loop = asyncio.get_running_loop()
        start = loop.time()
        queue.add("a", delay=0.1)
        await queue.get()
        return loop.time() - start

    assert asyncio.run(scenario()) >= 0.09
