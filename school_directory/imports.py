"""CSV imports into the school directory (SPEC section 5).

Five files: the DfE GIAS establishment extract (England's schools, and Wales's in the same
column layout with their Welsh LA codes), safeguarding contacts, pupils, term calendars and
the councils' officers for children on no roll. Every import runs inside the caller's
transaction (it never commits) and writes no audit rows; the caller records the returned
``ImportReport``. A bad row is reported by its file line (the header is line 1) and the
rest carry on; re-importing the same file changes nothing. Rows are compared and written
in batches, never one query per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from foundations.clock import utcnow
from foundations.crypto import keyring_of
from foundations.database import forget_per_transaction
from foundations.models import (
    CalendarEntry,
    CouncilContact,
    Pupil,
    SafeguardingContact,
    School,
    SchoolNameWord,
)
from school_directory import frequencies, import_workers, names
from school_directory.csv_rows import (
    HHMM_PATTERN,
    LA_CODE_PATTERN,
    URN_PATTERN,
    RowError,
    Wanted,
    email_is_valid,
    parse_date,
    parse_urn,
    records,
)
from school_directory.pupil_rows import (
    PREPARED_COLUMNS,
    PUPIL_OPTIONAL,
    PUPIL_REQUIRED,
    PupilRows,
    nhs_warning,
    pupil_values,
)
from school_directory.upsert import (
    BATCH_SIZE,
    ImportReport,
    PreparedInserter,
    Upserter,
    run_import,
)

CONTACT_ROLES = ("dsl", "deputy_dsl")
# A council's designated officers for children on no roll (consumers/routes.py): elective
# home education, children missing education.
COUNCIL_ROLES = ("ehe", "cme")
CALENDAR_KINDS = ("term", "holiday", "inset", "closure")
GIAS_COLUMNS = {
    "urn": "URN",
    "name": "EstablishmentName",
    "la_code": "LA (code)",
    "la_name": "LA (name)",
    "status": "EstablishmentStatus (name)",
    "phase": "PhaseOfEducation (name)",
    "type": "TypeOfEstablishment (name)",
    "postcode": "Postcode",
}
# Read when the extract has it (GIAS's full extract does): the census count of pupils, which
# the directory's health compares with the roll imported (school_directory.health).
GIAS_PUPIL_COUNT = "NumberOfPupils"
MAX_PUPIL_COUNT_DIGITS = 7
# SQLite's page cache while the first roll's indexes are built (it sorts in it), KiB.
SORT_CACHE_KIB = 131_072
# A first roll this large (about 50,000 pupils) is prepared by worker processes.
PARALLEL_MIN_BYTES = 4 << 20
# The columns the name counts are made from (``frequencies``), counted as a first roll's
# prepared rows are inserted.
COUNTED = ("family_name_key", "given_name_key")


def _known_urns(session: Session) -> set[str]:
    return set(session.scalars(select(School.urn)))


# --- the four imports --------------------------------------------------------------------


def import_schools(session: Session, path: Path) -> ImportReport:
    """The GIAS establishment extract as downloaded; closed schools are kept."""
    forget_per_transaction(session)  # the calendars deadlines were read from
    report = ImportReport("schools")
    rows = records(path, list(GIAS_COLUMNS.values()), [GIAS_PUPIL_COUNT])

    def parse(row: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {column: row[gias] for column, gias in GIAS_COLUMNS.items()}
        values["urn"] = parse_urn(values["urn"])
        for column in ("name", "la_code", "status"):
            if not values[column]:
                raise RowError(f"{GIAS_COLUMNS[column]} is empty")
        if not LA_CODE_PATTERN.fullmatch(values["la_code"]):
            raise RowError(f"LA (code) {values['la_code']!r} is not an LA code")
        values["postcode"] = " ".join(values["postcode"].upper().split())
        values["_pupil_count"] = row[GIAS_PUPIL_COUNT]
        return values

    def add(line: int, values: dict[str, Any]) -> None:
        # An optional statistic never refuses the school: a bad count is left empty.
        given = values.pop("_pupil_count")
        whole = given.isascii() and given.isdigit() and len(given) <= MAX_PUPIL_COUNT_DIGITS
        values["number_of_pupils"] = int(given) if whole else None
        if given and not whole:
            report.warnings.append((line, f"{GIAS_PUPIL_COUNT} is not a whole number; left empty"))
        upserter.add(line, values)

    upserter = Upserter(session, report, School, ["urn"])
    done = run_import(report, upserter, rows, parse, add)
    index_school_names(session)  # in the same transaction as the names themselves
    return done


def index_school_names(session: Session) -> None:
    """Every school's distinctive name words again, for the school-hint search."""
    session.execute(delete(SchoolNameWord))
    words = [
        {"word": word, "urn": urn}
        for urn, name in session.execute(select(School.urn, School.name))
        for word in set(names.school_words(name))
    ]
    if words:
        session.execute(insert(SchoolNameWord), words)


def import_contacts(session: Session, path: Path, *, at: datetime | None = None) -> ImportReport:
    """DSL and deputy contacts; an optional ``day_start`` is stored on the school. Every
    contact the file names is confirmed ``at`` (now by default), changed or not."""
    forget_per_transaction(session)  # the schools (their day_start) deadlines were read from
    report = ImportReport("contacts")
    named: set[tuple[str, str, str]] = set()
    rows = records(path, ["urn", "role", "name", "email"], ["phone", "day_start"])
    urns = _known_urns(session)
    day_starts: dict[str, tuple[str, int]] = {}  # urn -> (HH:MM, line that gave it)
    line_day_start: dict[int, tuple[str, str]] = {}  # line -> (urn, HH:MM) this batch

    def parse(row: dict[str, str]) -> dict[str, Any]:
        urn = parse_urn(row["urn"], urns)
        role = row["role"].lower()
        if role not in CONTACT_ROLES:
            raise RowError(f"role {row['role']!r} must be one of {', '.join(CONTACT_ROLES)}")
        if not row["name"]:
            raise RowError("name is empty")
        email = row["email"].lower()
        if not email_is_valid(email):
            raise RowError("email is not a valid e-mail address")
        day_start = row["day_start"]
        if day_start and not HHMM_PATTERN.fullmatch(day_start):
            raise RowError("day_start must be a 24-hour time HH:MM, e.g. 08:40")
        return {
            "urn": urn,
            "role": role,
            "name": row["name"],
            "email": email,
            "phone": row["phone"],
            "_day_start": day_start,
        }

    def add(line: int, values: dict[str, Any]) -> None:
        day_start = values.pop("_day_start")
        if not upserter.accept(line, values):
            return
        named.add((values["urn"], values["role"], values["email"]))
        if day_start:
            urn = values["urn"]
            kept, first_line = day_starts.setdefault(urn, (day_start, line))
            if first_line == line:
                line_day_start[line] = (urn, day_start)
            elif kept != day_start:
                report.warnings.append(
                    (
                        line,
                        f"day_start {day_start} differs from {kept} on line {first_line} "
                        f"for urn {urn}; kept {kept}",
                    )
                )
        upserter.queue(line, values)

    def store_day_starts(batch: list[tuple[int, dict[str, Any]]]) -> set[int]:
        given = {line: line_day_start.pop(line) for line, _ in batch if line in line_day_start}
        if not given:
            return set()
        query = select(School.urn, School.day_start).where(
            School.urn.in_({urn for urn, _ in given.values()})
        )
        current = {urn: day_start for urn, day_start in session.execute(query)}
        changes = {ln: pair for ln, pair in given.items() if current.get(pair[0]) != pair[1]}
        if changes:
            session.execute(
                update(School), [{"urn": urn, "day_start": hhmm} for urn, hhmm in changes.values()]
            )
        return set(changes)

    upserter = Upserter(
        session, report, SafeguardingContact, ["urn", "role", "email"], store_day_starts
    )
    done = run_import(report, upserter, rows, parse, add)
    confirm_contacts(session, named, at or utcnow())
    return done


def confirm_contacts(session: Session, named: set[tuple[str, str, str]], at: datetime) -> None:
    """Mark the contacts named by (urn, role, email) confirmed ``at``, in batches. Not a
    change to the directory: the import's counts leave it out."""
    urns = sorted({urn for urn, _, _ in named})
    ids: list[int] = []
    for start in range(0, len(urns), BATCH_SIZE):
        query = select(
            SafeguardingContact.id,
            SafeguardingContact.urn,
            SafeguardingContact.role,
            SafeguardingContact.email,
        ).where(SafeguardingContact.urn.in_(urns[start : start + BATCH_SIZE]))
        ids += [row.id for row in session.execute(query) if (row.urn, row.role, row.email) in named]
    for start in range(0, len(ids), BATCH_SIZE):
        session.execute(
            update(SafeguardingContact)
            .where(SafeguardingContact.id.in_(ids[start : start + BATCH_SIZE]))
            .values(confirmed_at=at)
        )


def import_council_contacts(session: Session, path: Path) -> ImportReport:
    """Each council's officers for children on no roll: ``la,role,name,email``, roles
    ``ehe`` and ``cme``, one officer per council and role (a later row for the same pair is
    refused by its line). A council's officer who changes is updated in place."""
    report = ImportReport("council contacts")
    rows = records(path, ["la", "role", "name", "email"])

    def parse(row: dict[str, str]) -> dict[str, Any]:
        la = row["la"]
        if not la:
            raise RowError("la is empty")
        if not (la.isascii() and la.isdigit() and len(la) == 3):
            raise RowError(f"la {la!r} is not an LA code (three digits, e.g. 850 or 673)")
        role = row["role"].lower()
        if role not in COUNCIL_ROLES:
            raise RowError(f"role {row['role']!r} must be one of {', '.join(COUNCIL_ROLES)}")
        if not row["name"]:
            raise RowError("name is empty")
        email = row["email"].lower()
        if not email_is_valid(email):
            raise RowError("email is not a valid e-mail address")
        return {"la_code": la, "role": role, "name": row["name"], "email": email}

    upserter = Upserter(session, report, CouncilContact, ["la_code", "role"])
    return run_import(report, upserter, rows, parse)


def import_pupils(session: Session, path: Path, *, workers: int | None = None) -> ImportReport:
    """Pupil rolls; one row per (UPN, URN), so a dual-registered child has two.

    An optional ``nhs_number`` column gives the pupil's NHS number. One that is not valid
    (its check digit, its form) never refuses the pupil: the row is imported without it
    and the line is reported as a warning, so the child can still be found by name.

    The first roll (the table empty) of a large file is prepared by ``workers`` processes
    (``import_workers.worker_count``: ``ENCOMPASS_IMPORT_WORKERS``, else one per core),
    this process inserting: the same checks, messages and lines, in one transaction."""
    report = ImportReport("pupils")
    rows = records(path, list(PUPIL_REQUIRED), list(PUPIL_OPTIONAL))
    urns = _known_urns(session)
    today = date.today()

    def parse(row: dict[str, str]) -> dict[str, Any]:
        return pupil_values(row, urns, today)

    def add(line: int, values: dict[str, Any]) -> None:
        # A bad NHS number is left out, never the pupil (the value is not repeated).
        problem = values.pop("_nhs_problem")
        if problem:
            report.warnings.append((line, nhs_warning(problem)))
        upserter.add(line, values)

    fresh = session.execute(select(Pupil.id).limit(1)).first() is None
    upserter = Upserter(session, report, Pupil, ["upn", "urn"], fresh=fresh)
    count = import_workers.worker_count(workers)
    header = None
    if fresh and count > 1 and path.stat().st_size >= PARALLEL_MIN_BYTES:
        header = import_workers.read_header(path)
    counted: dict[str, Counter[Any]] | None = None
    if fresh:  # the first roll: its indexes built once, at the end, not row by row
        table: Table = Pupil.__table__  # type: ignore[assignment]
        with _indexes_built_after(session, table, before_unique=upserter.refuse_repeats):
            if header is None:
                run_import(report, upserter, rows, parse, add)
            else:
                counted = _import_prepared(
                    session, path, report, upserter, urns, today, count, header
                )
    else:
        run_import(report, upserter, rows, parse, add)
    # The matcher's name counts, in the same transaction: those counted as the rows went
    # in, unless rows were taken out again (repeats), then read back from the table.
    if counted is not None and not upserter.repeats_refused:
        frequencies.store(session, counted["family_name_key"], counted["given_name_key"])
    else:
        frequencies.refresh(session)
    return report


def _import_prepared(
    session: Session,
    path: Path,
    report: ImportReport,
    upserter: Upserter,
    urns: set[str],
    today: date,
    workers: int,
    header: tuple[Wanted, int],
) -> dict[str, Counter[Any]]:
    """The first roll, its rows prepared by worker processes (import_workers), inserted
    here in the file's order: as ``run_import`` would, item by item. Returns what the
    inserted rows hold in each ``COUNTED`` column, value by value."""
    ring = keyring_of(session.get_bind().dialect)
    sqlite = session.get_bind().dialect.name == "sqlite"
    prepared = PupilRows(ring, urns, today, dates_as_text=sqlite)
    keys = None if ring is None else (ring.keys, ring.current, ring.index_key)
    inserter = PreparedInserter(upserter, PREPARED_COLUMNS, COUNTED)
    wanted, data_start = header
    chunks = import_workers.prepared_items(path, wanted, data_start, prepared, workers, keys)
    with closing(chunks):  # on any failure, the workers are stopped before it is raised
        for items in chunks:
            for line, error, warning, row in items:
                report.rows_read += 1
                if error is not None:
                    report.errors.append((line, error))
                    continue
                if warning is not None:
                    report.warnings.append((line, warning))
                assert row is not None
                inserter.add(line, row)
    inserter.flush()
    return inserter.counts


@contextmanager
def _indexes_built_after(
    session: Session, table: Table, before_unique: Callable[[], None]
) -> Iterator[None]:
    """Drop ``table``'s indexes, then make them again: ``before_unique`` is called between
    the others and the unique ones, to take out the rows they would refuse.

    A first import of England's roll (nine million pupils) into an empty table: inserting
    into eight indexes of keyed hashes and keys, row by row, puts each row in random places
    of each; building an index once, from the whole table, sorts it instead, several times
    quicker (docs/performance.md). In the caller's transaction, as the rows are: a failed
    import rolls back the dropped indexes with them, and nobody reads a half-built roll."""
    connection = session.connection()
    indexes = sorted(table.indexes, key=lambda index: (bool(index.unique), str(index.name)))
    for index in indexes:
        index.drop(connection)
    yield
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:  # sort in 128 MiB and a second thread, then back to the engine's settings
        (cache_size,) = connection.exec_driver_sql("PRAGMA cache_size").one()
        connection.exec_driver_sql(f"PRAGMA cache_size={-SORT_CACHE_KIB}")
        connection.exec_driver_sql("PRAGMA threads=2")
    for index in [index for index in indexes if not index.unique]:
        index.create(connection)
    before_unique()
    for index in [index for index in indexes if index.unique]:
        index.create(connection)
    if sqlite:
        connection.exec_driver_sql(f"PRAGMA cache_size={int(cache_size)}")
        connection.exec_driver_sql("PRAGMA threads=0")


def import_calendar(session: Session, path: Path) -> ImportReport:
    """Term, holiday, INSET and closure dates for an LA (``la:850``) or a school."""
    forget_per_transaction(session)  # the calendars deadlines were read from
    report = ImportReport("calendar")
    rows = records(path, ["scope", "first_day", "last_day", "kind"])

    def parse(row: dict[str, str]) -> dict[str, Any]:
        prefix, _, code = row["scope"].partition(":")
        prefix, code = prefix.strip().lower(), code.strip()
        if prefix == "la" and LA_CODE_PATTERN.fullmatch(code):
            scope = f"la:{code}"
        elif prefix == "urn" and URN_PATTERN.fullmatch(code):
            scope = f"urn:{code}"
        else:
            raise RowError(f"scope {row['scope']!r} must be la:<LA code> or urn:<URN>")
        kind = row["kind"].lower()
        if kind not in CALENDAR_KINDS:
            raise RowError(f"kind {row['kind']!r} must be one of {', '.join(CALENDAR_KINDS)}")
        first = parse_date(row["first_day"], "first_day", required=True)
        last = parse_date(row["last_day"], "last_day", required=True)
        if first is None or last is None or last < first:
            raise RowError("last_day is before first_day")
        return {"scope": scope, "first_day": first, "last_day": last, "kind": kind}

    upserter = Upserter(session, report, CalendarEntry, ["scope", "first_day", "last_day", "kind"])
    return run_import(report, upserter, rows, parse)
