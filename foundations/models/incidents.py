"""Incidents as received from the police, one row per revision."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foundations.clock import utcnow
from foundations.crypto import EncryptedJSON, bound_to
from foundations.database import Base, UtcDateTime, status_column_type


class IncidentOutcome(StrEnum):
    ACCEPTED = "accepted"
    OUT_OF_SCOPE = "out_of_scope"
    STALE = "stale"  # an older revision than one already held


class Incident(Base):
    __tablename__ = "incidents"
    # The police record is bound to its incident and revision (foundations.crypto).
    __table_args__ = (
        UniqueConstraint("incident_id", "revision"),
        bound_to("incident_id", "revision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(64), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    force_code: Mapped[str] = mapped_column(String(16))  # schemas.incident.FORCE_CODE_MAX
    classification: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    outcome: Mapped[IncidentOutcome] = mapped_column(status_column_type(IncidentOutcome))
    payload: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)  # the police record
    # topic/partition/offset: a Kafka topic name has up to 249 characters.
    source: Mapped[str] = mapped_column(String(300), default="")
