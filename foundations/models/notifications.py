"""One notification per (incident, child, school), its edits and its escalation steps."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from foundations.clock import utcnow
from foundations.crypto import EncryptedJSON, EncryptedText, bound_to, new_row_key
from foundations.database import Base, UtcDateTime, status_column_type


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
    # Every address of the school it was sent to bounced (consumers/bounces.py): nobody
    # has it; waiting for a person. (Bounced with another address left, it goes there.)
    BOUNCED = "bounced"


UNSENT_STATUSES = (
    NotificationStatus.PENDING_REVIEW,
    NotificationStatus.NOT_FOUND,
    NotificationStatus.APPROVED,
    NotificationStatus.SENDING,
    NotificationStatus.FAILED,
    NotificationStatus.BOUNCED,
)


REVIEWABLE_STATUSES = (
    NotificationStatus.PENDING_REVIEW,
    NotificationStatus.NOT_FOUND,
    NotificationStatus.FAILED,
    NotificationStatus.BOUNCED,
)


class NotificationRoute(StrEnum):
    """To whom a notification goes (consumers/routes.py, docs/councils.md)."""

    SCHOOL = "school"  # the school's DSL (deputy as fallback), whichever council it is in
    # A school in a neighbouring council whose handling is first_response: its First
    # Response, for onward handling.
    NEIGHBOUR_FIRST_RESPONSE = "neighbour_first_response"
    OFFICER_EHE = "officer_ehe"  # a child on no roll: the home council's EHE officer
    OFFICER_CME = "officer_cme"  # ... or its children-missing-education officer


def notification_id(incident_id: str, revision: int, person_id: str, urn: str | None) -> str:
    """Deterministic, so a replayed event lands on the same row and the same Message-ID."""
    key = f"{incident_id}\x1f{revision}\x1f{person_id}\x1f{urn or ''}"
    return "N-" + hashlib.sha256(key.encode()).hexdigest()[:20]


class AccountStatus(StrEnum):
    """The officer's account, when the residual check held it for a person
    (``consumers.held_account``). Unset: nothing was held."""

    HELD = "held"  # waiting for a person; the school has (or will get) the structured account
    RELEASED = "released"  # a person let it go before the notification was sent: it is in it
    FOLLOW_UP = "follow_up"  # a person let it go after sending: a follow-up e-mail is queued
    SENT = "sent"  # the follow-up went to the school
    DISCARDED = "discarded"  # a person decided the school does not get it


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("incident_id", "revision", "person_id", "urn_key"),
        Index("ix_notifications_status_deliver_by", "status", "deliver_by"),
        bound_to("id"),  # encrypted values bound to the notification (foundations.crypto)
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[str] = mapped_column(String(64))
    urn: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    # urn or "" so that the unique constraint also holds for unmatched rows.
    urn_key: Mapped[str] = mapped_column(String(16), default="")
    upn: Mapped[str | None] = mapped_column(String(13), nullable=True, index=True)
    status: Mapped[NotificationStatus] = mapped_column(
        status_column_type(NotificationStatus), index=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON, default=list)
    match_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    is_update: Mapped[bool] = mapped_column(Boolean, default=False)
    # The matcher's verdict when the row was made (consumers.match, configured thresholds):
    # a school, above the release threshold, clear of every other child by the margin.
    releasable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    deliver_by: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # The review queue's sort keys, in clear because they name no one (migration 0019):
    # the incident's DASH risk level, and the best candidate's school (the first
    # candidate's before a school is chosen; ``urn`` after).
    dash_risk: Mapped[str | None] = mapped_column(String(32), nullable=True)
    best_urn: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    # The child's names and date of birth as the police recorded them, encrypted: the
    # queue sorts and searches by them without opening each police record. Purged with it.
    child_sort: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON, nullable=True)
    # The member council that owns it (foundations/councils.py): its reviewers see it, its
    # First Response is in the e-mail. The school's council; for a school beyond the
    # deployment or no school, the child's home council. None in a single-council deployment.
    council: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)
    # To whom it goes (NotificationRoute) and that recipient's council: the school's LA
    # for a school, the neighbour's for its First Response, the home council's for an
    # officer (migration 0023). A school's own route has no council when it is a member's.
    route: Mapped[str] = mapped_column(String(32), default="school", server_default="school")
    route_council: Mapped[str | None] = mapped_column(String(8), nullable=True)
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
    account_status: Mapped[AccountStatus | None] = mapped_column(
        status_column_type(AccountStatus), nullable=True, index=True
    )
    held_account: Mapped[dict[str, Any] | None] = mapped_column(EncryptedJSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    def late_by(self, now: datetime) -> timedelta | None:
        """How far past its ``deliver_by`` the e-mail went (sent late), or is now (not yet
        sent and the deadline passed); None when it was, or still can be, on time."""
        done = self.sent_at if self.sent_at is not None else now
        return done - self.deliver_by if done > self.deliver_by else None


class NotificationEdit(Base):
    """A reviewer's change to what the school will read, before and after, encrypted at
    rest and purged with the incident. Its audit row carries the SHA-256 of both texts, so
    the trail proves the change without holding the account in clear."""

    __tablename__ = "notification_edits"
    # The texts are bound to the notification and to this row (foundations.crypto).
    __table_args__ = bound_to("notification_id", "row_key")

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(32), index=True)
    # The row's random name, known before its integer key (migration 0017).
    row_key: Mapped[str] = mapped_column(String(32), default=new_row_key)
    field: Mapped[str] = mapped_column(String(32))
    before: Mapped[str] = mapped_column(EncryptedText)
    after: Mapped[str] = mapped_column(EncryptedText)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class EscalationStatus(StrEnum):
    PENDING = "pending"  # raised; the alert is waiting to be sent (or being sent)
    SENT = "sent"
    FAILED = "failed"  # gave up: visible in the audit trail
    CANCELLED = "cancelled"  # not sent: no longer needed (acknowledged, or reviewed)
    BOUNCED = "bounced"  # sent, then a delivery status notification said it failed


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
    status: Mapped[EscalationStatus] = mapped_column(
        status_column_type(EscalationStatus), index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")

    @classmethod
    def to_school(cls, n: Notification, step: str, now: datetime) -> EscalationStep:
        """An e-mail to the school that was sent ``n`` (a retraction, a follow-up), due now."""
        if not n.recipient:
            raise ValueError(f"{n.id} was never sent: there is no school address to write to")
        return cls(
            notification_id=n.id, step=step, due_at=now, raised_at=now, role="school",
            recipient=n.recipient, status=EscalationStatus.PENDING, attempts=0,
            last_error="",
        )  # fmt: skip


class DirectorySearch(Base):
    """A reviewer's search of the pupil directory to re-match a notification: the terms
    (UPN, or date of birth and family name) with a random salt, encrypted at rest and purged
    with the incident. Its audit row (``directory_searched``, published to Kafka) carries
    this id, what was searched by, how many pupils were shown and the SHA-256 of the salted
    terms: the trail proves the search without holding a child's details in clear."""

    __tablename__ = "directory_searches"
    # The terms are bound to the notification and to this row (foundations.crypto).
    __table_args__ = bound_to("notification_id", "row_key")

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(32), index=True)
    # The row's random name, known before its integer key (migration 0017).
    row_key: Mapped[str] = mapped_column(String(32), default=new_row_key)
    terms: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    results: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
