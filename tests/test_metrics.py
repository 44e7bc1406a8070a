"""Scraping /metrics never blocks the event loop (issue 14, item 7).

The queue gauges are read from the database on a worker thread. A reviewer's CLI that
holds the SQLite write lock for a long time must not stall Kafka heartbeats, SMTP and the
console, which share the loop: the scrape is answered with the last figures and the loop
keeps ticking."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from broker.internal import create_internal_app
from broker.metrics import Metrics, QueueCollector
from foundations.database import make_engine, session_factory, upgrade
from tests.conftest import TEST_KEYRING
from tests.deadlines import add_notification, add_schools, london


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Path, sessionmaker[Session]]]:
    path = tmp_path / "metrics.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url, TEST_KEYRING)
    yield path, session_factory(engine)
    engine.dispose()


async def ready(_: object = None) -> tuple[bool, dict[str, str]]:
    return True, {}


APPROVED = 'encompass_notifications{status="approved"}'


async def test_a_scrape_while_the_write_lock_is_held_does_not_stall_the_loop(
    database: tuple[Path, sessionmaker[Session]],
) -> None:
    path, sessions = database
    add_schools(sessions)
    add_notification(sessions, "N-1", status="approved", deliver_by=london("2026-11-23 08:30"))
    metrics = Metrics()
    queue = QueueCollector(sessions)
    metrics.registry.register(queue)
    app = create_internal_app(metrics.registry, ready, before_scrape=lambda: queue.refresh(1.0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as client:
        assert f"{APPROVED} 1.0" in (await client.get("/metrics/")).text

        # Another process (a reviewer's CLI) takes the write lock and keeps it.
        writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        writer.execute("BEGIN IMMEDIATE")
        gaps: list[float] = []

        async def tick() -> None:
            loop = asyncio.get_running_loop()
            last = loop.time()
            while True:
                await asyncio.sleep(0.01)
                now = loop.time()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        try:
            started = asyncio.get_running_loop().time()
            scraped = await client.get("/metrics/")
            took = asyncio.get_running_loop().time() - started
        finally:
            ticker.cancel()
            writer.execute("ROLLBACK")
            writer.close()
        assert scraped.status_code == 200
        assert f"{APPROVED} 1.0" in scraped.text  # the last figures, while the lock is held
        assert took < 5, took
        assert gaps and max(gaps) < 0.25, max(gaps)

        # The lock released, the next scrape reads the queue again.
        add_notification(sessions, "N-2", status="approved", deliver_by=london("2026-11-23 08:30"))
        for _ in range(100):
            text = (await client.get("/metrics/")).text
            if f"{APPROVED} 2.0" in text:
                break
            await asyncio.sleep(0.05)
        assert f"{APPROVED} 2.0" in text


async def test_scrapes_that_come_together_share_one_reading(
    database: tuple[Path, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sessions = database
    queue = QueueCollector(sessions)
    readings = 0
    from broker import metrics

    real = metrics.read_queue

    def counted(s: sessionmaker[Session]) -> metrics.QueueFigures:
        nonlocal readings
        readings += 1
        return real(s)

    monkeypatch.setattr(metrics, "read_queue", counted)
    await asyncio.gather(*(queue.refresh() for _ in range(5)))
    assert readings == 1 and queue.figures is not None
    await queue.refresh()
    assert readings == 2
