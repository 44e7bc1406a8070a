"""Bank holidays and the schools' and local authorities' calendars."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foundations.database import Base


class BankHoliday(Base):
    """England-and-Wales bank holidays loaded from GOV.UK's ``bank-holidays.json``
    (``encompass calendar bank-holidays``). For a year that has rows here, these rows are
    the whole truth; other years fall back to the ``holidays`` package."""

    __tablename__ = "bank_holidays"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


class CalendarEntry(Base):
    __tablename__ = "calendar_entries"
    __table_args__ = (UniqueConstraint("scope", "first_day", "last_day", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(24), index=True)  # la:<code> | urn:<urn>
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))  # term | holiday | inset | closure
