"""The audit relay (consumers/audit_publish.py): one relay publishes at a time, under a
lease on the cursor row. Every row goes out once while the holder lives; when it stops
renewing (it died), another takes over once the lease has run out and publishes the rest;
a lease given up on a clean stop is taken at once; the cursor never moves back. Migration
0025 adds the lease's columns and takes them away again."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from audit.ledger import AuditAction, record
from consumers import audit_publish
from consumers.audit_publish import (
    BATCH,
    CURSOR,
    AuditPublisher,
    advance,
    release_lease,
    take_lease,
)
from foundations.database import _alembic_config, sqlalchemy_url, transaction, upgrade
from foundations.models import RelayCursor
from tests.deadlines import Clock

LEASE_S = 10.0
LEASE = timedelta(seconds=LEASE_S)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Kafka:
    """A fake producer: what each relay published, by ``seq``, in order."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.before: Callable[[], Awaitable[None]] | None = None  # run at the first message

    async def __call__(self, body: bytes, key: str) -> Awaitable[Any]:
        if self.before is not None:
            before, self.before = self.before, None
            await before()
        self.seqs.append(json.loads(body)["seq"])
        return asyncio.sleep(0)  # acknowledged


def add_rows(sessions: sessionmaker[Session], n: int) -> None:
    with transaction(sessions) as session:
        for i in range(n):
            record(session, AuditAction.RECEIVED, actor="test", incident_id=f"44-{i}")


def cursor(sessions: sessionmaker[Session]) -> RelayCursor | None:
    with transaction(sessions) as session:
        return session.get(RelayCursor, CURSOR)


def relays(
    sessions: sessionmaker[Session], clock: Clock
) -> tuple[AuditPublisher, Kafka, AuditPublisher, Kafka]:
    a, b = Kafka(), Kafka()
    return (
        AuditPublisher(sessions, a, lease_s=LEASE_S, clock=clock, holder="a"),
        a,
        AuditPublisher(sessions, b, lease_s=LEASE_S, clock=clock, holder="b"),
        b,
    )


async def test_only_the_holder_publishes_and_each_row_goes_out_once(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock(START)
    relay_a, a, relay_b, b = relays(sessions, clock)
    published = 0
    for _ in range(6):  # polls of both, rows written between them
        add_rows(sessions, 3)
        for relay in (relay_b, relay_a) if published % 2 else (relay_a, relay_b):
            published += await relay.run_once()
        clock.advance(seconds=1)
    assert published == 18
    assert a.seqs == list(range(1, 19)) and b.seqs == []  # a looked first, and kept it
    held = cursor(sessions)
    assert held is not None and held.last_seq == 18 and held.held_by == "a"
    assert held.held_until == START + LEASE  # more than half of it left at every look


async def test_the_holder_writes_its_lease_only_once_half_of_it_has_gone(
    sessions: sessionmaker[Session],
) -> None:
    """A look that finds the lease its own with time left takes no write lock."""
    clock = Clock(START)
    relay_a, _a, relay_b, _b = relays(sessions, clock)
    writes: list[str] = []
    take = audit_publish.take_lease

    def counted(session: Session, holder: str, now: datetime, lease_s: float) -> bool:
        writes.append(holder)
        return take(session, holder, now, lease_s)

    with mock.patch.object(audit_publish, "take_lease", counted):
        assert await relay_a.run_once() == 0 and writes == ["a"]  # taken
        clock.advance(seconds=LEASE_S / 2)
        assert await relay_a.run_once() == 0 and await relay_b.run_once() == 0
        assert writes == ["a"]  # half left: nothing written; b sees it held
        clock.advance(seconds=1)
        assert await relay_a.run_once() == 0 and writes == ["a", "a"]  # renewed
    held = cursor(sessions)
    assert held is not None and held.held_until == clock.now + LEASE


async def test_a_peer_takes_over_once_the_holders_lease_runs_out(
    sessions: sessionmaker[Session],
) -> None:
    clock = Clock(START)
    relay_a, a, relay_b, b = relays(sessions, clock)
    add_rows(sessions, 4)
    assert await relay_a.run_once() == 4
    # a dies: it renews no more. Until its lease runs out, b waits.
    add_rows(sessions, 5)
    clock.advance(seconds=LEASE_S - 1)
    assert await relay_b.run_once() == 0
    clock.advance(seconds=1.5)
    assert await relay_b.run_once() == 5
    assert a.seqs == [1, 2, 3, 4] and b.seqs == [5, 6, 7, 8, 9]
    # Were a only paused, not dead, it would find the lease b's.
    add_rows(sessions, 1)
    assert await relay_a.run_once() == 0
    assert await relay_b.run_once() == 1
    held = cursor(sessions)
    assert held is not None and held.held_by == "b" and held.last_seq == 10


async def test_a_lease_given_up_is_taken_at_once(sessions: sessionmaker[Session]) -> None:
    clock = Clock(START)
    relay_a, a, relay_b, b = relays(sessions, clock)
    add_rows(sessions, 2)
    assert await relay_a.run_once() == 2
    assert await relay_b.run_once() == 0
    await relay_a.release()  # a clean stop
    released = cursor(sessions)
    assert released is not None and released.held_by is None and released.held_until is None
    add_rows(sessions, 2)
    assert await relay_b.run_once() == 2  # the same instant: no lease to wait for
    assert a.seqs == [1, 2] and b.seqs == [3, 4]
    await relay_a.release()  # no longer a's: b keeps it
    held = cursor(sessions)
    assert held is not None and held.held_by == "b"


async def test_a_full_batch_asks_for_the_next_at_once(sessions: sessionmaker[Session]) -> None:
    clock = Clock(START)
    relay_a, a, _relay_b, _b = relays(sessions, clock)
    add_rows(sessions, BATCH + 1)
    sent = await relay_a.run_once()
    assert sent == BATCH and relay_a.loop.again(sent)
    sent = await relay_a.run_once()
    assert sent == 1 and not relay_a.loop.again(sent)
    assert a.seqs == list(range(1, BATCH + 2))


async def test_the_cursor_never_moves_back(sessions: sessionmaker[Session]) -> None:
    """a's lease runs out while it publishes; b takes over, publishes from the cursor (a's
    rows again: at least once) and the rows written since; a then advances to its own
    batch's end, which is behind b's: the cursor stays."""
    clock = Clock(START)
    relay_a, a, relay_b, b = relays(sessions, clock)
    add_rows(sessions, 3)

    async def stall() -> None:  # while a holds its batch, unacknowledged
        clock.advance(seconds=LEASE_S + 1)
        add_rows(sessions, 2)
        assert await relay_b.run_once() == 5

    a.before = stall
    assert await relay_a.run_once() == 3
    assert a.seqs == [1, 2, 3] and b.seqs == [1, 2, 3, 4, 5]
    held = cursor(sessions)
    assert held is not None and held.last_seq == 5 and held.held_by == "b"
    with transaction(sessions) as session:
        advance(session, 2)
    assert (cursor(sessions) or RelayCursor()).last_seq == 5
    with transaction(sessions) as session:
        advance(session, 7)
    assert (cursor(sessions) or RelayCursor()).last_seq == 7


def test_two_first_leases_at_once_give_one_holder(sessions: sessionmaker[Session]) -> None:
    """No cursor row yet, and two relays take the lease at the same moment: the second
    waits for the first (SQLite: at BEGIN IMMEDIATE; PostgreSQL: on the key of the row
    the first inserted) and finds the lease the first's."""
    inserted = threading.Event()
    commit = threading.Event()
    results: dict[str, bool] = {}

    def first() -> None:
        with transaction(sessions) as session:
            results["a"] = take_lease(session, "a", START, LEASE_S)
            session.flush()
            inserted.set()
            commit.wait(10)

    def second() -> None:
        with transaction(sessions) as session:
            results["b"] = take_lease(session, "b", START, LEASE_S)

    one = threading.Thread(target=first)
    one.start()
    assert inserted.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waiting for the first's transaction
    commit.set()
    one.join(10)
    two.join(10)
    assert results == {"a": True, "b": False}
    held = cursor(sessions)
    assert held is not None and held.held_by == "a" and held.last_seq == 0


def test_the_lease_is_renewed_only_by_its_holder(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        assert take_lease(session, "a", START, LEASE_S)
    later = START + LEASE / 2
    with transaction(sessions) as session:
        assert not take_lease(session, "b", later, LEASE_S)
        assert take_lease(session, "a", later, LEASE_S)  # renewed: a lease from now
    with transaction(sessions) as session:
        release_lease(session, "b")  # not b's to give up
        assert not take_lease(session, "b", START + LEASE * 1.2, LEASE_S)
        assert take_lease(session, "b", later + LEASE * 1.01, LEASE_S)


def test_the_default_lease_is_a_few_polls() -> None:
    def enqueue(body: bytes, key: str) -> Any:
        raise AssertionError

    quick = AuditPublisher(sessionmaker(), enqueue, poll_s=1.0)
    slow = AuditPublisher(sessionmaker(), enqueue, poll_s=4.0)
    assert quick.lease_s == 10.0 and slow.lease_s == 20.0
    assert quick.holder != slow.holder  # each relay its own name, even in one process


def test_migration_0025_adds_and_removes_the_lease(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_relay_cursor (name, last_seq, held_by, held_until) "
                "VALUES ('audit-topic', 7, 'a', :until)"
            ),
            {"until": datetime(2026, 3, 2, 9, 0)},  # stored as naive UTC
        )
    command.downgrade(_alembic_config(database_url), "0024")
    with engine.begin() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("audit_relay_cursor")}
        assert columns == {"name", "last_seq"}
        rows = connection.execute(text("SELECT name, last_seq FROM audit_relay_cursor")).all()
        assert [tuple(r) for r in rows] == [("audit-topic", 7)]
    upgrade(database_url)
    with engine.begin() as connection:
        rows = connection.execute(
            text("SELECT last_seq, held_by, held_until FROM audit_relay_cursor")
        ).all()
        assert [tuple(r) for r in rows] == [(7, None, None)]  # held by nobody
    engine.dispose()
