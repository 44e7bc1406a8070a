"""The first roll of a large pupils file prepared by worker processes (issue 16): the same
pupils, blind indexes, refusals, warnings and line numbers as one process, in one
transaction (school_directory/import_workers.py)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from foundations.database import transaction
from foundations.models import NameFrequency, Pupil
from foundations.settings import Settings
from school_directory import frequencies, import_workers, imports, upsert
from school_directory.synthetic import write_directory
from school_directory.upsert import ImportReport

BLIND = (
    "dob_key", "birth_year_key", "postcode_key", "district_key", "family_name_key",
    "given_name_key", "preferred_name_key", "family_key", "given_key", "nhs_key",
)  # fmt: skip
PERSONAL = (
    "given_names", "family_name", "preferred_name", "date_of_birth", "gender", "postcode",
    "match_record", "nhs_number", "on_roll_from", "on_roll_until",
)  # fmt: skip


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers for any file, in ranges of a few dozen lines, batches of 50 rows."""
    monkeypatch.setattr(imports, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(import_workers, "RANGE_BYTES", 3_000)
    monkeypatch.setattr(upsert, "BATCH_SIZE", 50)


def _roll(tmp_path: Path, sessions: sessionmaker[Session]) -> Path:
    files = write_directory(tmp_path / "synthetic", schools=30, pupils=1_200, seed=5)
    with transaction(sessions) as session:
        imports.import_schools(session, files.schools)
    return files.pupils


def _import(sessions: sessionmaker[Session], path: Path, workers: int) -> ImportReport:
    with transaction(sessions) as session:
        return imports.import_pupils(session, path, workers=workers)


def _pupils(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    """Every pupil decrypted, and its blind indexes as stored, in key order."""
    with sessions() as session:
        rows = session.scalars(select(Pupil).order_by(Pupil.upn, Pupil.urn)).all()
        return [
            (p.upn, p.urn, *(getattr(p, c) for c in PERSONAL), *(getattr(p, c) for c in BLIND))
            for p in rows
        ]


def _empty(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        session.execute(delete(Pupil))
        session.execute(delete(NameFrequency))


def _both(sessions: sessionmaker[Session], path: Path) -> tuple[Any, Any]:
    """(report, pupils) of one process, then of two workers, each into an empty table."""
    results = []
    for workers in (1, 2):
        _empty(sessions)
        report = _import(sessions, path, workers)
        figures = (report.rows_read, report.inserted, report.errors, report.warnings)
        results.append((figures, _pupils(sessions)))
    return results[0], results[1]


def _rewrite(path: Path, change: Any) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    change(rows)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


@pytest.mark.usefixtures("small_ranges")
def test_workers_import_the_same_pupils_and_blind_indexes(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = _roll(tmp_path, sessions)
    (one_report, one), (two_report, two) = _both(sessions, path)
    assert len(one) == one_report[1] >= 1_200  # some on two rolls
    assert two_report == one_report
    assert two == one
    with sessions() as session:
        names = {str(ix["name"]) for ix in inspect(session.get_bind()).get_indexes("pupils")}
        assert {str(ix.name) for ix in Pupil.__table__.indexes} <= names  # type: ignore[attr-defined]
        assert session.scalar(select(func.count()).select_from(NameFrequency))


def _name_counts(sessions: sessionmaker[Session]) -> list[tuple[str, str, int]]:
    with sessions() as session:
        rows = session.execute(select(NameFrequency.kind, NameFrequency.key, NameFrequency.pupils))
        return sorted((kind, key, pupils) for kind, key, pupils in rows)


def _counted_again(sessions: sessionmaker[Session]) -> list[tuple[str, str, int]]:
    """The name counts made again from the table as it stands."""
    with transaction(sessions) as session:
        frequencies.refresh(session)
    return _name_counts(sessions)


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.usefixtures("small_ranges")
def test_the_name_counts_of_a_first_roll_are_those_of_its_rows(
    sessions: sessionmaker[Session], tmp_path: Path, repeats: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted as the workers' rows go in, not read back: the same counts the table gives,
    also when repeated rows were taken out again (then read back from the table)."""
    path = _roll(tmp_path, sessions)
    if repeats:
        _rewrite(path, lambda rows: rows.insert(300, list(rows[20])))
    read_back: list[Session] = []
    refresh = frequencies.refresh
    monkeypatch.setattr(frequencies, "refresh", lambda s: (read_back.append(s), refresh(s)))
    report = _import(sessions, path, 2)
    assert bool(report.errors) is repeats
    assert bool(read_back) is repeats
    monkeypatch.setattr(frequencies, "refresh", refresh)  # the real one, to count below
    counted = _name_counts(sessions)
    kinds = {kind for kind, _, _ in counted}
    assert kinds == {"family", "given", "roll"}
    assert ("roll", "", report.inserted) in counted
    assert counted == _counted_again(sessions)


@pytest.mark.usefixtures("small_ranges")
def test_bad_rows_across_ranges_are_refused_by_the_same_lines(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = _roll(tmp_path, sessions)

    def spoil(rows: list[list[str]]) -> None:
        header = rows[0]
        upn, born, urn, nhs = (
            header.index(c) for c in ("upn", "date_of_birth", "urn", "nhs_number")
        )
        for n in range(7, len(rows), 97):
            rows[n][upn] = rows[n][upn][:-1] + ("A" if rows[n][upn][-1] != "A" else "B")
        for n in range(30, len(rows), 131):
            rows[n][born] = "2016-02-30"
        for n in range(55, len(rows), 173):
            rows[n][urn] = "999999"
        for n in range(12, len(rows), 89):
            rows[n][nhs] = "1234567890"  # a bad check digit: a warning, imported without it
        rows[400] = ["", "", ""]  # blank: skipped, not counted
        rows.insert(600, list(rows[20]))  # a repeat of a row of an earlier batch and range
        rows.insert(700, list(rows[699]))  # a repeat of the line before
        rows.insert(900, list(rows[20]))  # of the same earlier row again, in a later range
        rows.append(list(rows[1]))  # of the first row, on the last line

    _rewrite(path, spoil)
    (one_report, one), (two_report, two) = _both(sessions, path)
    errors = one_report[2]
    assert len(errors) > 30 and len(one_report[3]) > 10
    repeats = [(line, m) for line, m in errors if "repeats" in m]
    assert repeats == [  # each naming the first line of its key, whichever batch it was in
        (601, "repeats line 21 (same upn, urn)"),
        (701, "repeats line 700 (same upn, urn)"),
        (901, "repeats line 21 (same upn, urn)"),
        (len(path.read_text().splitlines()), "repeats line 2 (same upn, urn)"),
    ]
    assert two_report == one_report  # the same messages, by the same lines, in the same order
    assert two == one


@pytest.mark.usefixtures("small_ranges")
def test_a_quoted_line_end_is_read_as_one_process_reads_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = _roll(tmp_path, sessions)

    def quote(rows: list[list[str]]) -> None:
        given = rows[0].index("given_names")
        rows[500][given] = "Anna\nMaria"  # written quoted, over two lines
        rows[800][given] = 'Jo "JJ", Junior'  # quoted, on one line
        rows[300][rows[0].index("urn")] = "999999"  # refused before it
        rows[900][rows[0].index("date_of_birth")] = "2016-02-30"  # and after it

    _rewrite(path, quote)
    (one_report, one), (two_report, two) = _both(sessions, path)
    assert [line for line, _ in one_report[2]] == [301, 902]  # the record of two lines
    assert two_report == one_report and two == one
    assert any(p[2] == "Anna\nMaria" for p in one)


@pytest.mark.usefixtures("small_ranges")
def test_a_failed_import_with_workers_rolls_everything_back(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _roll(tmp_path, sessions)
    with sessions() as session:
        before = {str(ix["name"]) for ix in inspect(session.get_bind()).get_indexes("pupils")}
    flushes = []
    real_flush = upsert.PreparedInserter.flush

    def flush_then_fail(self: upsert.PreparedInserter) -> None:
        real_flush(self)
        flushes.append(1)
        if len(flushes) == 5:
            raise RuntimeError("the disk is full")

    monkeypatch.setattr(upsert.PreparedInserter, "flush", flush_then_fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        _import(sessions, path, 2)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Pupil)) == 0
    with sessions() as session:
        names = {str(ix["name"]) for ix in inspect(session.get_bind()).get_indexes("pupils")}
    assert names == before
    monkeypatch.setattr(upsert.PreparedInserter, "flush", real_flush)
    assert _import(sessions, path, 2).inserted >= 1_200


def test_the_number_of_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """ENCOMPASS_IMPORT_WORKERS is a setting like the others: read and checked once."""
    monkeypatch.setenv("ENCOMPASS_IMPORT_WORKERS", "3")
    assert import_workers.worker_count(Settings().import_workers) == 3
    monkeypatch.setenv("ENCOMPASS_IMPORT_WORKERS", "0")
    assert import_workers.worker_count(Settings().import_workers) == 1
    monkeypatch.delenv("ENCOMPASS_IMPORT_WORKERS")
    assert import_workers.worker_count(Settings().import_workers) == (os.cpu_count() or 1)
    monkeypatch.setenv("ENCOMPASS_IMPORT_WORKERS", "two")
    with pytest.raises(ValidationError, match="import_workers"):
        Settings()


def _add_copy(sessions: sessionmaker[Session], upn: str, urn: str) -> None:
    """Another pupil row with the key (``upn``, ``urn``), through the ORM."""
    with transaction(sessions) as session:
        pupil = session.scalars(select(Pupil).where(Pupil.upn == upn, Pupil.urn == urn)).one()
        session.add(Pupil(**{c: getattr(pupil, c) for c in (*PERSONAL, *BLIND, "upn", "urn")}))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.usefixtures("small_ranges")
def test_the_unique_key_holds_after_a_first_roll(
    sessions: sessionmaker[Session], tmp_path: Path, workers: int
) -> None:
    """Dropped while the first roll is inserted, made again at its end: a later row with
    the same UPN and URN is refused by the database itself."""
    path = _roll(tmp_path, sessions)
    _import(sessions, path, workers)
    with sessions() as session:
        indexes = inspect(session.get_bind()).get_indexes("pupils")
        upn, urn = session.execute(select(Pupil.upn, Pupil.urn).limit(1)).one()
    assert [ix["column_names"] for ix in indexes if ix["unique"]] == [["upn", "urn"]]
    with pytest.raises(IntegrityError):
        _add_copy(sessions, upn, urn)


@pytest.mark.usefixtures("small_ranges")
def test_a_failure_after_the_repeats_are_refused_rolls_everything_back(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _roll(tmp_path, sessions)
    _rewrite(path, lambda rows: rows.insert(300, list(rows[10])))
    with sessions() as session:
        before = {str(ix["name"]) for ix in inspect(session.get_bind()).get_indexes("pupils")}
    real = upsert.Upserter.refuse_repeats

    def refuse_then_fail(self: upsert.Upserter) -> None:
        real(self)
        assert self.report.errors == [(301, "repeats line 11 (same upn, urn)")]
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(upsert.Upserter, "refuse_repeats", refuse_then_fail)
    for workers in (1, 2):
        with pytest.raises(RuntimeError, match="disk is full"):
            _import(sessions, path, workers)
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(Pupil)) == 0
        with sessions() as session:
            names = {str(ix["name"]) for ix in inspect(session.get_bind()).get_indexes("pupils")}
        assert names == before


@pytest.mark.usefixtures("small_ranges")
def test_a_second_roll_refuses_repeats_as_before(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Into a table already holding pupils, rows are compared with the rows there: a
    repeat within the file is refused by its line, naming the first, across batches."""
    path = _roll(tmp_path, sessions)
    first = _import(sessions, path, 2)

    def repeat(rows: list[list[str]]) -> None:
        rows.insert(200, list(rows[150]))
        rows.append(list(rows[1]))

    _rewrite(path, repeat)
    again = _import(sessions, path, 2)
    last = len(path.read_text().splitlines())
    assert again.errors == [
        (201, "repeats line 151 (same upn, urn)"),
        (last, "repeats line 2 (same upn, urn)"),
    ]
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Pupil)) == first.inserted
