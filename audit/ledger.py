"""The audit ledger: an append-only table, one row per step, each row chained to the one
before by SHA-256. Rows are written in the same transaction as the change they record,
through ``record``: a row that cannot be written fails the whole transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from foundations.clock import utcnow
from foundations.models.audit import AuditEvent

GENESIS = "0" * 64
_POSTGRES_CHAIN_LOCK = 0x45_4E_43_4F  # "ENCO": one writer appends to the chain at a time
_TAIL = "audit_tail"  # session.info: (transaction, the last row it appended)
_DEFERRED = "audit_deferred"  # session.info: rows recorded in a ``deferred`` block


class AuditAction(StrEnum):
    RECEIVED = "received"
    REFUSED = "refused"
    DEAD_LETTERED = "dead_lettered"  # processing kept failing: on the dead-letter topic
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"
    STALE = "stale"
    MATCHED = "matched"
    HELD = "held"
    MINIMISED = "minimised"
    SUPERSEDED = "superseded"
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    DIRECTORY_IMPORTED = "directory_imported"
    REPORT_PRODUCED = "report_produced"  # who asked auditors' questions, and which
    SUBJECT_ACCESS_EXPORT = "subject_access_export"
    PURGED = "purged"  # personal content deleted at the end of its retention period
    ACKNOWLEDGED = "acknowledged"
    LATE = "late"
    ESCALATED = "escalated"  # an alert to First Response
    REMINDED = "reminded"  # a reminder to the school's DSL or deputy
    BANK_HOLIDAYS_IMPORTED = "bank_holidays_imported"
    # The First Response console (console/, consumers/review.py).
    VIEWED = "viewed"  # a person opened a notification's details
    CLAIMED = "claimed"
    EDITED = "edited"  # the account changed, with before and after
    REMATCHED = "rematched"  # a reviewer chose another pupil record (school)
    # A reviewer searched the pupil directory to re-match: the terms are in
    # directory_searches (encrypted); the row has their salted SHA-256 and the result count.
    DIRECTORY_SEARCHED = "directory_searched"
    RECALLED = "recalled"  # sent in error: withdrawn, a retraction is on its way
    RETRACTION_SENT = "retraction_sent"  # the school was asked to delete it
    FIRST_APPROVAL = "first_approval"  # four eyes: waits for a second reviewer
    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    USER_ADDED = "user_added"
    # Sessions, accounts and the second factor (console/sessions.py, console/mfa.py).
    SIGNED_OUT = "signed_out"
    SESSIONS_ENDED = "sessions_ended"  # every session of an account, and why
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    USER_COUNCILS_SET = "user_councils_set"  # the councils an account sees (docs/councils.md)
    MFA_ENROLLED = "mfa_enrolled"
    MFA_RESET = "mfa_reset"
    MFA_RECOVERY_USED = "mfa_recovery_used"  # a recovery code spent, and how many are left
    # The residual check (consumers/residual.py, consumers/held_account.py).
    ACCOUNT_HELD = "account_held"  # the officer's account waits for a person
    ACCOUNT_RELEASED = "account_released"  # a person let it go (as read, or edited)
    ACCOUNT_DISCARDED = "account_discarded"  # a person decided the school does not get it
    FOLLOW_UP_SENT = "follow_up_sent"  # the officer's account, after the notification
    # Delivery status notifications (consumers/bounces.py).
    BOUNCED = "bounced"  # an e-mail bounced for good: to whom, why, and what was done
    DELIVERY_DELAYED = "delivery_delayed"  # the receiving system is still trying
    # Councils (consumers/routes.py, docs/councils.md).
    CROSS_BORDER = "cross_border"  # a school beyond the deployment's councils: its handling
    ROUTED = "routed"  # a child on no roll: a reviewer routed it to the home council's officer


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def row_hash(
    *,
    seq: int,
    at: datetime,
    action: str,
    actor: str,
    incident_id: str | None,
    notification_id: str | None,
    details: dict[str, Any],
    content_sha256: str | None,
    prev_hash: str,
) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "action": action,
            "actor": actor,
            "incident_id": incident_id,
            "notification_id": notification_id,
            "details": details,
            "content_sha256": content_sha256,
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return sha256_hex(canonical)


def hash_of(row: AuditEvent) -> str:
    """The hash a row must carry, from its own content and the hash of the row before."""
    return row_hash(
        seq=row.seq,
        at=row.at,
        action=row.action,
        actor=row.actor,
        incident_id=row.incident_id,
        notification_id=row.notification_id,
        details=row.details or {},
        content_sha256=row.content_sha256,
        prev_hash=row.prev_hash,
    )


def lock_chain(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _POSTGRES_CHAIN_LOCK})
    # SQLite: every transaction already holds the write lock (BEGIN IMMEDIATE).


def _tail(session: Session) -> tuple[int, str]:
    """The (seq, hash) of the chain's last row, as this transaction sees it.

    The first row a transaction appends takes the chain lock and reads the tail from the
    table; the lock is held until the transaction ends, so the tail can only be a row this
    transaction appended since, which is kept in ``session.info``. It is trusted only while
    that row is still in the session in the same transaction: a savepoint rolled back
    expunges it, and the tail is read again (a batch of 100 incidents appends ~600 rows:
    one read instead of 600, docs/performance.md)."""
    kept = session.info.get(_TAIL)
    if kept is not None and kept[0] is session.get_transaction() and kept[1] in session:
        return kept[1].seq, kept[1].hash
    lock_chain(session)
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last else (0, GENESIS)


def record(
    session: Session,
    action: AuditAction,
    *,
    actor: str,
    incident_id: str | None = None,
    notification_id: str | None = None,
    details: dict[str, Any] | None = None,
    content_sha256: str | None = None,
) -> AuditEvent:
    """Append one row to the chain inside the caller's transaction.

    The row is inserted with the transaction's next flush (the next query, or the commit),
    together with the others of the transaction: one INSERT for many rows. Should it fail
    (a seq or hash already taken), the whole transaction fails with it.

    ``details`` carries ids, statuses and reasons, never a child's name or date of birth.
    """
    clean = json.loads(json.dumps(details or {}, default=str))
    event = AuditEvent(
        at=utcnow(),
        action=action.value,
        actor=actor,
        incident_id=incident_id,
        notification_id=notification_id,
        details=clean,
        content_sha256=content_sha256,
    )
    waiting: list[AuditEvent] | None = session.info.get(_DEFERRED)
    if waiting is not None:  # chained at the end of the ``deferred`` block
        waiting.append(event)
    else:
        _chain(session, [event])
    return event


def _chain(session: Session, events: list[AuditEvent]) -> None:
    """Link ``events``, in order, after the chain's tail and add them to the session."""
    last_seq, prev = _tail(session)
    for event in events:
        last_seq += 1
        event.seq, event.prev_hash = last_seq, prev
        event.hash = prev = hash_of(event)
    session.add_all(events)
    root = session.get_transaction()
    if root is not None and events:
        session.info[_TAIL] = (root, events[-1])


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """The rows recorded in the block are chained and added at its end, together, in the
    order they were recorded: the chain's lock (PostgreSQL's advisory lock; SQLite's
    transactions hold the write lock already) is taken then, not at the first row, so a
    long transaction (an intake batch matching and minimising) does not hold up every
    other writer of the trail while it works. If the block raises, none is added (its
    transaction is rolled back). Only for a block that opens no savepoint: a row recorded
    in a savepoint rolled back would otherwise still be added."""
    if session.info.get(_DEFERRED) is not None:  # already deferred by an outer block
        yield
        return
    waiting: list[AuditEvent] = []
    session.info[_DEFERRED] = waiting
    try:
        yield
    finally:
        session.info.pop(_DEFERRED, None)
    _chain(session, waiting)


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    first_broken_seq: int | None = None
    problem: str = ""
    last_hash: str = GENESIS


def verify_rows(
    rows: Iterable[AuditEvent], *, after: tuple[int, str] = (0, GENESIS)
) -> Verification:
    """Recompute the chain; stop at the first row that does not follow from the one before.
    ``after``: the (seq, hash) of a row already verified, when the rows given follow it."""
    (done, prev_hash), count = after, 0
    expected_seq = done + 1
    for row in rows:
        if row.seq != expected_seq:
            return Verification(
                False,
                count,
                expected_seq,
                f"rows {expected_seq}..{row.seq - 1} are missing",
                prev_hash,
            )
        if row.prev_hash != prev_hash:
            return Verification(
                False, count, row.seq, "does not link to the row before it", prev_hash
            )
        if hash_of(row) != row.hash:
            return Verification(
                False, count, row.seq, "its content does not match its hash", prev_hash
            )
        prev_hash, expected_seq, count = row.hash, expected_seq + 1, count + 1
    return Verification(True, count, None, "", prev_hash)


def verify(session: Session) -> Verification:
    rows = session.execute(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    ).scalars()
    return verify_rows(rows)
