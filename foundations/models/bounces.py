"""Bounces: what delivery status notifications (RFC 3464) said of the e-mails the broker sent
(consumers/bounces.py). One row per report taken, for a notification's own e-mail or for one
of its escalation steps' (a reminder, a retraction, an alert)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from foundations.clock import utcnow
from foundations.database import Base, UtcDateTime, status_column_type


class BounceKind(StrEnum):
    PERMANENT = "permanent"  # the receiving system gave up (Action: failed, a 5.x.x status)
    DELAYED = "delayed"  # still trying (Action: delayed, a 4.x.x status): recorded only


class Bounce(Base):
    __tablename__ = "bounces"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(ForeignKey("notifications.id"), index=True)
    # The escalation step whose e-mail bounced; None: the notification's own e-mail.
    step_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("escalation_steps.id"), nullable=True
    )
    step: Mapped[str] = mapped_column(String(32), default="")
    role: Mapped[str] = mapped_column(String(32))  # dsl | deputy_dsl | school | first_response
    recipient: Mapped[str] = mapped_column(String(254))  # the address it was sent to
    kind: Mapped[BounceKind] = mapped_column(status_column_type(BounceKind))
    status: Mapped[str] = mapped_column(String(16), default="")  # e.g. 5.1.1
    diagnostic: Mapped[str] = mapped_column(Text, default="")  # the remote server's words
    via: Mapped[str] = mapped_column(String(16))  # smtp (the listener) | imap | file
    # The SHA-256 of the report as received: the same report twice is taken once.
    report_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
