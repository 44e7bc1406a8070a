"""The database is the outbox: the rules every table of e-mails to send shares.

``consumers.deliver`` (the notifications) and ``consumers.alerts`` (the e-mails of
escalation) keep their rows in their own tables; how a worker takes a row, sends it and
gives it back is said once, here:

- **claim**: due rows (waiting, with their next attempt due; or held by a lease that has
  run out) are taken with a lease, ``claimed_until``, and their attempt is counted;
- **renew**: while a worker sends, it extends the lease of the rows it still holds every
  third of a lease. The lease (``ENCOMPASS_DELIVERY_LEASE_S``) can therefore stay short:
  a worker that dies holds what it had not sent for at most one lease;
- **back off**: a temporary failure (``TransientDeliveryError``) waits ``backoff_s``,
  doubled at each attempt, up to ``max_attempts``; after that, or on a permanent failure,
  the row is recorded failed;
- **release**: a clean shutdown, or a cancelled batch, hands back what was not sent, so no
  lease has to run out.

A worker holds a row by its id and the attempt it claimed: once another worker has taken
the row over (after the lease ran out), renewing and releasing leave it alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from audit import ledger
from consumers.periodic import logged
from foundations.database import run_in_session
from foundations.mailer import Mailer, PermanentDeliveryError, TransientDeliveryError
from foundations.models import EscalationStep, Notification
from foundations.settings import Settings

Row = TypeVar("Row", Notification, EscalationStep)
Clock = Callable[[], datetime]
Held = Mapping[Any, int]  # row id -> the attempt this worker claimed


@dataclass(frozen=True)
class Outbox(Generic[Row]):
    """One table of e-mails to send, and the timings of its leases and retries."""

    table: type[Row]
    waiting: StrEnum  # the status of a row to send (the table's own status enum)
    claimed: StrEnum  # its status while a worker holds it (the same, if the status stays)
    lease_s: float
    backoff_s: float
    max_attempts: int

    @classmethod
    def of(
        cls, table: type[Row], waiting: StrEnum, claimed: StrEnum, settings: Settings
    ) -> Outbox[Row]:
        return cls(
            table,
            waiting,
            claimed,
            lease_s=settings.delivery_lease_s,
            backoff_s=settings.delivery_backoff_s,
            max_attempts=settings.delivery_max_attempts,
        )

    def claimable(
        self, session: Session, now: datetime, *, order_by: InstrumentedAttribute[Any], limit: int
    ) -> list[Row]:
        """Due rows, locked for this transaction (others' locked rows are skipped)."""
        t = self.table
        unheld = or_(t.claimed_until.is_(None), t.claimed_until < now)
        next_due = or_(t.next_attempt_at.is_(None), t.next_attempt_at <= now)
        abandoned = and_(t.status == self.claimed, t.claimed_until < now)
        query = (
            select(t)
            .where(or_(and_(t.status == self.waiting, unheld, next_due), abandoned))
            .order_by(order_by)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(session.execute(query).scalars())

    def lease(self, row: Row, now: datetime) -> None:
        """Hold ``row`` for one lease from ``now``, as its next attempt."""
        settle_status(row, self.claimed)
        row.claimed_until = now + timedelta(seconds=self.lease_s)
        row.attempts += 1

    def renew(self, session: Session, held: Held, now: datetime) -> int:
        """Extend to one lease from ``now`` the rows still held; returns how many."""
        t = self.table
        renewed = 0
        for row_id, attempt in held.items():
            done = session.execute(
                update(t)
                .where(*self._still_held(row_id, attempt), t.claimed_until.is_not(None))
                .values(claimed_until=now + timedelta(seconds=self.lease_s))
            )
            renewed += done.rowcount  # type: ignore[attr-defined]
        return renewed

    def release(self, session: Session, held: Held) -> None:
        """Hand back rows still held, unsent (a clean shutdown): due again at once."""
        for row_id, attempt in held.items():
            session.execute(
                update(self.table)
                .where(*self._still_held(row_id, attempt))
                .values(status=self.waiting, claimed_until=None)
            )

    def _still_held(self, row_id: Any, attempt: int) -> tuple[Any, ...]:
        t = self.table
        return t.id == row_id, t.attempts == attempt, t.status == self.claimed

    def retry_in(self, row: Row, error: Exception) -> float | None:
        """The wait before trying ``row`` again after ``error``; None: give up."""
        if isinstance(error, TransientDeliveryError) and row.attempts < self.max_attempts:
            return self.backoff_s * 2.0 ** (row.attempts - 1)
        return None

    def back_off(self, row: Row, error: Exception, now: datetime) -> float | None:
        """After a failed attempt: wait and try again (returns the wait), or None, when the
        caller must record the row failed (``settle``)."""
        delay = self.retry_in(row, error)
        if delay is not None:
            row.next_attempt_at = now + timedelta(seconds=delay)
            settle(row, self.waiting, str(error))
        return delay


def settle_status(row: Notification | EscalationStep, status: StrEnum) -> None:
    """A status of the row's own enum (Outbox.of pairs each table with its statuses)."""
    row.status = status  # type: ignore[assignment]


def settle(row: Notification | EscalationStep, status: StrEnum, error: str = "") -> None:
    """The outcome of an attempt (sent, failed, waiting to try again): the lease ends."""
    settle_status(row, status)
    row.claimed_until = None
    row.last_error = error


class Job(Protocol):
    """An e-mail claimed from an outbox, ready to send."""

    @property
    def row_id(self) -> Any: ...

    @property
    def attempt(self) -> int: ...


J = TypeVar("J", bound=Job)
DeliveryError = TransientDeliveryError | PermanentDeliveryError


def _never() -> bool:
    return False


@dataclass(frozen=True)
class _Outcome(Generic[J]):
    job: J
    error: DeliveryError | None  # None: sent
    at: datetime


class Courier(Generic[J]):
    """Sends an outbox's claimed jobs, up to ``concurrency`` at a time (each on its own
    connection of the mailer's pool), and records their outcomes: what has finished
    while the last record was being written goes into the next transaction together, so
    a slow lock (SQLite's one writer) delays the records, never the sending. Renews the
    lease of the jobs it still holds while it works; hands back what it has not sent when
    it is stopped or cancelled (an outcome already known is recorded first)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        mailer: Mailer,
        outbox: Outbox[Any],
        *,
        clock: Clock,
        message: Callable[[J], EmailMessage],
        sent: Callable[[Session, J, datetime], None],
        failed: Callable[[Session, J, Exception, datetime], None],
        told: Callable[[J, DeliveryError | None], None] = lambda _job, _error: None,
        concurrency: int = 1,
    ) -> None:
        self.sessions = sessions
        self.mailer = mailer
        self.outbox = outbox
        self.clock = clock
        self.message = message
        self.sent = sent
        self.failed = failed
        self.told = told  # for logs and metrics: None when sent, else the refusal
        self.concurrency = concurrency
        self.renew_every_s = outbox.lease_s / 3

    async def send(self, jobs: Sequence[J], stopping: Callable[[], bool] = _never) -> None:
        held = {job.row_id: job.attempt for job in jobs}
        renewing = asyncio.create_task(self._renew(held)) if held else None
        finished: list[_Outcome[J]] = []  # sent or refused, not yet recorded
        wrote = asyncio.Event()  # an outcome is waiting for the recorder
        sending: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(self.concurrency)

        async def attempt(job: J) -> None:
            try:
                finished.append(await self._attempt(job))
                wrote.set()
            finally:
                slots.release()

        closing = asyncio.Event()  # every attempt has finished: the recorder ends
        recorder = asyncio.create_task(self._recorder(finished, wrote, held, closing))
        try:
            for job in jobs:
                await slots.acquire()
                if stopping() or recorder.done():
                    slots.release()
                    break  # shutting down: what is not yet sent goes back to the queue
                task = asyncio.create_task(attempt(job))
                sending.add(task)
                task.add_done_callback(sending.discard)
            if sending:
                await asyncio.gather(*sending)
            closing.set()
            wrote.set()
            await recorder
        finally:
            for task in [*sending, recorder]:
                task.cancel()
            await asyncio.wait([*sending, recorder])
            if renewing is not None:
                renewing.cancel()
                await asyncio.wait([renewing])
            if finished:  # cancelled with outcomes known: record them before handing back
                record = partial(self._record, finished, held)
                await asyncio.shield(logged(record, "outbox_record_failed"))
            if held:  # stopped, or cancelled mid-batch: the rest go back to the queue
                await asyncio.shield(run_in_session(self.sessions, self.outbox.release, held))

    async def _attempt(self, job: J) -> _Outcome[J]:
        try:
            await self.mailer.send(self.message(job))
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            return _Outcome(job, exc, self.clock())
        return _Outcome(job, None, self.clock())

    async def _recorder(
        self,
        finished: list[_Outcome[J]],
        wrote: asyncio.Event,
        held: dict[Any, int],
        closing: asyncio.Event,
    ) -> None:
        """Records what has finished, round after round, until every attempt has."""
        while True:
            await wrote.wait()
            wrote.clear()
            while finished:  # what finished during a round's transaction: the next round
                await self._record(finished, held)
            if closing.is_set():
                return

    async def _record(self, finished: list[_Outcome[J]], held: dict[Any, int]) -> None:
        """The outcomes finished so far, in one transaction (taken off ``finished``)."""
        batch = finished[:]
        del finished[: len(batch)]
        await run_in_session(self.sessions, self._write, batch)
        for outcome in batch:
            del held[outcome.job.row_id]
            self.told(outcome.job, outcome.error)

    def _write(self, session: Session, batch: Sequence[_Outcome[J]]) -> None:
        """The batch's rows read in one query (each outcome then finds its row in the
        session), and its audit rows chained at the end: PostgreSQL's chain lock is held
        from there to the commit only. The rows are kept referenced to the end: the
        session's identity map holds them only weakly, and a row dropped would be read
        again, one query (and one flush) per outcome."""
        table = self.outbox.table
        ids = [outcome.job.row_id for outcome in batch]
        rows = session.execute(select(table).where(table.id.in_(ids))).scalars().all()
        with ledger.deferred(session):
            for outcome in batch:
                if outcome.error is None:
                    self.sent(session, outcome.job, outcome.at)
                else:
                    self.failed(session, outcome.job, outcome.error, outcome.at)
        del rows  # held, above, until every outcome has found its row

    async def _renew(self, held: dict[Any, int]) -> None:
        """Every third of a lease, a lease from now for what is still held."""
        while True:
            await asyncio.sleep(self.renew_every_s)
            renew = partial(
                run_in_session, self.sessions, self.outbox.renew, dict(held), self.clock()
            )
            await logged(renew, "outbox_renewal_failed")
