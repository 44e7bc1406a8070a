"""Pipeline tables: incidents as received, and one notification per (incident, child, school)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from broker.crypto import EncryptedJSON, EncryptedText
from broker.database import Base, UtcDateTime, utcnow


class IncidentOutcome(StrEnum):
    ACCEPTED = "accepted"
    OUT_OF_SCOPE = "out_of_scope"
    STALE = "stale"  # an older revision than one already held


class NotificationStatus(StrEnum):
    PENDING_REVIEW = "pending_review"  # a person must look before it goes
    NOT_FOUND = "not_found"  # no pupil record matched: First Response may know the school
    APPROVED = "approved"  # released; the delivery worker will send it
    SENDING = "sending"  # claimed by a delivery worker
    SENT = "sent"
    FAILED = "failed"  # permanent failure: visible, waiting for a person
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a newer revision of the incident replaced it
    RECALLED = "recalled"  # sent in error: the school was asked to delete it


UNSENT_STATUSES = (
    NotificationStatus.PENDING_REVIEW,
    NotificationStatus.NOT_FOUND,
    NotificationStatus.APPROVED,
    NotificationStatus.SENDING,
    NotificationStatus.FAILED,
)
REVIEWABLE_STATUSES = (
    NotificationStatus.PENDING_REVIEW,
    NotificationStatus.NOT_FOUND,
    NotificationStatus.FAILED,
)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (UniqueConstraint("incident_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    force_code: Mapped[str] = mapped_column(String(16))  # schemas.incident.FORCE_CODE_MAX
    classification: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)  # the police record
    # topic/partition/offset: a Kafka topic name has up to 249 characters.
    source: Mapped[str] = mapped_column(String(300), default="")


def notification_id(incident_id: str, revision: int, person_id: str, urn: str | None) -> str:
    """Deterministic, so a replayed event lands on the same row and the same Message-ID."""
    key = f"{incident_id}\x1f{revision}\x1f{person_id}\x1f{urn or ''}"
    return "N-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("incident_id", "revision", "person_id", "urn_key"),
        Index("ix_notifications_status_deliver_by", "status", "deliver_by"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[str] = mapped_column(String(64))
    urn: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    # urn or "" so that the unique constraint also holds for unmatched rows.
    urn_key: Mapped[str] = mapped_column(String(16), default="")
    upn: Mapped[str | None] = mapped_column(String(13), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON, default=list)
    match_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    is_update: Mapped[bool] = mapped_column(Boolean, default=False)
    deliver_by: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    content: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON, nullable=True)
    content_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    recipient: Mapped[str | None] = mapped_column(String(254), nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Deadlines and acknowledgement (consumers.escalate, consumers.acknowledge).
    late_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The console (consumers/review.py): a reviewer's claim, who edited the account, and
    # four eyes' first approval.
    review_claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    review_claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    edited_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    first_approved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # The officer's account held by the residual check: {"text", "suspects", "follow_up"}
    # (encrypted), and where it stands (AccountStatus; None when nothing was held).
    account_status: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    held_account: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AccountStatus(StrEnum):
    """The officer's account, when the residual check held it for a person
    (``consumers.held_account``). Unset: nothing was held."""

    HELD = "held"  # waiting for a person; the school has (or will get) the structured account
    RELEASED = "released"  # a person let it go before the notification was sent: it is in it
    FOLLOW_UP = "follow_up"  # a person let it go after sending: a follow-up e-mail is queued
    SENT = "sent"  # the follow-up went to the school
    DISCARDED = "discarded"  # a person decided the school does not get it


class EscalationStatus(StrEnum):
    PENDING = "pending"  # raised; the alert is waiting to be sent (or being sent)
    SENT = "sent"
    FAILED = "failed"  # gave up: visible in the audit trail
    CANCELLED = "cancelled"  # not sent: no longer needed (acknowledged, or reviewed)


class EscalationStep(Base):
    """One step of a notification's escalation, raised once: the unique key is what keeps an
    alert from being sent twice, across restarts and processes. The row is also the outbox
    of its alert e-mail."""

    __tablename__ = "escalation_steps"
    __table_args__ = (UniqueConstraint("notification_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"))
    step: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)
    role: Mapped[str] = mapped_column(String(32))  # first_response | dsl | deputy_dsl
    recipient: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class BankHoliday(Base):
    """England-and-Wales bank holidays loaded from GOV.UK's ``bank-holidays.json``
    (``encompass calendar bank-holidays``). For a year that has rows here, these rows are
    the whole truth; other years fall back to the ``holidays`` package."""

    __tablename__ = "bank_holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


class ConsoleUser(Base):
    """A local account of the console (``encompass users add``): argon2 hash, one role.
    Accounts signed in by OpenID Connect have no password hash; they are named by their
    provider's issuer and subject identifier (``sub``), never by a name the provider may
    give to someone else later."""

    __tablename__ = "console_users"
    __table_args__ = (
        UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_console_users_oidc"),
    )

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # reviewer | auditor | admin
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    oidc_issuer: Mapped[str | None] = mapped_column(String(255), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Multi-factor sign-in (console/mfa.py): the TOTP secret, encrypted at rest, and the
    # last time step accepted, so that no code is accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ConsoleSession(Base):
    """One sign-in to the console (console/sessions.py). The cookie carries a random token;
    only its SHA-256 is kept here, so a copy of the database opens no session. A session
    ends at sign-out, on "sign out everywhere", a password change or a disabled account,
    after the idle timeout, and at its absolute expiry, whichever comes first."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    username: Mapped[str] = mapped_column(ForeignKey("console_users.username"), index=True)
    # full | mfa (the password was right, the second factor is due) | enrol (the account
    # must set up a second factor before anything else)
    level: Mapped[str] = mapped_column(String(8))
    mfa: Mapped[str | None] = mapped_column(String(16), nullable=True)  # how, when done
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_why: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # A TOTP secret offered during enrolment, until its first code is confirmed.
    enrol_secret: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)


class SignInThrottle(Base):
    """Failed sign-ins by account, by address and by second factor, one row per key (a hash
    of it): the row is locked while an attempt is counted, so concurrent guesses cannot
    read the same count (console/throttle.py). Never the password tried."""

    __tablename__ = "console_sign_in_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class RecoveryCode(Base):
    """A single-use recovery code for when the authenticator is lost: SHA-256 only (each
    code has 80 random bits), never the code."""

    __tablename__ = "console_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("console_users.username"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class NotificationEdit(Base):
    """A reviewer's change to what the school will read, before and after, encrypted at
    rest and purged with the incident. Its audit row carries the SHA-256 of both texts, so
    the trail proves the change without holding the account in clear."""

    __tablename__ = "notification_edits"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(32), index=True)
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str] = mapped_column(EncryptedText)
    after: Mapped[str] = mapped_column(EncryptedText)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DirectorySearch(Base):
    """A reviewer's search of the pupil directory to re-match a notification: the terms
    (UPN, or date of birth and family name) with a random salt, encrypted at rest and purged
    with the incident. Its audit row (``directory_searched``, published to Kafka) carries
    this id, what was searched by, how many pupils were shown and the SHA-256 of the salted
    terms: the trail proves the search without holding a child's details in clear."""

    __tablename__ = "directory_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(32), index=True)
    terms: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    results: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
