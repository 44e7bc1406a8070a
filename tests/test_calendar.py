"""The next school day (SPEC section 6), read against a real 2026/27 calendar.

Autumn term 3 Sep - 18 Dec 2026 with half-term 26-30 Oct and an INSET day on Monday
2 Nov; spring term 5 Jan - 26 Mar 2027 with half-term 15-19 Feb; summer term 12 Apr -
21 Jul 2027 with half-term 31 May - 4 Jun. Clocks go back on Sunday 25 Oct 2026 and
forward on Sunday 28 Mar 2027, so 08:30 in London is 08:30 UTC in winter, 07:30 in summer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from broker.database import make_engine, session_factory, transaction, upgrade
from school_directory.calendar import (
    LONDON,
    DateRange,
    SchoolCalendar,
    calendar_for_school,
    deliver_by,
    deliver_by_for_school,
    is_bank_holiday,
    is_school_day,
    resolve_entries,
)
from school_directory.store import CalendarEntry, School


def span(kind: str, first: str, last: str | None = None) -> DateRange:
    return DateRange(date.fromisoformat(first), date.fromisoformat(last or first), kind)


LA_2026_27 = (
    span("term", "2026-09-03", "2026-12-18"),
    span("holiday", "2026-10-26", "2026-10-30"),
    span("inset", "2026-11-02"),
    span("term", "2027-01-05", "2027-03-26"),
    span("holiday", "2027-02-15", "2027-02-19"),
    span("term", "2027-04-12", "2027-07-21"),
    span("holiday", "2027-05-31", "2027-06-04"),
)
MAINTAINED = SchoolCalendar(time(8, 30), LA_2026_27)
UNKNOWN = SchoolCalendar()


def london(text: str) -> datetime:
    """A wall-clock time in London, e.g. ``"2026-11-20 23:00"``."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- ordinary weeks ------------------------------------------------------------------------


def test_friday_night_is_due_monday_morning() -> None:
    assert deliver_by(london("2026-11-20 23:00"), MAINTAINED) == utc("2026-11-23 08:30")


def test_saturday_is_due_monday_morning() -> None:
    assert deliver_by(london("2026-11-21 10:00"), MAINTAINED) == utc("2026-11-23 08:30")


def test_during_the_school_day_it_is_due_next_school_day() -> None:
    assert deliver_by(london("2026-11-24 08:45"), MAINTAINED) == utc("2026-11-25 08:30")


def test_exactly_at_the_start_of_the_day_is_due_that_morning() -> None:
    assert deliver_by(london("2026-11-24 08:30"), MAINTAINED) == utc("2026-11-24 08:30")


def test_after_midnight_is_due_that_morning() -> None:
    assert deliver_by(london("2026-11-24 00:10"), MAINTAINED) == utc("2026-11-24 08:30")


def test_a_school_starting_at_0840() -> None:
    late_start = SchoolCalendar(time(8, 40), LA_2026_27)
    assert deliver_by(london("2026-11-23 08:35"), late_start) == utc("2026-11-23 08:40")
    assert deliver_by(london("2026-11-23 08:35"), MAINTAINED) == utc("2026-11-24 08:30")


def test_the_answer_is_an_aware_utc_instant_whatever_the_input_offset() -> None:
    due = deliver_by(datetime.fromisoformat("2026-11-20T23:00:00-05:00"), MAINTAINED)
    assert due == utc("2026-11-23 08:30") and due.tzinfo is UTC


def test_a_time_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        deliver_by(datetime(2026, 11, 20, 23, 0), MAINTAINED)


# --- bank holidays, holidays, INSET days ---------------------------------------------------


def test_sunday_before_the_early_may_bank_holiday_is_due_tuesday() -> None:
    assert is_bank_holiday(date(2027, 5, 3))  # Early May bank holiday, Monday 3 May 2027
    assert deliver_by(london("2027-05-02 21:00"), MAINTAINED) == utc("2027-05-04 07:30")


def test_substitute_bank_holidays_are_known() -> None:
    assert is_bank_holiday(date(2026, 12, 28))  # Boxing Day falls on a Saturday
    assert is_bank_holiday(date(2027, 12, 27)) and is_bank_holiday(date(2027, 12, 28))
    assert not is_bank_holiday(date(2026, 12, 29))


def test_last_day_of_autumn_term_is_due_on_the_first_day_of_spring_term() -> None:
    assert deliver_by(london("2026-12-18 19:00"), MAINTAINED) == utc("2027-01-05 08:30")
    assert not is_school_day(date(2027, 1, 4), MAINTAINED)  # a Monday, not yet term


def test_friday_before_half_term_skips_the_holiday_and_the_inset_monday() -> None:
    assert not is_school_day(date(2026, 11, 2), MAINTAINED)
    assert deliver_by(london("2026-10-23 17:00"), MAINTAINED) == utc("2026-11-03 08:30")


def test_a_holiday_inside_a_term_is_not_a_school_day() -> None:
    assert is_school_day(date(2027, 2, 12), MAINTAINED)
    assert not is_school_day(date(2027, 2, 15), MAINTAINED)
    assert deliver_by(london("2027-02-12 16:00"), MAINTAINED) == utc("2027-02-22 08:30")


def test_a_closure_day_is_not_a_school_day() -> None:
    polling_station = SchoolCalendar(entries=(*LA_2026_27, span("closure", "2027-05-06")))
    assert deliver_by(london("2027-05-05 18:00"), polling_station) == utc("2027-05-07 07:30")


# --- the clocks change ---------------------------------------------------------------------


def test_clocks_go_back_on_sunday_25_october_2026() -> None:
    assert deliver_by(london("2026-10-23 12:00"), UNKNOWN) == utc("2026-10-26 08:30")
    assert deliver_by(london("2026-10-22 12:00"), UNKNOWN) == utc("2026-10-23 07:30")


def test_clocks_go_forward_on_sunday_28_march_2027() -> None:
    # Good Friday 26 March and Easter Monday 29 March are bank holidays.
    assert deliver_by(london("2027-03-25 12:00"), UNKNOWN) == utc("2027-03-30 07:30")
    assert deliver_by(london("2027-03-24 12:00"), UNKNOWN) == utc("2027-03-25 08:30")


# --- unknown calendars fail towards an earlier deadline ------------------------------------


def test_no_calendar_data_means_the_next_weekday() -> None:
    assert deliver_by(london("2026-08-01 10:00"), UNKNOWN) == utc("2026-08-03 07:30")


def test_after_the_last_known_term_every_weekday_counts() -> None:
    assert deliver_by(london("2027-07-23 10:00"), MAINTAINED) == utc("2027-07-26 07:30")


def test_before_the_first_known_term_every_weekday_counts() -> None:
    assert deliver_by(london("2026-08-14 10:00"), MAINTAINED) == utc("2026-08-17 07:30")


def test_a_calendar_with_no_school_day_falls_back_to_the_next_weekday() -> None:
    shut = SchoolCalendar(entries=(span("closure", "2026-01-01", "2029-12-31"),))
    assert deliver_by(london("2026-11-20 23:00"), shut) == utc("2026-11-23 08:30")


# --- an academy with its own dates ---------------------------------------------------------

ACADEMY_OWN = (
    span("term", "2026-09-02", "2026-12-17"),
    span("holiday", "2026-10-19", "2026-10-30"),  # a two-week autumn half-term
    span("term", "2027-01-04", "2027-03-25"),
)


def test_an_academy_with_its_own_half_term() -> None:
    academy = SchoolCalendar(entries=resolve_entries(LA_2026_27, ACADEMY_OWN))
    friday = london("2026-10-16 18:00")
    assert deliver_by(friday, MAINTAINED) == utc("2026-10-19 07:30")
    assert deliver_by(friday, academy) == utc("2026-11-02 08:30")  # no LA INSET day


def test_own_inset_days_add_to_the_las_and_own_holidays_alone_do_not() -> None:
    own = (span("inset", "2026-11-03"), span("holiday", "2026-11-04"))
    school = SchoolCalendar(entries=resolve_entries(LA_2026_27, own))
    assert not is_school_day(date(2026, 11, 2), school)  # the LA's INSET
    assert not is_school_day(date(2026, 11, 3), school)  # its own INSET
    assert is_school_day(date(2026, 11, 4), school)  # a holiday without own terms


# --- from the directory --------------------------------------------------------------------


@pytest.fixture
def session(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Session]:
    template = tmp_path_factory.getbasetemp() / "calendar-template.db"
    if not template.exists():
        upgrade(f"sqlite:///{template}")
    shutil.copy(template, tmp_path / "calendar.db")
    engine = make_engine(f"sqlite:///{tmp_path / 'calendar.db'}")
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        for urn, name, day_start in (
            ("100001", "Example Primary School", "08:40"),
            ("100003", "Harbour Academy", None),
        ):
            s.add(School(urn=urn, name=name, la_code="850", la_name="Hampshire",
                         status="Open", day_start=day_start))  # fmt: skip
        for scope, entries in (("la:850", LA_2026_27), ("urn:100003", ACADEMY_OWN)):
            s.add_all(
                CalendarEntry(scope=scope, first_day=e.first_day, last_day=e.last_day, kind=e.kind)
                for e in entries
            )
    with sessions() as s:
        yield s
    engine.dispose()


def test_a_maintained_school_follows_its_la(session: Session) -> None:
    calendar = calendar_for_school(session, "100001", time(8, 30))
    assert calendar.day_start == time(8, 40)
    assert set(calendar.entries) == set(LA_2026_27)
    assert deliver_by_for_school(session, "100001", london("2026-10-16 18:00"), time(8, 30)) == utc(
        "2026-10-19 07:40"
    )


def test_an_academy_follows_only_its_own_dates(session: Session) -> None:
    calendar = calendar_for_school(session, "100003", time(8, 30))
    assert set(calendar.entries) == set(ACADEMY_OWN)
    assert deliver_by_for_school(session, "100003", london("2026-10-16 18:00"), time(8, 30)) == utc(
        "2026-11-02 08:30"
    )


def test_an_unknown_school_gets_the_default_calendar(session: Session) -> None:
    assert calendar_for_school(session, "999999", time(8, 45)) == SchoolCalendar(time(8, 45))
    assert calendar_for_school(session, None, time(8, 45)) == SchoolCalendar(time(8, 45))
    assert deliver_by_for_school(session, None, london("2026-12-18 19:00"), time(8, 45)) == utc(
        "2026-12-21 08:45"
    )
