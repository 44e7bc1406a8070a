"""The clock: every timestamp the broker stores is an aware UTC datetime from here; what
people read (e-mails, school days, deadlines, reports) is in ``LONDON`` time."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")  # the schools' and the police's local time


def utcnow() -> datetime:
    return datetime.now(UTC)
