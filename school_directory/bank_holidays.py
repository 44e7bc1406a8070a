"""Refreshing the bank holidays from GOV.UK's ``bank-holidays.json``.

The ``holidays`` package knows the England-and-Wales bank holidays built in. A one-off
day (a coronation, a state funeral) can be announced after the package was released: the
file GOV.UK publishes, downloaded and given to ``encompass calendar bank-holidays --file``,
then wins for every year it covers. The machine running the broker needs no internet.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from foundations.database import forget_per_transaction
from foundations.models import BankHoliday

DIVISION = "england-and-wales"


class BankHolidayFileError(ValueError):
    """The file is not GOV.UK's bank-holidays format; says what is wrong."""


@dataclass(frozen=True)
class ImportResult:
    years: tuple[int, ...]
    days: int
    added: int
    removed: int
    retitled: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retitled)


def parse_govuk(data: Any, division: str = DIVISION) -> dict[date, str]:
    """``{"england-and-wales": {"division": ..., "events": [{"title", "date"}, ...]}}``
    -> {day: title}."""
    if not isinstance(data, dict) or not isinstance(data.get(division), dict):
        raise BankHolidayFileError(f"no {division!r} division: is this GOV.UK's file?")
    events = data[division].get("events")
    if not isinstance(events, list) or not events:
        raise BankHolidayFileError(f"the {division!r} division lists no events")
    days: dict[date, str] = {}
    for number, event in enumerate(events, start=1):
        try:
            day = date.fromisoformat(event["date"])
            title = str(event.get("title") or "Bank holiday")[:200]
        except (TypeError, KeyError, ValueError) as exc:
            raise BankHolidayFileError(f"event {number} has no valid date: {exc}") from exc
        days[day] = title
    return days


def import_bank_holidays(
    session: Session, days: dict[date, str], *, actor: str, source: str = ""
) -> ImportResult:
    """Make the stored days of every year in ``days`` exactly ``days``; other years are
    left alone. Importing the same file again changes nothing and records nothing."""
    forget_per_transaction(session)  # the bank holidays deadlines were read from
    years = sorted({d.year for d in days})
    stored = {
        row.day: row
        for row in session.execute(select(BankHoliday)).scalars()
        if row.day.year in years
    }
    removed = [row for day, row in stored.items() if day not in days]
    added = [BankHoliday(day=day, title=title) for day, title in days.items() if day not in stored]
    retitled = 0
    for day, row in stored.items():
        if day in days and row.title != days[day]:
            row.title, retitled = days[day], retitled + 1
    for row in removed:
        session.delete(row)
    session.add_all(added)
    result = ImportResult(tuple(years), len(days), len(added), len(removed), retitled)
    if result.changed:
        session.flush()
        record(
            session,
            AuditAction.BANK_HOLIDAYS_IMPORTED,
            actor=actor,
            details={
                "division": DIVISION,
                "years": f"{years[0]}-{years[-1]}",
                "days": len(days),
                "added": [d.isoformat() for d in sorted(a.day for a in added)],
                "removed": [r.day.isoformat() for r in removed],
                "source_sha256": source,
            },
        )
    return result


def import_file(session: Session, path: Path, *, actor: str) -> ImportResult:
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BankHolidayFileError(f"not JSON: {exc}") from exc
    return import_bank_holidays(
        session, parse_govuk(data), actor=actor, source=hashlib.sha256(raw).hexdigest()
    )
