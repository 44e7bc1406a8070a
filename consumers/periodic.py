"""The loop of every background worker: a tick now, then one every ``every_s`` seconds.

A failed tick is logged and the loop goes on (a database outage must not end a worker).
Setting ``wake`` starts the next tick at once (say, when intake has just approved a
notification); a worker with more work than one tick takes (``again``) runs the next at
once too. ``request_stop()`` lets the tick in hand finish, then ends ``run()``; cancelling
the task stops it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")
log = structlog.get_logger(__name__)


async def logged(step: Callable[[], Awaitable[T]], event: str) -> T | None:
    """``step()``, or None with ``event`` logged (and its traceback) if it raised."""
    try:
        return await step()
    except Exception:
        log.exception(event)
        return None


def _never(_result: object) -> bool:
    return False


class Periodic(Generic[T]):
    """Runs ``tick`` now and then every ``every_s`` seconds after the last one ended."""

    def __init__(
        self,
        tick: Callable[[], Awaitable[T]],
        every_s: float,
        *,
        failed: str,
        again: Callable[[T], bool] = _never,
    ) -> None:
        self.tick = tick
        self.every_s = every_s
        self.failed = failed  # the event logged when a tick raises
        self.again = again  # given a tick's result: run the next one at once?
        self.wake = asyncio.Event()  # set: the next tick now, not at the interval's end
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()  # a wake-up during the tick counts: the next comes at once
            result = await logged(self.tick, self.failed)
            if self.stopping.is_set():
                break
            if result is not None and self.again(result):
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.every_s)

    def request_stop(self) -> None:
        """Finish the tick in hand (or the wait) and return from ``run()``."""
        self.stopping.set()
        self.wake.set()
