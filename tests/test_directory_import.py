"""School directory imports (SPEC section 5), read as a local authority would use them."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from foundations.database import make_engine, session_factory, transaction, upgrade
from foundations.models import CalendarEntry, Pupil, SafeguardingContact, School
from school_directory import upsert
from school_directory.csv_rows import DirectoryImportError
from school_directory.imports import (
    import_calendar,
    import_contacts,
    import_pupils,
    import_schools,
)
from school_directory.synthetic import write_directory
from school_directory.upn import upn_check_letter, upn_problem
from school_directory.upsert import ImportReport

DATA = Path(__file__).parent / "data"
GIAS = DATA / "gias_establishments_sample.csv"
CONTACTS = DATA / "contacts_sample.csv"
PUPILS = DATA / "pupils_sample.csv"
CALENDAR = DATA / "calendar_sample.csv"


@pytest.fixture(scope="module")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "directory.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sessions(empty_database: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """A fresh SQLite file per test, at the newest schema."""
    path = tmp_path / "directory.db"
    shutil.copy(empty_database, path)
    engine = make_engine(f"sqlite:///{path}")
    yield session_factory(engine)
    engine.dispose()


def run(sessions: sessionmaker[Session], importer: object, path: Path) -> ImportReport:
    with transaction(sessions) as session:
        report: ImportReport = importer(session, path)  # type: ignore[operator]
    return report


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def load_directory(sessions: sessionmaker[Session]) -> None:
    run(sessions, import_schools, GIAS)


# --- schools: the GIAS extract ----------------------------------------------------------


def test_gias_extract_is_read_as_windows_1252(sessions: sessionmaker[Session]) -> None:
    assert b"St Mary\x92s" in GIAS.read_bytes()  # a cp1252 curly apostrophe, as downloaded
    report = run(sessions, import_schools, GIAS)
    assert report.inserted == 7
    with sessions() as session:
        assert session.get(School, "100001").name == "St Mary’s C of E Primary School"
        assert session.get(School, "100002").name == "Sainte-Thérèse Catholic Primary School"
        assert session.get(School, "100009").name == "Zoë Lodge Primary School"
        harbour = session.get(School, "100003")
        assert (harbour.la_code, harbour.la_name) == ("851", "Portsmouth")
        assert (harbour.phase, harbour.type) == ("Secondary", "Academy converter")


def test_closed_schools_are_kept_but_are_not_open(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    with sessions() as session:
        old_mill = session.get(School, "100004")
        riverside = session.get(School, "100005")
    assert old_mill.status == "Closed" and not old_mill.is_open
    assert riverside.status == "Open, but proposed to close" and riverside.is_open


def test_bad_gias_rows_are_reported_by_file_line(sessions: sessionmaker[Session]) -> None:
    report = run(sessions, import_schools, GIAS)
    assert report.rows_read == 10
    assert [line for line, _ in report.errors] == [6, 8, 11]  # line 9-10 is one record
    messages = dict(report.errors)
    assert "urn is empty" in messages[6]
    assert "LA (code)" in messages[8]
    assert "10000X" in messages[11]
    with sessions() as session:
        assert session.get(School, "100007").name == "Bridge Pupil Referral Unit"
    assert "line 6" in report.summary() and "3 rejected" in report.summary()


def test_unknown_gias_columns_are_ignored_and_postcodes_tidied(
    sessions: sessionmaker[Session],
) -> None:
    load_directory(sessions)
    with sessions() as session:
        assert session.get(School, "100002").postcode == "SO23 9ZY"
        assert not hasattr(School, "UKPRN")


def test_reimporting_the_same_extract_changes_nothing(sessions: sessionmaker[Session]) -> None:
    first = run(sessions, import_schools, GIAS)
    second = run(sessions, import_schools, GIAS)
    assert (first.inserted, first.updated, first.unchanged) == (7, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 7)
    assert count(sessions, School) == 7


def test_a_changed_school_is_updated(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    load_directory(sessions)
    changed = tmp_path / "gias.csv"
    changed.write_bytes(GIAS.read_bytes().replace(b'"Open","01-04-2012"', b'"Closed","01-04-2012"'))
    report = run(sessions, import_schools, changed)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 6)
    with sessions() as session:
        assert session.get(School, "100003").status == "Closed"


def test_a_utf8_file_with_a_bom_is_accepted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    utf8 = tmp_path / "gias-utf8.csv"
    utf8.write_bytes(b"\xef\xbb\xbf" + GIAS.read_bytes().decode("cp1252").encode("utf-8"))
    report = run(sessions, import_schools, utf8)
    assert report.inserted == 7
    with sessions() as session:
        assert session.get(School, "100001").name == "St Mary’s C of E Primary School"


def test_missing_required_gias_columns_are_named(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(
        '"URN","LA (code)","LA (name)","EstablishmentStatus (name)"\n"1","850","H","Open"\n'
    )
    with sessions() as session, pytest.raises(DirectoryImportError) as raised:
        import_schools(session, wrong)
    message = str(raised.value)
    for column in ("EstablishmentName", "PhaseOfEducation (name)", "Postcode"):
        assert column in message
    assert "URN," not in message


# --- safeguarding contacts ---------------------------------------------------------------


def test_contacts_are_validated_row_by_row(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    report = run(sessions, import_contacts, CONTACTS)
    assert (report.rows_read, report.inserted, report.updated, report.unchanged) == (9, 4, 0, 0)
    messages = dict(report.errors)
    assert sorted(messages) == [6, 7, 8, 9, 10]
    assert "role 'headteacher'" in messages[6]
    assert "999999 is not a school" in messages[7]
    assert "email" in messages[8]
    assert "day_start" in messages[9]
    assert "repeats line 2" in messages[10]


def test_a_contact_file_sets_the_school_day_start(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    run(sessions, import_contacts, CONTACTS)
    with sessions() as session:
        assert session.get(School, "100001").day_start == "08:40"
        assert session.get(School, "100002").day_start is None
        roles = session.execute(
            select(SafeguardingContact.role, SafeguardingContact.email).where(
                SafeguardingContact.urn == "100003"
            )
        ).all()
        email = session.scalar(
            select(SafeguardingContact.email).where(SafeguardingContact.urn == "100002")
        )
    assert roles == [("deputy_dsl", "deputy.dsl@100003.school.example")]  # only a deputy
    assert email == "dsl@100002.school.example"


def test_reimporting_contacts_changes_nothing(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    run(sessions, import_contacts, CONTACTS)
    again = run(sessions, import_contacts, CONTACTS)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert count(sessions, SafeguardingContact) == 4


def test_a_new_day_start_counts_as_an_update(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    load_directory(sessions)
    run(sessions, import_contacts, CONTACTS)
    later = tmp_path / "contacts.csv"
    later.write_text(CONTACTS.read_text().replace("08:40", "08:50"))
    report = run(sessions, import_contacts, later)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 3)
    with sessions() as session:
        assert session.get(School, "100001").day_start == "08:50"


# --- pupils --------------------------------------------------------------------------------


def test_upn_check_letter() -> None:
    assert upn_problem("B801200005001") is None  # the DfE's own example
    assert upn_problem("C801200005001")  # wrong check letter
    assert upn_problem("B801200005002")  # one digit mistyped
    assert upn_problem("B80120000500")  # too short
    assert upn_problem("B80120000500A")  # a temporary UPN, not a permanent one
    assert upn_problem("")
    assert upn_check_letter("801200005001") == "B"


def test_pupils_are_imported_with_name_keys(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    report = run(sessions, import_pupils, PUPILS)
    assert report.inserted == 5
    with sessions() as session:
        zoe = session.scalars(select(Pupil).where(Pupil.upn == "R850200126002")).one()
        mo = session.scalars(select(Pupil).where(Pupil.upn == "F850200126003")).one()
    assert (zoe.family_name_key, zoe.given_name_key, zoe.preferred_name_key) == (
        "obriensmith",
        "zoe",
        "",
    )
    assert zoe.date_of_birth == date(2017, 2, 3) and zoe.postcode == "SO23 9ZY"
    assert (mo.given_name_key, mo.preferred_name_key) == ("muhammad", "mo")
    assert mo.on_roll_until == date(2026, 7, 22)


def test_a_pupil_on_roll_at_two_schools_has_two_records(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    run(sessions, import_pupils, PUPILS)
    with sessions() as session:
        rolls = session.execute(
            select(Pupil.urn, Pupil.on_roll_from)
            .where(Pupil.upn == "C850200126001")
            .order_by(Pupil.urn)
        ).all()
    assert rolls == [("100001", date(2021, 9, 1)), ("100005", date(2026, 9, 14))]


def test_bad_pupil_rows_are_reported_by_line(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    report = run(sessions, import_pupils, PUPILS)
    messages = dict(report.errors)
    assert sorted(messages) == [6, 7, 8, 9, 10]
    assert "check letter" in messages[6]
    assert "date_of_birth" in messages[7]
    assert "999999" in messages[8]
    assert "on_roll_until is before on_roll_from" in messages[9]
    assert "13 characters" in messages[10]
    assert "Bad" not in report.summary()  # no names in the report


def test_reimporting_pupils_changes_nothing(sessions: sessionmaker[Session]) -> None:
    load_directory(sessions)
    run(sessions, import_pupils, PUPILS)
    again = run(sessions, import_pupils, PUPILS)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert count(sessions, Pupil) == 5


def test_a_pupil_leaving_is_an_update(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    load_directory(sessions)
    run(sessions, import_pupils, PUPILS)
    later = tmp_path / "pupils.csv"
    later.write_text(
        PUPILS.read_text().replace("100005,2026-09-14,,", "100005,2026-09-14,2026-10-01,")
    )
    report = run(sessions, import_pupils, later)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 4)


def test_missing_pupil_columns_are_named(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    wrong = tmp_path / "pupils.csv"
    wrong.write_text("upn,given_names,family_name,urn\n")
    with sessions() as session, pytest.raises(DirectoryImportError, match="date_of_birth"):
        import_pupils(session, wrong)


def _index_names(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        bind = session.get_bind()
        return {str(ix["name"]) for ix in inspect(bind).get_indexes("pupils")}


def test_a_first_import_builds_the_indexes_at_the_end_and_refuses_repeats_across_batches(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into an empty table (the first roll) the indexes are made once the rows are in;
    only one batch's keys are held in memory, the table's unique key finds the rest."""
    load_directory(sessions)
    wanted = {str(ix.name) for ix in Pupil.__table__.indexes}
    assert wanted <= _index_names(sessions)
    lines = PUPILS.read_text().splitlines()
    twice = tmp_path / "pupils.csv"
    twice.write_text("\n".join([*lines, lines[1], lines[2]]) + "\n")
    monkeypatch.setattr(upsert, "BATCH_SIZE", 2)
    report = run(sessions, import_pupils, twice)
    assert report.inserted == 5 and count(sessions, Pupil) == 5
    repeats = {n: m for n, m in report.errors if "repeats" in m}
    assert sorted(repeats) == [len(lines) + 1, len(lines) + 2]
    assert wanted <= _index_names(sessions)
    again = run(sessions, import_pupils, twice)  # not the first: compared row by row
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)


def test_a_failed_first_import_leaves_the_indexes(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    load_directory(sessions)
    before = _index_names(sessions)
    wrong = tmp_path / "pupils.csv"
    wrong.write_text("upn,given_names,family_name,urn\n")
    with pytest.raises(DirectoryImportError):
        run(sessions, import_pupils, wrong)
    assert _index_names(sessions) == before


# --- calendar ------------------------------------------------------------------------------


def test_calendar_rows_are_validated(sessions: sessionmaker[Session]) -> None:
    report = run(sessions, import_calendar, CALENDAR)
    assert report.inserted == 6
    messages = dict(report.errors)
    assert sorted(messages) == [7, 8, 9]
    assert "scope" in messages[7]
    assert "last_day is before first_day" in messages[8]
    assert "kind 'christmas'" in messages[9]
    with sessions() as session:
        scopes = set(session.scalars(select(CalendarEntry.scope)))
    assert scopes == {"la:850", "la:851", "urn:100003"}


def test_reimporting_a_calendar_changes_nothing(sessions: sessionmaker[Session]) -> None:
    run(sessions, import_calendar, CALENDAR)
    again = run(sessions, import_calendar, CALENDAR)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 6)
    assert count(sessions, CalendarEntry) == 6


# --- the synthetic directory -------------------------------------------------------------


def test_a_synthetic_directory_imports_cleanly_twice(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    files = write_directory(tmp_path / "synthetic", schools=40, pupils=3000, seed=11)
    reports = [
        run(sessions, importer, path)
        for importer, path in (
            (import_schools, files.schools),
            (import_contacts, files.contacts),
            (import_pupils, files.pupils),
            (import_calendar, files.calendar),
        )
    ]
    assert all(not r.errors for r in reports), [r.summary() for r in reports]
    again = [
        run(sessions, import_pupils, files.pupils),
        run(sessions, import_contacts, files.contacts),
    ]
    assert all(r.inserted == r.updated == 0 and not r.errors for r in again)

    with sessions() as session:
        statuses = list(session.scalars(select(School.status)))
        dual = session.execute(select(Pupil.upn).group_by(Pupil.upn).having(func.count() > 1)).all()
        roles = session.execute(select(SafeguardingContact.urn, SafeguardingContact.role)).all()
        upns = list(session.scalars(select(Pupil.upn)))
    assert statuses.count("Closed") >= 2
    assert dual, "some pupils are on two rolls"
    assert not any(upn_problem(upn) for upn in upns)
    dsl = {urn for urn, role in roles if role == "dsl"}
    deputy_only = {urn for urn, role in roles if role == "deputy_dsl"} - dsl
    assert len(dsl) > 30 and 1 <= len(deputy_only) <= 5
    assert all(email.endswith(".school.example") for email in _column(files.contacts, "email"))


def test_the_synthetic_directory_is_deterministic(tmp_path: Path) -> None:
    one = write_directory(tmp_path / "one", schools=10, pupils=200, seed=3)
    two = write_directory(tmp_path / "two", schools=10, pupils=200, seed=3)
    for a, b in zip(
        (one.schools, one.contacts, one.pupils, one.calendar),
        (two.schools, two.contacts, two.pupils, two.calendar),
        strict=True,
    ):
        assert a.read_bytes() == b.read_bytes()
    one.schools.read_bytes().decode("cp1252")  # GIAS-shaped and Windows-1252


def _column(path: Path, name: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [row[name] for row in csv.DictReader(f)]
