"""The next school day (SPEC section 6).

``deliver_by`` is the start of the first school day that begins at or after the incident
was reported: a weekday, in term, not an England-and-Wales bank holiday, not a holiday,
INSET or closure day, at the school's ``day_start`` in Europe/London.

Where the calendar is unknown the rules fail towards an EARLIER deadline, never a later
one: no term dates at all means every weekday is in term, and days after the last known
term or before the first are treated as in term too (dates for another year may be all
that was loaded). Days between two known terms are holidays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache

import holidays
from sqlalchemy import Select, bindparam, literal, select
from sqlalchemy.orm import Session

from foundations.clock import LONDON
from foundations.database import per_transaction
from foundations.models import BankHoliday, CalendarEntry, School

DEFAULT_DAY_START = time(8, 30)
SEARCH_DAYS = 400
CLOSED_KINDS = frozenset({"holiday", "inset", "closure"})
_ADDS_TO_LA = frozenset({"inset", "closure"})


@dataclass(frozen=True)
class DateRange:
    """One calendar entry: ``kind`` (term | holiday | inset | closure) from first to last."""

    first_day: date
    last_day: date
    kind: str

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_bank_holiday(day: date) -> bool:
    """An England-and-Wales bank holiday as the ``holidays`` package knows it."""
    return day in _bank_holidays(day.year)


@dataclass(frozen=True)
class BankHolidays:
    """England-and-Wales bank holidays: for each year in ``years`` exactly ``days`` (loaded
    from GOV.UK's ``bank-holidays.json``); for any other year, the ``holidays`` package."""

    days: frozenset[date] = frozenset()
    years: frozenset[int] = frozenset()

    @classmethod
    def of(cls, days: Iterable[date]) -> BankHolidays:
        known = frozenset(days)
        return cls(known, frozenset(d.year for d in known))

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if day.year in self.years:
            return day in self.days
        return is_bank_holiday(day)


BUILT_IN = BankHolidays()


@dataclass(frozen=True)
class SchoolCalendar:
    """One school's calendar, already resolved from its LA's entries and its own."""

    day_start: time = DEFAULT_DAY_START
    entries: tuple[DateRange, ...] = ()
    bank_holidays: BankHolidays = BUILT_IN

    def in_term(self, day: date) -> bool:
        """In a known term, or outside every known term date (unknown: assume open)."""
        terms = self._terms
        if not terms:
            return True
        first, last = self._term_bounds
        if day < first or day > last:
            return True
        return any(t.covers(day) for t in terms)

    def closed_on(self, day: date) -> bool:
        """A holiday, INSET or closure entry covers the day (even inside a term)."""
        return any(e.covers(day) for e in self._closures)

    # Derived once per calendar (a transaction keeps one per school and asks it for every
    # notification of the batch); cached_property writes past the frozen dataclass.
    @cached_property
    def _terms(self) -> tuple[DateRange, ...]:
        return tuple(e for e in self.entries if e.kind == "term")

    @cached_property
    def _term_bounds(self) -> tuple[date, date]:
        return min(t.first_day for t in self._terms), max(t.last_day for t in self._terms)

    @cached_property
    def _closures(self) -> tuple[DateRange, ...]:
        return tuple(e for e in self.entries if e.kind in CLOSED_KINDS)

    @cached_property
    def _next_school_day(self) -> dict[date, date | None]:
        return {}

    def next_school_day(self, day: date) -> date | None:
        """The first school day after ``day`` and within ``SEARCH_DAYS`` of it, or None.
        Kept per day: the notifications of a batch ask it for the same few days."""
        known = self._next_school_day
        if day not in known:
            ahead = (day + timedelta(days=offset) for offset in range(1, SEARCH_DAYS))
            known[day] = next((d for d in ahead if is_school_day(d, self)), None)
        return known[day]


def is_school_day(day: date, calendar: SchoolCalendar) -> bool:
    """A weekday, in term, not a bank holiday, not a holiday, INSET or closure day."""
    return (
        day.weekday() < 5
        and day not in calendar.bank_holidays
        and calendar.in_term(day)
        and not calendar.closed_on(day)
    )


def school_day_start(day: date, day_start: time) -> datetime:
    """``day_start`` on ``day`` in London, as an aware UTC instant."""
    return datetime.combine(day, day_start, tzinfo=LONDON).astimezone(UTC)


def deliver_by(reported_at: datetime, calendar: SchoolCalendar) -> datetime:
    """The start (UTC) of the first school day that begins at or after ``reported_at``.

    Looks at most ``SEARCH_DAYS`` ahead; if no school day is found there it falls back to
    the next weekday that is not a bank holiday.
    """
    if reported_at.tzinfo is None or reported_at.utcoffset() is None:
        raise ValueError("reported_at must carry a UTC offset")
    first = reported_at.astimezone(LONDON).date()
    start = school_day_start(first, calendar.day_start)
    if start >= reported_at and is_school_day(first, calendar):
        return start
    # A later day's start is always after reported_at: only the day matters from here.
    later = calendar.next_school_day(first)
    if later is not None:
        return school_day_start(later, calendar.day_start)
    for offset in range(SEARCH_DAYS):
        day = first + timedelta(days=offset)
        start = school_day_start(day, calendar.day_start)
        if start >= reported_at and day.weekday() < 5 and day not in calendar.bank_holidays:
            return start
    raise AssertionError("no weekday in 400 days")  # pragma: no cover


def resolve_entries(
    la_entries: Iterable[DateRange], own_entries: Iterable[DateRange]
) -> tuple[DateRange, ...]:
    """A school with its own ``term`` dates follows only its own entries; otherwise its
    LA's, plus its own INSET and closure days (its own holidays alone are ignored, so a
    half-term that differs from the LA's cannot push a deadline later)."""
    own = tuple(own_entries)
    if any(e.kind == "term" for e in own):
        return own
    return tuple(la_entries) + tuple(e for e in own if e.kind in _ADDS_TO_LA)


def parse_day_start(value: str | None, default: time = DEFAULT_DAY_START) -> time:
    """``"08:40"`` -> 08:40; empty or malformed -> ``default``."""
    if value:
        try:
            hours, minutes = (int(part) for part in value.split(":"))
            return time(hours, minutes)
        except ValueError:
            pass
    return default


def school_of(session: Session, urn: str) -> School | None:
    """School ``urn``'s row, read once per transaction: an intake batch asks for the same
    schools' calendars, names and councils over and over. The imports that write schools
    forget it (``forget_per_transaction``)."""
    return per_transaction(session, f"school:{urn}", lambda: session.get(School, urn))


@lru_cache(maxsize=1)
def _school_and_entries() -> Select[School, str | None, date | None, date | None, str | None]:
    """School ``:urn`` with each calendar entry of its LA (``la:<code>``) and its own
    (``urn:<urn>``), in date order; one row with no entry when it has none."""
    scopes = (literal("la:") + School.la_code, literal("urn:") + School.urn)
    entry = CalendarEntry
    return (
        select(School, entry.scope, entry.first_day, entry.last_day, entry.kind)
        .outerjoin(entry, entry.scope.in_(scopes))
        .where(School.urn == bindparam("urn"))
        .order_by(entry.first_day, entry.kind)
    )


def calendar_for_school(
    session: Session, urn: str | None, default_day_start: time = DEFAULT_DAY_START
) -> SchoolCalendar:
    """The resolved calendar of school ``urn``; unknown or None -> no entries. The school
    and its entries (its LA's and its own) in one query; the school is kept for the
    transaction as ``school_of`` keeps it."""
    known = per_transaction(session, "bank_holidays", lambda: load_bank_holidays(session))
    rows = session.execute(_school_and_entries(), {"urn": urn}).all() if urn else []
    school = rows[0][0] if rows else None
    if urn:
        per_transaction(session, f"school:{urn}", lambda: school)  # read above, with the rest
    if school is None:
        return SchoolCalendar(default_day_start, (), known)
    own_scope = f"urn:{school.urn}"
    la_entries: list[DateRange] = []
    own_entries: list[DateRange] = []
    for _school, scope, first_day, last_day, kind in rows:
        if scope is None or first_day is None or last_day is None or kind is None:
            continue  # the school has no entries, nor has its LA (the outer join's row)
        target = own_entries if scope == own_scope else la_entries
        target.append(DateRange(first_day, last_day, kind))
    return SchoolCalendar(
        parse_day_start(school.day_start, default_day_start),
        resolve_entries(la_entries, own_entries),
        known,
    )


def load_bank_holidays(session: Session) -> BankHolidays:
    """The bank holidays loaded with ``encompass calendar bank-holidays``, over the
    package's."""
    return BankHolidays.of(session.execute(select(BankHoliday.day)).scalars())


def deliver_by_for_school(
    session: Session,
    urn: str | None,
    reported_at: datetime,
    default_day_start: time = DEFAULT_DAY_START,
) -> datetime:
    """``deliver_by`` for school ``urn`` using the directory's calendar. The calendar is
    read once per transaction and school: an intake batch asks for the same schools, and
    the same bank holidays, over and over (docs/performance.md)."""
    calendar = per_transaction(
        session,
        f"calendar:{urn}:{default_day_start.isoformat()}",
        lambda: calendar_for_school(session, urn, default_day_start),
    )
    return deliver_by(reported_at, calendar)
