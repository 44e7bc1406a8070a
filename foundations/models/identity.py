"""The database's own identity and key canary (foundations/identity.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from foundations.database import Base, UtcDateTime


class DatabaseIdentity(Base):
    __tablename__ = "database_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # 32 hex characters, made by migration 0013; never changes, never reused.
    database_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # ``enc2.<key id>.<…>`` (``enc1`` before migration 0017): CANARY_PLAINTEXT under the data
    # key, bound to the database id.
    key_canary: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_canary_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # True once every value in every encrypted column is encrypted (at migration 0013 when
    # none was left in clear, else after `encompass keys rotate`): a value in clear is then
    # refused when read instead of passed through (foundations/crypto.py).
    plaintext_refused: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # True once every encrypted value is bound to its table, column and row (``enc2``; at
    # migration 0017 when no ``enc1`` value was left, else after `encompass keys rotate`):
    # an ``enc1`` value is then refused when read (foundations/crypto.py).
    unbound_refused: Mapped[bool] = mapped_column(Boolean, server_default=false())
