"""The audit ledger's rows, the relay's cursor and the signed tree heads (audit/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from foundations.database import Base, UtcDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(32), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    incident_id: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    notification_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def as_message(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "action": self.action,
            "actor": self.actor,
            "incident_id": self.incident_id,
            "notification_id": self.notification_id,
            "details": self.details,
            "content_sha256": self.content_sha256,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class RelayCursor(Base):
    """How far the audit rows have been published to ``encompass.audit.v1``, and which
    process publishes them: the one holding the lease (``held_by`` until ``held_until``;
    none when both are null), so that several broker processes do not all publish every
    row (consumers/audit_publish.py)."""

    __tablename__ = "audit_relay_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    held_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    held_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class Checkpoint(Base):
    __tablename__ = "audit_checkpoints"

    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(Integer)
    root: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(100))
    # The database signed (foundations/identity.py); None for heads from before migration 0013.
    database_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ChainCheck(Base):
    """How far the /audit page's incremental check (``audit/incremental.py``) has verified
    the chain and the signed tree heads: the last row checked and its hash, the Merkle
    subtree roots of the rows so far, and the signed heads checked. A shortcut for the page
    only: ``encompass audit verify`` ignores it and checks everything, every time."""

    __tablename__ = "audit_chain_checks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    rows: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    frontier: Mapped[list[str]] = mapped_column(JSON, default=list)  # hex, largest first
    heads: Mapped[int] = mapped_column(Integer, default=0)  # signed heads 1..heads checked
    head_size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    heads_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of those heads
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    full_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
