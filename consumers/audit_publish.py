"""Publish every audit row to ``encompass.audit.v1``, in order, at least once.

The ledger table is the source of truth; a cursor row says how far publishing has got, and
is moved only after the broker has acknowledged the messages.

A batch of rows is handed to the producer in order, each row queued before the next, and
only then are the acknowledgements awaited, together: the producer sends them in a few
requests, not one round trip a row. The rows are read in a transaction that only reads
(it does not wait for SQLite's write lock); the cursor is moved once a batch.

Every process with the scheduler role runs a relay, and one publishes at a time: before it
reads, a relay takes (or, half gone, renews) a short lease on the cursor row, in a
transaction of its own; a look that finds the lease another's, or its own with time left,
writes nothing. A relay that does not hold it publishes nothing; one that dies holds it
until it runs out (a few polls), then another takes over from the cursor; one that stops
cleanly gives it up, so a peer takes over at its next poll. What a relay publishes while
its lease runs out under it may go out again from its successor: at least once, as before.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audit import checkpoints
from consumers.periodic import Periodic
from foundations.clock import utcnow
from foundations.database import run_in_session, run_reading
from foundations.models import AuditEvent, RelayCursor
from foundations.settings import Settings

CURSOR = "audit-topic"
log = structlog.get_logger(__name__)

Publish = Callable[[bytes, str], Awaitable[Any]]
# Queue one message (in call order) and return what, awaited, is the broker's acknowledgement.
Enqueue = Callable[[bytes, str], Awaitable[Awaitable[Any]]]
Clock = Callable[[], datetime]
BATCH = 500  # rows read and published at a time
MIN_LEASE_S = 10.0  # the shortest lease; else five polls


def holder_id() -> str:
    """A relay's name on the lease, unique to it: host, process and a random part (a
    restarted container may have the same host name and pid). Not a secret."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


def take_lease(session: Session, holder: str, now: datetime, lease_s: float) -> bool:
    """Hold the relay until ``lease_s`` from ``now`` if nobody holds it, its lease has run
    out or ``holder`` holds it already; whether ``holder`` holds it now.

    One conditional UPDATE: SQLite's writers queue at BEGIN IMMEDIATE, and PostgreSQL
    checks the condition again on the row another transaction has just changed. With no
    cursor row yet, it is inserted; two processes inserting it at once: the second's
    insert fails on the key, and the lease is the other's."""
    c = RelayCursor
    until = now + timedelta(seconds=lease_s)
    free = or_(c.held_by.is_(None), c.held_by == holder, c.held_until.is_(None), c.held_until < now)
    taken = session.execute(
        update(c).where(c.name == CURSOR, free).values(held_by=holder, held_until=until)
    )
    if taken.rowcount:  # type: ignore[attr-defined]
        return True
    if session.scalar(select(c.name).where(c.name == CURSOR)) is not None:
        return False  # another relay holds it
    try:
        with session.begin_nested():
            session.add(RelayCursor(name=CURSOR, last_seq=0, held_by=holder, held_until=until))
    except IntegrityError:  # another relay made the row (and holds it) at the same moment
        return False
    return True


def lease_of(session: Session) -> tuple[str | None, datetime | None]:
    """Who holds the relay, and until when (a read: no lock)."""
    c = RelayCursor
    row = session.execute(select(c.held_by, c.held_until).where(c.name == CURSOR)).first()
    return (row[0], row[1]) if row else (None, None)


def lease_needs_writing(
    lease: tuple[str | None, datetime | None], holder: str, now: datetime, lease_s: float
) -> bool | None:
    """From the lease as read: whether ``holder`` must write to hold it (free, run out,
    or ours with less than half of it left), or None when it is another relay's, still
    running (False: ours, with time enough to publish a batch)."""
    held_by, until = lease
    if held_by is None or until is None or until < now:
        return True
    if held_by != holder:
        return None
    return until - now < timedelta(seconds=lease_s / 2)


def release_lease(session: Session, holder: str) -> None:
    """Give up the lease if ``holder`` still holds it: the next relay to look takes it."""
    c = RelayCursor
    session.execute(
        update(c).where(c.name == CURSOR, c.held_by == holder).values(held_by=None, held_until=None)
    )


def pending(session: Session, limit: int = BATCH) -> list[dict[str, Any]]:
    cursor = session.get(RelayCursor, CURSOR)
    after = cursor.last_seq if cursor else 0
    rows = session.execute(
        select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit)
    ).scalars()
    return [row.as_message() for row in rows]


def advance(session: Session, seq: int) -> None:
    """Move the cursor to ``seq``, never back: a relay whose lease ran out while it
    published still advances past what was acknowledged, but not past its successor."""
    c = RelayCursor
    moved = session.execute(
        update(c).where(c.name == CURSOR, c.last_seq < seq).values(last_seq=seq)
    )
    if not moved.rowcount and session.get(c, CURSOR) is None:  # type: ignore[attr-defined]
        session.add(RelayCursor(name=CURSOR, last_seq=seq))


class AuditPublisher:
    """The relay. ``lease_s``: how long a look holds the relay (default: five polls, at
    least ``MIN_LEASE_S``), so how soon a peer takes over from a relay that died."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        enqueue: Enqueue,
        poll_s: float = 1.0,
        *,
        lease_s: float | None = None,
        clock: Clock = utcnow,
        holder: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.enqueue = enqueue
        self.poll_s = poll_s
        self.lease_s = lease_s if lease_s is not None else max(MIN_LEASE_S, 5 * poll_s)
        self.clock = clock
        self.holder = holder or holder_id()
        self.holding = False  # as of the last look, for the log's sake
        # A full batch: there may be more at once; else the next look is one poll away.
        self.loop = Periodic(
            self.run_once, poll_s, failed="audit_publish_error", again=lambda sent: sent >= BATCH
        )

    async def run_once(self) -> int:
        """Publish the next batch if this relay holds the lease (taken or renewed first);
        how many rows went out (none: another relay holds it). The lease is read first,
        without a lock, and written only to take it or when half of it has gone: an idle
        poll of every process would otherwise queue for SQLite's write lock."""
        now = self.clock()
        lease = await run_reading(self.sessions, lease_of)
        write = lease_needs_writing(lease, self.holder, now, self.lease_s)
        held = write is False
        if write:
            held = await run_in_session(self.sessions, take_lease, self.holder, now, self.lease_s)
        if held != self.holding:
            log.info(
                "audit_relay_lease_taken" if held else "audit_relay_lease_lost", holder=self.holder
            )
            self.holding = held
        if not held:
            return 0
        rows = await run_reading(self.sessions, pending)
        acknowledgements = []
        for row in rows:
            key = row["notification_id"] or row["incident_id"] or str(row["seq"])
            body = json.dumps(row, separators=(",", ":")).encode()
            acknowledgements.append(await self.enqueue(body, key))
        # Every one acknowledged (an error raises here) before the cursor moves.
        await asyncio.gather(*acknowledgements)
        if rows:
            await run_in_session(self.sessions, advance, rows[-1]["seq"])
        return len(rows)

    async def release(self) -> None:
        """Give up the lease (a clean stop, after the last ``run_once``): a peer takes
        over at its next poll instead of after the lease."""
        await run_in_session(self.sessions, release_lease, self.holder)
        if self.holding:
            log.info("audit_relay_lease_released", holder=self.holder)
        self.holding = False

    async def run(self) -> None:
        await self.loop.run()


class AuditCheckpointer:
    """Signs the tree head at start, at intervals and on shutdown, and publishes each new
    head."""

    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], publish: Publish
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.publish = publish
        self.key = checkpoints.load_or_create_key(settings.signing_key_path)
        self.loop = Periodic(
            self.run_once, settings.audit_checkpoint_interval_s, failed="audit_checkpoint_failed"
        )

    async def run_once(self) -> checkpoints.TreeHead | None:
        head = await run_in_session(
            self.sessions, checkpoints.sign_head, self.key, self.settings.checkpoint_path
        )
        if head is not None:
            await self.publish(json.dumps(head.as_dict()).encode(), f"tree-head-{head.number}")
            log.info("audit_tree_head_signed", number=head.number, tree_size=head.tree_size)
        return head

    async def run(self) -> None:
        """A head at once if the trail grew since the last one (a process that keeps
        crashing before its first interval would otherwise never sign one), then at
        intervals."""
        await self.loop.run()
