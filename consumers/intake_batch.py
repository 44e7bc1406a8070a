"""Intake's Kafka side: a batch of records from ``police.incidents.v1`` recorded in one
transaction, one by one when the batch fails, and an event that keeps failing dead-lettered
with its reason rather than holding its partition for ever.

The offsets of a batch are committed (by the subscriber, ``broker/app.py``) only after
``take_batch`` returns: every event has then been recorded or dead-lettered, and its
dead-lettering audited. If it raises, the batch is rewound and comes back.

Transient or not. An event that fails alone is retried with growing waits
(``ENCOMPASS_INTAKE_MAX_ATTEMPTS`` tries, waits doubling from
``ENCOMPASS_INTAKE_RETRY_BACKOFF_S``) and then dead-lettered with its reason, unless the
failure is transient. A failure is transient when

- the database does not answer ``SELECT 1`` right after it (down, restarting, unreachable);
- or it is of a kind a healthy database gives under load or contention, or when the
  connection drops: SQLAlchemy's ``OperationalError`` family (lock and statement timeouts,
  serialization failures, deadlocks, a disk full, SQLite's "database is locked"),
  ``InterfaceError``, a lost or invalidated connection, the pool's timeout.

A transient failure is never counted against the event: the batch is rewound and retried
until the database is back (at least once: a good event is never dead-lettered because the
database was briefly away). Everything else (the database refusing a value, a constraint,
an error in our own code) is the event's. A bug that fails every event therefore
dead-letters every event, visibly (``dead_lettered`` in the audit trail and the metrics, an
error in the log); after the fix, ``encompass dlq replay`` sends them through again.

Parsing is a pure function of the bytes: an event it cannot read is refused at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiokafka import ConsumerRecord
from faststream.message import StreamMessage
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from audit import ledger
from consumers import batch_memo, intake_pool
from consumers.batch_memo import BatchMemo
from consumers.intake import (
    Refused,
    parse_incident,
    read_revisions,
    record_dead_letter,
    record_refusal,
)
from consumers.intake_pool import IntakePool
from consumers.match import match_child, match_thresholds, record_of
from consumers.pipeline import process_incident
from foundations.clock import LONDON
from foundations.database import read_only, run_in_session, transaction
from foundations.settings import Settings
from schemas.incident import PoliceIncident
from school_directory import frequencies

log = structlog.get_logger(__name__)

# ``dead_letter(value, key, reason, source)`` publishes to the dead-letter topic.
DeadLetter = Callable[[bytes, bytes | None, str, str], Awaitable[None]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no connection from the pool in time
    ConnectionError,
    TimeoutError,
)
LONGEST_WAIT_S = 30.0  # between two attempts of one event
PROBE_TIMEOUT_S = 10.0  # for the database's SELECT 1
REASON_MAX = 500  # characters of a reason in the x-error header
_ROOT = Path(__file__).resolve().parents[1]  # the project, or site-packages when installed
_OURS = {"audit", "broker", "consumers", "console", "schemas", "school_directory", "tests"}


async def raw_batch(message: StreamMessage[Any]) -> list[bytes]:
    """Intake validates the bytes itself, so that refused input can be dead-lettered as is."""
    return [bytes(b) for b in message.body]


async def tolerant_headers(
    records: tuple[ConsumerRecord[Any, Any], ...],
    original: Callable[[tuple[ConsumerRecord[Any, Any], ...]], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """FastStream decodes header values as UTF-8 and would fail on anything else, before
    our handler could dead-letter the event: make undecodable header values harmless."""
    safe = tuple(
        dataclasses.replace(
            r, headers=[(k, v.decode("utf-8", "replace").encode()) for k, v in r.headers]
        )
        for r in records
    )
    return await original(safe)


@dataclasses.dataclass(frozen=True)
class Taken:
    incident_id: str
    revision: int
    outcome: str
    source: str
    matches: tuple[str, ...]


def take_batch(
    sessions: sessionmaker[Session],
    settings: Settings,
    accepted: list[tuple[PoliceIncident, str]],
    refused: list[tuple[str, str, str | None]],
    memo: BatchMemo | None = None,
) -> list[Taken]:
    """On the intake's worker thread: what the batch can compute from what is committed
    comes first, with no write lock held (SQLite's is taken at a transaction's BEGIN); then
    the batch's own transaction (``take_all``), which holds the lock only to write.

    - without a pool, each child's account is redacted and checked here
      (``intake_pool.ahead``); with one, the pool's workers do it as before;
    - each child is matched here, in a transaction that only reads (``match_ahead``): the
      directory as last committed, a moment before the batch's transaction.
    """
    if memo is None and accepted:
        memo = intake_pool.ahead(incident for incident, _ in accepted)
    matches = match_ahead(sessions, settings, accepted)
    with transaction(sessions) as session:
        return take_all(session, settings, accepted, refused, memo, matches)


def match_ahead(
    sessions: sessionmaker[Session],
    settings: Settings,
    accepted: list[tuple[PoliceIncident, str]],
) -> batch_memo.Matches:
    """Each child's match (``match_child``), by incident object and person id, made in a
    transaction that only reads."""
    matches: batch_memo.Matches = {}
    if not accepted:
        return matches
    thresholds = match_thresholds(settings)
    with read_only(sessions) as reading:
        frequencies.read_counts(
            reading, [record_of(child) for incident, _ in accepted for child in incident.children]
        )
        for incident, _ in accepted:
            on_date = incident.occurred_at.astimezone(LONDON).date()
            matches[id(incident)] = (
                incident,
                {
                    child.person_id: (child, match_child(reading, child, on_date, thresholds))
                    for child in incident.children
                },
            )
    return matches


def take_all(
    session: Session,
    settings: Settings,
    accepted: list[tuple[PoliceIncident, str]],
    refused: list[tuple[str, str, str | None]],
    memo: BatchMemo | None = None,
    matches: batch_memo.Matches | None = None,
) -> list[Taken]:
    """Record the batch in ``session``'s transaction. ``memo`` holds what was computed
    ahead for it (``take_batch``, or the intake's pool: ``consumers.intake_pool``), and
    ``matches`` its children's matches; where they have nothing, it is done here."""
    # The batch's audit rows are chained at its end: PostgreSQL's chain lock is held only
    # from there to the commit, not while the batch is minimised and written.
    with batch_memo.using(memo), batch_memo.matching(matches), ledger.deferred(session):
        return _take_all(session, settings, accepted, refused, read_names=not matches)


def _take_all(
    session: Session,
    settings: Settings,
    accepted: list[tuple[PoliceIncident, str]],
    refused: list[tuple[str, str, str | None]],
    *,
    read_names: bool = True,
) -> list[Taken]:
    for reason, source, key in refused:
        record_refusal(session, reason, source, key)
    read_revisions(session, [incident.incident_id for incident, _ in accepted])
    if read_names:  # not matched ahead: the name counts the matcher weighs names by
        frequencies.read_counts(
            session, [record_of(child) for incident, _ in accepted for child in incident.children]
        )
    taken = []
    for incident, source in accepted:
        intake = process_incident(session, settings, incident, source)
        taken.append(
            Taken(
                incident.incident_id,
                incident.revision,
                intake.outcome.value,
                source,
                tuple(intake.match_outcomes),
            )
        )
    return taken


@dataclasses.dataclass(frozen=True)
class Event:
    """One record as read: a valid incident, or the reason it is refused."""

    value: bytes
    key: bytes | None
    source: str  # topic/partition/offset
    incident: PoliceIncident | None = None
    refusal: str | None = None

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", "replace") if self.key else None

    @property
    def accepted(self) -> list[tuple[PoliceIncident, str]]:
        return [(self.incident, self.source)] if self.incident is not None else []

    @property
    def refused(self) -> list[tuple[str, str, str | None]]:
        return [(self.refusal, self.source, self.key_text)] if self.refusal is not None else []


def read(record: ConsumerRecord[Any, Any]) -> Event:
    value = record.value or b""
    source = f"{record.topic}/{record.partition}/{record.offset}"
    try:
        return Event(value, record.key, source, incident=parse_incident(value))
    except Refused as why:
        return Event(value, record.key, source, refusal=why.reason)
    except Exception as exc:  # parsing touches nothing else: trying again cannot help
        return Event(value, record.key, source, refusal=f"not readable: {describe(exc)}")


class RetryLater(Exception):
    """Raised by the subscriber for a batch to be rewound and retried: its message is
    ``describe``'s, since FastStream logs the exception (SQLAlchemy's own message would put
    the statement's parameters in the log)."""


@dataclasses.dataclass
class BatchOutcome:
    taken: list[Taken] = dataclasses.field(default_factory=list)
    refused: int = 0
    dead_lettered: int = 0


def describe(exc: BaseException) -> str:
    """Why processing failed, without the values involved (SQLAlchemy's own message lists
    the statement's parameters): the database's primary message, or the exception's type,
    and where in our code it was raised."""
    what = type(exc).__name__
    orig = getattr(exc, "orig", None) if isinstance(exc, sa_exc.StatementError) else None
    if isinstance(orig, BaseException):
        if type(orig).__name__ != what:  # e.g. IntegrityError (CheckViolation)
            what += f" ({type(orig).__name__})"
        diag = getattr(orig, "diag", None)
        primary = getattr(diag, "message_primary", None) if diag is not None else None
        sqlstate = getattr(orig, "sqlstate", None)
        if primary:  # PostgreSQL's message, e.g. "value too long for type ..."
            what += f": {primary}" + (f" (SQLSTATE {sqlstate})" if sqlstate else "")
        elif isinstance(orig, sqlite3.Error) or type(orig).__module__.startswith("psycopg"):
            # SQLite's messages, and psycopg's own, name columns and constraints, not values.
            what += f": {str(orig).splitlines()[0] if str(orig) else ''}"
    return f"{what} at {_where(exc)}"[:REASON_MAX]


def _ours(filename: str) -> Path | None:
    path = Path(filename)
    if not path.is_relative_to(_ROOT):
        return None
    relative = path.relative_to(_ROOT)
    return relative if relative.parts and relative.parts[0] in _OURS else None


def _where(exc: BaseException) -> str:
    """The innermost line of our code in the traceback (else the innermost line)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [(shown, f.lineno) for f in frames if (shown := _ours(f.filename)) is not None]
    if ours:
        return f"{ours[-1][0]}:{ours[-1][1]}"
    if frames:
        return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}"
    return "an unknown place"


def _select_one(session: Session) -> None:
    session.execute(text("SELECT 1"))


class IntakeBatches:
    """Takes the batches of the intake subscriber. ``sleep`` is asyncio's, or a test's."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        dead_letter: DeadLetter,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pool: IntakePool | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.dead_letter = dead_letter
        self.sleep = sleep
        self.pool = pool  # ENCOMPASS_INTAKE_WORKERS: the pure work on other cores

    async def take_batch(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> BatchOutcome:
        """Record the batch in one transaction, then dead-letter what was refused. If the
        transaction fails, and not transiently, each event is taken alone (in order), so
        that one event the batch cannot take does not hold the others back."""
        events = [read(record) for record in records]
        refused = [e for e in events if e.refusal is not None]
        for event in refused:
            log.warning("incident_refused", source=event.source, reason=event.refusal)
        accepted = [a for e in events for a in e.accepted]
        # The pool starts on the batch's pure work now; the transaction takes each result
        # when it needs it, or computes it itself. What the pool had not started when the
        # batch ends is cancelled.
        memo = self._submit(accepted)
        try:
            return await self._take(events, refused, accepted, memo)
        finally:
            if memo is not None:
                memo.close()

    def _submit(self, accepted: list[tuple[PoliceIncident, str]]) -> BatchMemo | None:
        """The batch's memo, or None (no pool, nothing to do, or the pool would not take
        it: the batch is then computed in process, never held back by the pool)."""
        if self.pool is None or not accepted:
            return None
        try:
            return self.pool.submit(incident for incident, _ in accepted)
        except Exception as exc:
            log.warning("intake_pool_not_used", error=type(exc).__name__)
            return None

    async def _take(
        self,
        events: list[Event],
        refused: list[Event],
        accepted: list[tuple[PoliceIncident, str]],
        memo: BatchMemo | None,
    ) -> BatchOutcome:
        try:
            taken = await asyncio.to_thread(
                take_batch,
                self.sessions,
                self.settings,
                accepted,
                [r for e in events for r in e.refused],
                memo,
            )
        except Exception as exc:
            if await self.transient(exc):
                raise
            log.warning("batch_failed_one_by_one", count=len(events), error=describe(exc))
            outcome = BatchOutcome(refused=len(refused))
            # A batch of one was that event's first attempt.
            tried, why = (1, describe(exc)) if len(events) == 1 else (0, "")
            for event in events:
                done = await self.take_alone(event, tried, why)
                if done is None:
                    outcome.dead_lettered += 1
                else:
                    outcome.taken += done
            return outcome
        for event in refused:
            await self.dead_letter(event.value, event.key, event.refusal or "", event.source)
        return BatchOutcome(taken, refused=len(refused))

    async def take_alone(self, event: Event, tried: int = 0, why: str = "") -> list[Taken] | None:
        """Take one event, trying up to the setting's number of times. Returns what was
        recorded, or None when the event was dead-lettered; raises when the failure is
        transient (the caller rewinds and tries again later)."""
        limit = self.settings.intake_max_attempts
        for attempt in range(tried + 1, limit + 1):
            if attempt > 1:
                await self.sleep(self.wait_before(attempt))
            try:
                taken = await asyncio.to_thread(
                    take_batch, self.sessions, self.settings, event.accepted, event.refused
                )
            except Exception as exc:
                if await self.transient(exc):
                    raise
                why = describe(exc)
                log.warning(
                    "incident_failed", source=event.source, attempt=attempt, of=limit, error=why
                )
                continue
            if event.refusal is not None:
                await self.dead_letter(event.value, event.key, event.refusal, event.source)
            return taken
        attempts = max(limit, tried)
        reason = f"processing failed {attempts} times: {why}"[:REASON_MAX]
        if event.refusal is not None:
            reason = f"refused ({event.refusal}); and its refusal could not be recorded: {why}"
            reason = reason[:REASON_MAX]
        key = event.incident.incident_id if event.incident is not None else event.key_text
        # Audited first: a dead-letter the trail does not know of must not happen. Should
        # the publish then fail, the event comes back and all of this happens again.
        await run_in_session(self.sessions, record_dead_letter, reason, event.source, key, attempts)
        await self.dead_letter(event.value, event.key, reason, event.source)
        log.error("incident_dead_lettered", source=event.source, attempts=attempts, reason=reason)
        return None

    def wait_before(self, attempt: int) -> float:
        """Before the n-th attempt: the backoff, doubling from the second attempt on."""
        wait = self.settings.intake_retry_backoff_s * 2.0 ** (attempt - 2)
        return min(wait, LONGEST_WAIT_S)

    async def transient(self, exc: BaseException) -> bool:
        if isinstance(exc, TRANSIENT_ERRORS):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        return not await self.database_answers()

    async def database_answers(self) -> bool:
        try:
            await asyncio.wait_for(
                run_in_session(self.sessions, _select_one), timeout=PROBE_TIMEOUT_S
            )
        except Exception:
            return False
        return True
