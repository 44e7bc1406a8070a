"""Publish every audit row to ``encompass.audit.v1``, in order, at least once.

The ledger table is the source of truth; a cursor row says how far publishing has got, and
is moved only after the broker has acknowledged the messages.

A batch of rows is handed to the producer in order, each row queued before the next, and
only then are the acknowledgements awaited, together: the producer sends them in a few
requests, not one round trip a row. The rows are read in a transaction that only reads
(it does not wait for SQLite's write lock); the cursor is moved once a batch.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import checkpoints
from consumers.periodic import Periodic
from foundations.database import run_in_session, run_reading
from foundations.models import AuditEvent, RelayCursor
from foundations.settings import Settings

CURSOR = "audit-topic"
log = structlog.get_logger(__name__)

Publish = Callable[[bytes, str], Awaitable[Any]]
# Queue one message (in call order) and return what, awaited, is the broker's acknowledgement.
Enqueue = Callable[[bytes, str], Awaitable[Awaitable[Any]]]
BATCH = 500  # rows read and published at a time


def pending(session: Session, limit: int = BATCH) -> list[dict[str, Any]]:
    cursor = session.get(RelayCursor, CURSOR)
    after = cursor.last_seq if cursor else 0
    rows = session.execute(
        select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit)
    ).scalars()
    return [row.as_message() for row in rows]


def advance(session: Session, seq: int) -> None:
    cursor = session.get(RelayCursor, CURSOR)
    if cursor is None:
        session.add(RelayCursor(name=CURSOR, last_seq=seq))
    elif seq > cursor.last_seq:
        cursor.last_seq = seq


class AuditPublisher:
    def __init__(
        self, sessions: sessionmaker[Session], enqueue: Enqueue, poll_s: float = 1.0
    ) -> None:
        self.sessions = sessions
        self.enqueue = enqueue
        self.poll_s = poll_s
        # A full batch: there may be more at once; else the next look is one poll away.
        self.loop = Periodic(
            self.run_once, poll_s, failed="audit_publish_error", again=lambda sent: sent >= BATCH
        )

    async def run_once(self) -> int:
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
