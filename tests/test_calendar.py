"""The next school day (SPEC section 6), read against a real 2026/27 calendar.

Autumn term 3 Sep - 18 Dec 2026 with half-term 26-30 Oct and an INSET day on Monday
2 Nov; spring term 5 Jan - 26 Mar 2027 with half-term 15-19 Feb; summer term 12 Apr -
21 Jul 2027 with half-term 31 May - 4 Jun. Clocks go back on Sunday 25 Oct 2026 and
forward on Sunday 28 Mar 2027, so 08:30 in London is 08:30 UTC in winter, 07:30 in summer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers.render import render_email
from foundations.clock import LONDON
from foundations.database import make_engine, session_factory, transaction, upgrade
from foundations.models import AuditEvent, CalendarEntry, School
from schemas.notification import SchoolNotification
from school_directory.bank_holidays import BankHolidayFileError, parse_govuk
from school_directory.calendar import (
    BankHolidays,
    DateRange,
    SchoolCalendar,
    calendar_for_school,
    deliver_by,
    deliver_by_for_school,
    is_bank_holiday,
    is_school_day,
    resolve_entries,
)
from tests.deadlines import content


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


def test_an_inset_monday_in_an_ordinary_week() -> None:
    inset_monday = SchoolCalendar(entries=(*LA_2026_27, span("inset", "2027-01-11")))
    assert not is_school_day(date(2027, 1, 11), inset_monday)
    assert deliver_by(london("2027-01-09 20:00"), inset_monday) == utc("2027-01-12 08:30")
    assert deliver_by(london("2027-01-09 20:00"), MAINTAINED) == utc("2027-01-11 08:30")


def test_an_incident_in_the_christmas_holiday_is_due_on_the_first_day_back() -> None:
    assert deliver_by(london("2026-12-25 14:00"), MAINTAINED) == utc("2027-01-05 08:30")


def test_last_day_of_the_school_year_is_due_in_september_when_those_dates_are_known() -> None:
    year_end = SchoolCalendar(entries=(*LA_2026_27, span("term", "2027-09-02", "2027-12-17")))
    assert deliver_by(london("2027-07-21 16:00"), year_end) == utc("2027-09-02 07:30")


# --- the clocks change ---------------------------------------------------------------------


def test_friday_night_before_the_clocks_go_back_is_due_monday_at_0830_gmt() -> None:
    # Half-term 26-30 October and the INSET Monday 2 November come first for the LA.
    assert deliver_by(london("2026-10-23 23:00"), MAINTAINED) == utc("2026-11-03 08:30")
    no_half_term = SchoolCalendar(entries=(span("term", "2026-09-03", "2026-12-18"),))
    assert deliver_by(london("2026-10-23 23:00"), no_half_term) == utc("2026-10-26 08:30")


def test_during_the_repeated_hour_when_the_clocks_go_back() -> None:
    # 01:30 happens twice on Sunday 25 October 2026; both are due on Monday at 08:30 GMT.
    no_half_term = SchoolCalendar(entries=(span("term", "2026-09-03", "2026-12-18"),))
    first = datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=0)
    second = datetime(2026, 10, 25, 1, 30, tzinfo=LONDON, fold=1)
    assert first.utcoffset() != second.utcoffset()
    for moment in (first, second):
        assert deliver_by(moment, no_half_term) == utc("2026-10-26 08:30")


def test_saturday_night_as_the_clocks_go_forward_is_due_at_0730_utc() -> None:
    summer = SchoolCalendar(entries=(span("term", "2027-03-01", "2027-03-31"),))
    # Monday 29 March 2027 is Easter Monday: due Tuesday at 08:30 BST, 07:30 UTC.
    assert deliver_by(london("2027-03-27 23:30"), summer) == utc("2027-03-30 07:30")
    # A maintained school is on its Easter holiday: back on Monday 12 April.
    assert deliver_by(london("2027-03-27 23:30"), MAINTAINED) == utc("2027-04-12 07:30")


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


def plain_deliver_by(reported_at: datetime, calendar: SchoolCalendar) -> datetime:
    """SPEC section 6 read literally: each day from the reported day on, the first whose
    start is at or after the report and which is a school day (then, failing one within
    400 days, a weekday that is not a bank holiday)."""
    first = reported_at.astimezone(LONDON).date()
    for school_days_only in (True, False):
        for offset in range(400):
            day = first + timedelta(days=offset)
            start = datetime.combine(day, calendar.day_start, tzinfo=LONDON).astimezone(UTC)
            weekday = day.weekday() < 5 and day not in calendar.bank_holidays
            open_ = is_school_day(day, calendar) if school_days_only else weekday
            if start >= reported_at and open_:
                return start
    raise AssertionError("no weekday in 400 days")


KINDS = st.sampled_from(["term", "term", "holiday", "inset", "closure"])


@st.composite
def calendars(draw: st.DrawFn) -> SchoolCalendar:
    entries = []
    for _ in range(draw(st.integers(0, 8))):
        first = date(2026, 6, 1) + timedelta(days=draw(st.integers(0, 500)))
        last = first + timedelta(days=draw(st.integers(0, 120)))
        entries.append(DateRange(first, last, draw(KINDS)))
    start = time(draw(st.integers(0, 10)), draw(st.sampled_from([0, 15, 30, 40, 45])))
    return SchoolCalendar(start, tuple(entries))


@settings(max_examples=300, deadline=None)
@given(
    calendar=calendars(),
    minutes=st.lists(st.integers(0, 60 * 24 * 560), min_size=1, max_size=6),
)
def test_the_deadline_is_the_rule_read_literally(
    calendar: SchoolCalendar, minutes: list[int]
) -> None:
    """The kept next school day (a calendar asked for many notifications) changes no
    answer: any calendar, several reports against the same one, in any order."""
    for m in minutes:
        reported = datetime(2026, 6, 1, tzinfo=UTC) + timedelta(minutes=m)
        assert deliver_by(reported, calendar) == plain_deliver_by(reported, calendar)


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


# --- bank holidays from GOV.UK's file ------------------------------------------------------

GOVUK = {
    "england-and-wales": {
        "division": "england-and-wales",
        "events": [
            {"title": "New Year’s Day", "date": "2027-01-01", "notes": "", "bunting": True},
            {"title": "Good Friday", "date": "2027-03-26", "notes": "", "bunting": False},
            {"title": "Easter Monday", "date": "2027-03-29", "notes": "", "bunting": True},
            {"title": "Early May bank holiday", "date": "2027-05-03", "notes": "", "bunting": True},
            {"title": "Extra bank holiday", "date": "2027-06-07", "notes": "", "bunting": True},
        ],
    },
    "scotland": {"division": "scotland", "events": [{"title": "2 Jan", "date": "2027-01-04"}]},
}


def test_a_year_in_the_file_follows_the_file_and_other_years_the_package() -> None:
    known = BankHolidays.of(parse_govuk(GOVUK))
    assert date(2027, 6, 7) in known and not is_bank_holiday(date(2027, 6, 7))
    assert date(2027, 5, 31) not in known  # the file for 2027 is the whole truth
    assert date(2027, 1, 4) not in known  # Scotland's day is not England's
    assert date(2026, 12, 28) in known  # 2026 is not in the file: the package knows it


def test_an_extra_bank_holiday_moves_the_deadline() -> None:
    extra = SchoolCalendar(entries=LA_2026_27, bank_holidays=BankHolidays.of(parse_govuk(GOVUK)))
    assert deliver_by(london("2027-06-06 20:00"), MAINTAINED) == utc("2027-06-07 07:30")
    assert deliver_by(london("2027-06-06 20:00"), extra) == utc("2027-06-08 07:30")


@pytest.mark.parametrize(
    "bad",
    [[], {"scotland": {}}, {"england-and-wales": {"events": []}},
     {"england-and-wales": {"events": [{"title": "x", "date": "31/12/2027"}]}}],
)  # fmt: skip
def test_a_file_that_is_not_govuks_is_refused(bad: object) -> None:
    with pytest.raises(BankHolidayFileError):
        parse_govuk(bad)


def test_the_command_loads_the_file_into_the_directory_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env |= {"ENCOMPASS_DATABASE_URL": sqlite_url, "ENCOMPASS_DATA_DIR": str(tmp_path)}
    source = tmp_path / "bank-holidays.json"
    source.write_text(json.dumps(GOVUK))

    def encompass() -> subprocess.CompletedProcess[str]:
        # A process of its own: the CLI configures logging for the whole process.
        return subprocess.run(
            [sys.executable, "-m", "broker.cli", "calendar", "bank-holidays",
             "--file", str(source), "--as", "tester"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    first, second = encompass(), encompass()
    assert first.returncode == 0 and "5 days (5 added, 0 removed)" in first.stdout
    assert second.returncode == 0 and "already up to date" in second.stdout
    engine = make_engine(sqlite_url)
    with session_factory(engine)() as session:
        imported = session.execute(
            select(AuditEvent).where(AuditEvent.action == "bank_holidays_imported")
        ).scalars().all()  # fmt: skip
        assert len(imported) == 1 and imported[0].actor == "cli:tester"
        assert date(2027, 6, 7) in calendar_for_school(session, None).bank_holidays
        assert deliver_by_for_school(session, None, london("2027-06-06 20:00")) == utc(
            "2027-06-08 07:30"
        )
    engine.dispose()
    source.write_text("{not json")
    refused = encompass()
    assert refused.returncode == 1 and "not JSON" in refused.stderr


def test_the_email_for_a_holiday_incident_says_when_it_happened_and_when_it_is_due() -> None:
    occurred = london("2026-12-25 14:00")
    due = deliver_by(occurred + timedelta(minutes=25), MAINTAINED)
    email = render_email(SchoolNotification.model_validate(content("N-xmas", due, occurred)))
    assert "When: Friday 25 December 2026 at 14:00" in email.text
    assert "supported by 08:30 on Tuesday 5 January 2027" in email.text
