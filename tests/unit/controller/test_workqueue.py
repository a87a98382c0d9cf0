import asyncio
import random

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


async def wait_for_key(queue: WorkQueue[str], timeout: float) -> float:
    """Seconds until `queue` hands a key out."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.wait_for(queue.get(), timeout)
    return loop.time() - start


@pytest.mark.parametrize("settle", [0.0, 0.01])
def test_a_burst_of_additions_becomes_one_item(settle: float) -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue(settle=settle)
        for _ in range(1000):
            queue.add("a")
        queue.add("b")
        return await drain(queue)

    assert sorted(asyncio.run(scenario())) == ["a", "b"]


def test_an_idle_key_is_handed_out_at_once() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=10)
        queue.add("a")
        return await wait_for_key(queue, timeout=1)

    assert asyncio.run(scenario()) < 0.05


@pytest.mark.parametrize("settle", [0.0, 0.05])
def test_a_key_added_while_processing_comes_back_once_afterwards(settle: float) -> None:
    async def scenario() -> tuple[str, list[str]]:
        queue: WorkQueue[str] = WorkQueue(settle=settle, cost_factor=0)
        queue.add("a")
        key = await queue.get()
        for _ in range(10):
            queue.add("a")  # events during the reconcile
        # not handed out while it is being processed
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(queue.get(), 0.1)
        queue.done(key)
        return key, await drain(queue, timeout=0.2)

    assert asyncio.run(scenario()) == ("a", ["a"])


def test_a_burst_during_a_slow_reconcile_becomes_one_more_reconcile() -> None:
    async def scenario() -> int:
        queue: WorkQueue[str] = WorkQueue(settle=0.05, cost_factor=0)
        runs = 0
        processing = asyncio.Event()

        async def worker() -> None:
            nonlocal runs
            while True:
                key = await queue.get()
                runs += 1
                processing.set()
                await asyncio.sleep(0.3)  # a slow reconcile
                queue.done(key)

        workers = [asyncio.create_task(worker()) for _ in range(4)]
        queue.add("a")
        await processing.wait()
        for _ in range(1000):
            queue.add("a")
            await asyncio.sleep(0)
        await asyncio.sleep(1)
        for task in workers:
            task.cancel()
        return runs

    assert asyncio.run(scenario()) == 2


def test_a_key_rests_for_the_settle_time_after_a_reconcile() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0.1)
        queue.add("a")
        queue.done(await queue.get())
        queue.add("a")
        return await wait_for_key(queue, timeout=1)

    assert 0.09 <= asyncio.run(scenario()) < 0.5


def test_a_key_whose_rest_is_over_is_handed_out_at_once() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0.05)
        queue.add("a")
        queue.done(await queue.get())
        await asyncio.sleep(0.1)
        queue.add("a")
        return await wait_for_key(queue, timeout=1)

    assert asyncio.run(scenario()) < 0.04


def test_a_delayed_key_waits() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0)
        queue.add("a", delay=0.1)
        return await wait_for_key(queue, timeout=1)

    assert asyncio.run(scenario()) >= 0.09


def test_a_retry_waits_at_least_the_settle_time() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0.1)
        queue.add("a")
        queue.done(await queue.get())
        queue.add("a", delay=0.01)  # what the operator does after a failure
        return await wait_for_key(queue, timeout=1)

    assert asyncio.run(scenario()) >= 0.09


def test_a_change_during_a_retry_backoff_is_not_held_back_by_it() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0)
        queue.add("a", delay=60)
        queue.add("a")
        return await wait_for_key(queue, timeout=1)

    assert asyncio.run(scenario()) < 0.05


def test_a_later_request_does_not_postpone_an_earlier_one() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0)
        queue.add("a", delay=0.05)
        queue.add("a", delay=60)
        return await wait_for_key(queue, timeout=1)

    assert asyncio.run(scenario()) < 0.5


def test_under_random_load_no_key_runs_twice_at_once_and_every_addition_is_served() -> None:
    keys = [f"gw{i}" for i in range(5)]
    chance = random.Random(7)

    async def scenario() -> tuple[dict[str, float], dict[str, float]]:
        queue: WorkQueue[str] = WorkQueue(settle=0.005)
        loop = asyncio.get_running_loop()
        active: set[str] = set()
        last_added: dict[str, float] = {}
        last_started: dict[str, float] = {}

        async def worker() -> None:
            while True:
                key = await queue.get()
                assert key not in active, f"{key} handed out while being processed"
                active.add(key)
                last_started[key] = loop.time()
                await asyncio.sleep(chance.uniform(0, 0.01))
                active.discard(key)
                queue.done(key)

        workers = [asyncio.create_task(worker()) for _ in range(4)]
        for _ in range(600):
            key = chance.choice(keys)
            last_added[key] = loop.time()
            queue.add(key, delay=chance.choice([0.0, 0.0, 0.0, 0.02]))
            await asyncio.sleep(chance.uniform(0, 0.001))
        await asyncio.sleep(0.2)
        for task in workers:
            task.cancel()
        assert len(queue) == 0
        return last_added, last_started

    last_added, last_started = asyncio.run(scenario())
    for key, added in last_added.items():
        assert last_started[key] >= added, f"{key}'s last addition was never served"


def test_a_key_rests_longer_after_a_costly_reconcile() -> None:
    """Under sustained changes a key whose reconcile is slow gathers more into each one, so
    the controller cannot fall behind the stream."""

    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0.01, cost_factor=4)
        queue.add("a")
        key = await queue.get()
        await asyncio.sleep(0.1)  # a reconcile of 0.1 s
        queue.done(key)
        queue.add("a")
        return await wait_for_key(queue, timeout=2)

    assert 0.35 <= asyncio.run(scenario()) < 1.0


def test_after_a_costly_reconcile_an_idle_key_is_still_handed_out_at_once() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(settle=0.01, cost_factor=1)
        queue.add("a")
        key = await queue.get()
        await asyncio.sleep(0.05)
        queue.done(key)
        await asyncio.sleep(0.1)  # its rest is over
        queue.add("a")
        return await wait_for_key(queue, timeout=1)

    assert asyncio.run(scenario()) < 0.04


def burst_queue(hold: float = 5.0) -> WorkQueue[str]:
    return WorkQueue(settle=0.01, cost_factor=0, burst_keys=3, burst_window=0.2, burst_hold=hold)


async def keep_adding(queue: WorkQueue[str], keys: list[str], seconds: float) -> None:
    """Changes to `keys`, every 20 ms, for `seconds`."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        for key in keys:
            queue.add(key)
        await asyncio.sleep(0.02)


async def second_hand_out_of_a(queue: WorkQueue[str], others: list[str], seconds: float) -> float:
    """While `others` change for `seconds` (served by a worker that reconciles at once), "a"
    is reconciled, then changes again: how long that change waits."""
    loop = asyncio.get_running_loop()
    handed_out: list[tuple[str, float]] = []

    async def worker() -> None:
        while True:
            key = await queue.get()
            handed_out.append((key, loop.time()))
            queue.done(key)

    serving = asyncio.create_task(worker())
    changing = asyncio.create_task(keep_adding(queue, others, seconds))
    await asyncio.sleep(0.1)  # the others have been changing for a while
    queue.add("a")
    while not any(key == "a" for key, _ in handed_out):
        await asyncio.sleep(0.005)
    changed = loop.time()
    queue.add("a")
    while sum(key == "a" for key, _ in handed_out) < 2:
        await asyncio.sleep(0.005)
    serving.cancel()
    changing.cancel()
    return [t for key, t in handed_out if key == "a"][1] - changed


def test_under_a_burst_a_reconciled_key_waits_for_the_burst_to_end() -> None:
    # b, c and d change within 0.2 s: a burst, until 0.6 s, plus the 0.2 s window
    waited = asyncio.run(second_hand_out_of_a(burst_queue(hold=5), ["b", "c", "d"], seconds=0.6))
    assert 0.5 <= waited < 1.5


def test_a_burst_holds_a_key_no_longer_than_burst_hold() -> None:
    waited = asyncio.run(second_hand_out_of_a(burst_queue(hold=0.3), ["b", "c", "d"], seconds=3))
    assert 0.25 <= waited < 1.0


def test_changes_to_few_keys_are_not_held() -> None:
    # A tenant editing the routes of one or two WrappedGateways is no burst.
    waited = asyncio.run(second_hand_out_of_a(burst_queue(hold=5), ["b"], seconds=3))
    assert waited < 0.2


def test_retries_are_not_counted_as_a_burst() -> None:
    async def scenario() -> float:
        queue = burst_queue()
        for key in ("b", "c", "d", "e"):
            queue.add(key, delay=10)  # failed reconciles waiting out their backoff
        return await second_hand_out_of_a(queue, [], seconds=0)

    assert asyncio.run(scenario()) < 0.2


def test_once_the_burst_is_over_a_held_key_still_rests_after_a_costly_reconcile() -> None:
    async def scenario() -> float:
        queue: WorkQueue[str] = WorkQueue(
            settle=0.01, cost_factor=4, burst_keys=3, burst_window=0.3, burst_hold=5
        )
        loop = asyncio.get_running_loop()
        for key in ("b", "c", "d"):  # a burst, over at 0.3 s
            queue.add(key)
        queue.add("a")
        while (key := await queue.get()) != "a":
            queue.done(key)
        started = loop.time()
        await asyncio.sleep(0.1)  # a reconcile of 0.1 s: an ordinary rest of 0.4 s
        queue.done("a")
        queue.add("a")
        await wait_for_key(queue, timeout=3)
        return loop.time() - started

    # released when the burst is over, but not before the end of its ordinary rest
    assert 0.45 <= asyncio.run(scenario()) < 1.5


def test_the_keys_held_for_a_burst_are_counted_until_it_is_over() -> None:
    async def scenario() -> tuple[int, int]:
        queue = burst_queue(hold=5)
        for key in ("b", "c", "d", "a"):
            queue.add(key)
        while (key := await queue.get()) != "a":
            queue.done(key)
        queue.done("a")
        during = queue.held_for_burst
        await asyncio.sleep(0.4)  # the 0.2 s window passes with no more changes
        return during, queue.held_for_burst

    assert asyncio.run(scenario()) == (4, 0)


def test_the_end_of_a_burst_does_not_cut_a_retrys_backoff() -> None:
    async def scenario() -> float:
        queue = burst_queue(hold=5)
        loop = asyncio.get_running_loop()
        for key in ("b", "c", "d", "a"):  # a burst, over at 0.2 s
            queue.add(key)
        while (key := await queue.get()) != "a":
            queue.done(key)
        queue.done("a")  # its reconcile failed: held, then retried after a 0.6 s backoff
        queue.add("a", delay=0.6)
        started = loop.time()
        while (key := await queue.get()) != "a":
            queue.done(key)
        return loop.time() - started

    assert 0.55 <= asyncio.run(scenario()) < 1.5
