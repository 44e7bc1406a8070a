"""The loop of every background worker (consumers/periodic.py): a tick at once, then one
per interval; a failed tick is logged and the loop goes on; ``wake`` and a busy tick bring
the next one forward; ``request_stop`` lets the tick in hand finish."""

from __future__ import annotations

import asyncio
import time

from structlog.testing import capture_logs

from consumers.periodic import Periodic, logged

HOUR = 3600.0


class Ticks:
    """A tick that counts, can be made to fail or block, and returns what it is told."""

    def __init__(self, *results: object) -> None:
        self.count = 0
        self.results = list(results)
        self.failing = 0
        self.ticked = asyncio.Event()
        self.hold: asyncio.Event | None = None

    async def __call__(self) -> object:
        self.count += 1
        self.ticked.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.failing:
            self.failing -= 1
            raise RuntimeError("database unavailable")
        return self.results.pop(0) if self.results else 0

    async def next(self) -> None:
        self.ticked.clear()
        await asyncio.wait_for(self.ticked.wait(), 5)


async def test_ticks_at_once_then_once_per_interval() -> None:
    tick = Ticks()
    loop = Periodic(tick, 0.2, failed="tick_failed")
    started = time.monotonic()
    running = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    assert tick.count == 1
    await tick.next()
    await tick.next()
    assert time.monotonic() - started >= 0.4
    loop.request_stop()
    await asyncio.wait_for(running, 5)


async def test_a_failed_tick_is_logged_and_the_loop_goes_on() -> None:
    tick = Ticks()
    tick.failing = 1
    loop = Periodic(tick, 0.01, failed="tick_failed")
    with capture_logs() as logs:
        running = asyncio.create_task(loop.run())
        await tick.next()
        await tick.next()
        loop.request_stop()
        await asyncio.wait_for(running, 5)
    assert tick.count >= 2
    [failure] = [entry for entry in logs if entry["event"] == "tick_failed"]
    assert failure["log_level"] == "error"


async def test_wake_brings_the_next_tick_forward() -> None:
    tick = Ticks()
    loop = Periodic(tick, HOUR, failed="tick_failed")
    running = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    assert tick.count == 1
    loop.wake.set()
    await tick.next()
    assert tick.count == 2
    loop.request_stop()
    await asyncio.wait_for(running, 5)


async def test_a_wake_during_a_tick_is_not_lost() -> None:
    tick = Ticks()
    tick.hold = asyncio.Event()
    loop = Periodic(tick, HOUR, failed="tick_failed")
    running = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    loop.wake.set()  # say, an approval while the worker was busy
    tick.hold.set()
    await tick.next()
    assert tick.count == 2
    loop.request_stop()
    await asyncio.wait_for(running, 5)


async def test_while_a_tick_finds_work_the_next_runs_at_once() -> None:
    tick = Ticks(5, 5, 2)  # then 0: nothing left
    loop = Periodic(tick, HOUR, failed="tick_failed", again=lambda done: done > 0)
    running = asyncio.create_task(loop.run())
    await asyncio.sleep(0.1)
    assert tick.count == 4
    loop.request_stop()
    await asyncio.wait_for(running, 5)
    assert tick.count == 4


async def test_a_stop_lets_the_tick_in_hand_finish_and_starts_no_other() -> None:
    tick = Ticks(1, 1, 1)
    tick.hold = asyncio.Event()
    loop = Periodic(tick, HOUR, failed="tick_failed", again=lambda done: done > 0)
    running = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    loop.request_stop()
    await asyncio.sleep(0.05)
    assert not running.done()  # the tick in hand goes on
    tick.hold.set()
    await asyncio.wait_for(running, 5)
    assert tick.count == 1


async def test_a_stop_ends_the_wait_at_once() -> None:
    loop = Periodic(Ticks(), HOUR, failed="tick_failed")
    running = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    loop.request_stop()
    await asyncio.wait_for(running, 1)


async def test_logged_returns_the_result_or_none_after_logging() -> None:
    async def works() -> int:
        return 3

    async def fails() -> int:
        raise RuntimeError("no")

    with capture_logs() as logs:
        assert await logged(works, "step_failed") == 3
        assert await logged(fails, "step_failed") is None
    assert [entry["event"] for entry in logs] == ["step_failed"]
