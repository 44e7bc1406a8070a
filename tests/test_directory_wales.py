"""The directory holds every establishment (issue 17, item 2): GIAS for England, and Welsh
schools in the same column layout with their Welsh LA codes; each council's officers for
children on no roll (item 3). On SQLite and PostgreSQL (the ``sessions`` fixture)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import holidays
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from foundations.database import transaction
from foundations.models import CouncilContact, School
from school_directory.calendar import deliver_by_for_school, is_bank_holiday
from school_directory.imports import import_calendar, import_council_contacts, import_schools
from school_directory.upsert import ImportReport

DATA = Path(__file__).parent / "data"
WALES = DATA / "gias_wales_sample.csv"
WALES_CALENDAR = DATA / "calendar_wales_sample.csv"
COUNCIL_CONTACTS = DATA / "council_contacts_sample.csv"


def run(sessions: sessionmaker[Session], importer: object, path: Path) -> ImportReport:
    with transaction(sessions) as session:
        report: ImportReport = importer(session, path)  # type: ignore[operator]
    return report


def test_welsh_schools_are_read_in_the_gias_layout_as_windows_1252(
    sessions: sessionmaker[Session],
) -> None:
    assert b"T\xe2f" in WALES.read_bytes() and b"a\x92r" in WALES.read_bytes()  # cp1252
    report = run(sessions, import_schools, WALES)
    assert (report.rows_read, report.inserted) == (6, 5)
    assert report.errors == [(6, "LA (code) is empty")]
    with sessions() as session:
        vale = session.get(School, "401001")
        assert vale is not None
        assert (vale.name, vale.la_code, vale.la_name) == (
            "Ysgol Gynradd Gymraeg Enghraifft Tâf", "673", "Vale of Glamorgan",
        )  # fmt: skip
        assert (vale.type, vale.postcode, vale.is_open) == ("Welsh establishment", "CF62 9ZZ", True)
        sea = session.get(School, "401002")
        assert sea is not None and sea.name == "Ysgol Uwchradd Glan-y-Môr Enghreifftiol"
        college = session.get(School, "401003")
        assert college is not None
        assert (college.name, college.type, college.la_code) == (
            "Coleg Caerdydd a’r Fro Enghraifft", "Further education", "681",
        )  # fmt: skip
        sixth = session.get(School, "149001")
        assert sixth is not None and sixth.type == "Academy 16-19 converter"
        assert session.get(School, "401006").la_code == "682"  # type: ignore[union-attr]
    again = run(sessions, import_schools, WALES)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)


def test_a_welsh_schools_deadline_follows_its_las_term_dates(
    sessions: sessionmaker[Session],
) -> None:
    run(sessions, import_schools, WALES)
    calendar = run(sessions, import_calendar, WALES_CALENDAR)
    assert (calendar.inserted, calendar.errors) == (3, [])
    with sessions() as session:
        # Reported on the Friday before the Vale's half term: next school day is 2 November.
        friday = datetime(2026, 10, 23, 17, 0, tzinfo=UTC)
        assert deliver_by_for_school(session, "401001", friday).date() == date(2026, 11, 2)
        # Rhondda Cynon Taf's school has no term dates loaded: Monday 26 October.
        assert deliver_by_for_school(session, "401002", friday).date() == date(2026, 10, 26)
        # After the last known term: in term, but Easter Monday is a bank holiday in Wales.
        sunday = datetime(2027, 3, 28, 12, 0, tzinfo=UTC)
        assert deliver_by_for_school(session, "401001", sunday).date() == date(2027, 3, 30)


def test_england_and_wales_share_their_bank_holidays() -> None:
    """One calendar of bank holidays serves Welsh schools too: only Scotland and Northern
    Ireland differ (school_directory/calendar.py reads England's)."""
    for year in range(2024, 2033):
        england = holidays.country_holidays("GB", subdiv="ENG", years=year)
        wales = holidays.country_holidays("GB", subdiv="WLS", years=year)
        assert set(england) == set(wales), year
    assert is_bank_holiday(date(2027, 3, 29))  # Easter Monday
    assert not is_bank_holiday(date(2027, 1, 4))  # 2 January: Scotland's only


def test_council_contacts_are_checked_row_by_row_and_reimport_changes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    report = run(sessions, import_council_contacts, COUNCIL_CONTACTS)
    assert (report.rows_read, report.inserted) == (8, 4)
    assert report.errors == [
        (5, "role 'welfare' must be one of ehe, cme"),
        (6, "la '85' is not an LA code (three digits, e.g. 850 or 673)"),
        (7, "repeats line 2 (same la_code, role)"),
        (8, "email is not a valid e-mail address"),
    ]
    with sessions() as session:
        rows = session.execute(
            select(CouncilContact.la_code, CouncilContact.role, CouncilContact.email).order_by(
                CouncilContact.la_code, CouncilContact.role
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("673", "cme", "cme@neighbour.example"),
        ("850", "cme", "cme.officer@hants.example"),
        ("850", "ehe", "ehe.officer@hants.example"),
        ("851", "ehe", "ehe@portsmouth.example"),
    ]
    again = run(sessions, import_council_contacts, COUNCIL_CONTACTS)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    changed = tmp_path / "council_contacts.csv"
    changed.write_text("la,role,name,email\n850,ehe,Robin Example,new.ehe@hants.example\n")
    moved = run(sessions, import_council_contacts, changed)
    assert (moved.inserted, moved.updated, moved.unchanged) == (0, 1, 0)
