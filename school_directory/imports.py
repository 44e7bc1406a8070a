"""CSV imports into the school directory (SPEC section 5).

Four files: the DfE GIAS establishment extract, safeguarding contacts, pupils and term
calendars. Every import runs inside the caller's transaction (it never commits) and writes
no audit rows; the caller records the returned ``ImportReport``. A bad row is reported by
its file line (the header is line 1) and the rest carry on; re-importing the same file
changes nothing. Rows are compared and written in batches, never one query per row.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import String, delete, insert, select, update
from sqlalchemy.orm import Session

from foundations.crypto import BlindIndex, write_rows
from foundations.database import Base
from foundations.models import (
    MATCH_RECORD,
    CalendarEntry,
    Pupil,
    SafeguardingContact,
    School,
    SchoolNameWord,
)
from school_directory import frequencies, names

BATCH_SIZE = 5_000
UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
CONTACT_ROLES = ("dsl", "deputy_dsl")
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

_URN = re.compile(r"\d{1,16}")
_LA_CODE = re.compile(r"[A-Za-z0-9]{1,8}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_HHMM = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


class DirectoryImportError(Exception):
    """The file as a whole cannot be imported (empty, or required columns missing)."""


class _RowError(ValueError):
    """One row is bad; the message says why, without repeating personal data."""


@dataclass
class ImportReport:
    """What one import did. ``errors`` are rejected rows; ``warnings`` were imported."""

    kind: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[tuple[int, str]] = field(default_factory=list)

    def summary(self, max_lines: int = 20) -> str:
        """One headline, then the first ``max_lines`` problems by line number."""
        head = (
            f"{self.kind}: {self.rows_read} rows read, {self.inserted} inserted, "
            f"{self.updated} updated, {self.unchanged} unchanged, {len(self.errors)} rejected"
        )
        if self.warnings:
            head += f", {len(self.warnings)} warnings"
        problems = sorted(
            [(n, f"line {n}: {m}") for n, m in self.errors]
            + [(n, f"line {n}: warning: {m}") for n, m in self.warnings]
        )
        lines = [head] + [f"  {text}" for _, text in problems[:max_lines]]
        if len(problems) > max_lines:
            lines.append(f"  ... and {len(problems) - max_lines} more")
        return "\n".join(lines)


# --- UPN -------------------------------------------------------------------------------


def upn_check_letter(digits: str) -> str:
    """The check letter for the 12 digits of a UPN (DfE: weights 2-13, modulo 23)."""
    if len(digits) != 12 or not digits.isdigit():
        raise ValueError("a UPN has 12 digits after its check letter")
    total = sum(int(d) * weight for weight, d in enumerate(digits, start=2))
    return UPN_LETTERS[total % 23]


def upn_problem(upn: str) -> str | None:
    """Why ``upn`` is not a valid permanent UPN, or None when it is."""
    if len(upn) != 13:
        return "upn must be 13 characters"
    if not upn[1:].isdigit() or not upn[1:].isascii():
        return "upn must be a check letter then 12 digits"
    if upn[0] != upn_check_letter(upn[1:]):
        return "upn check letter does not match its digits"
    return None


def upn_is_valid(upn: str) -> bool:
    """True for a well-formed permanent UPN whose check letter is right."""
    return upn_problem(upn) is None


# --- reading CSV -------------------------------------------------------------------------


def _text_lines(path: Path) -> Iterator[str]:
    """Decoded lines: a UTF-8 BOM is dropped; a line that is not UTF-8 is Windows-1252.

    GIAS extracts are Windows-1252, where any accented letter or curly quote is invalid
    UTF-8, so trying UTF-8 first per line reads both encodings without guessing per file.
    """
    with path.open("rb") as raw:
        for number, line in enumerate(raw):
            if number == 0:
                line = line.removeprefix(codecs.BOM_UTF8)
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                yield line.decode("cp1252", errors="replace")


def _records(
    path: Path, required: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[tuple[int, dict[str, str] | str]]:
    """(first line of the record, its wanted fields stripped) or (line, a CSV error)."""
    reader = csv.reader(_text_lines(path))
    try:
        header = next(reader)
    except StopIteration:
        raise DirectoryImportError(f"{path.name}: empty file, expected a header") from None
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        index.setdefault(name.strip().lower(), position)
    missing = [c for c in required if c.lower() not in index]
    if missing:
        raise DirectoryImportError(f"{path.name}: missing required column(s): {', '.join(missing)}")
    wanted = [(c, index.get(c.lower())) for c in (*required, *optional)]
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, f"unreadable CSV: {exc}"
            continue
        if not any(f.strip() for f in record):
            continue
        yield (
            start,
            {c: record[i].strip() if i is not None and i < len(record) else "" for c, i in wanted},
        )


def _date(value: str, column: str, *, required: bool) -> date | None:
    if not value:
        if required:
            raise _RowError(f"{column} is empty")
        return None
    if not _ISO_DATE.fullmatch(value):
        raise _RowError(f"{column} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _RowError(f"{column} is not a real date") from None


def _urn(value: str, known: set[str] | None = None) -> str:
    if not _URN.fullmatch(value):
        raise _RowError(f"urn {value!r} is not a URN (digits)" if value else "urn is empty")
    if known is not None and value not in known:
        raise _RowError(f"urn {value} is not a school in the directory")
    return value


def email_is_valid(email: str) -> bool:
    """A plausible single address: local@domain.tld, no spaces, at most 254 characters."""
    local, at, domain = email.rpartition("@")
    return (
        bool(at)
        and len(email) <= 254
        and len(local) <= 64
        and _EMAIL_LOCAL.fullmatch(local) is not None
        and _EMAIL_DOMAIN.fullmatch(domain) is not None
    )


# --- batched upsert ----------------------------------------------------------------------


class _Upserter:
    """Queues rows by key; per batch loads the existing rows once, inserts or updates."""

    def __init__(
        self,
        session: Session,
        report: ImportReport,
        model: type[Base],
        key_fields: Sequence[str],
        on_batch: Callable[[list[tuple[int, dict[str, Any]]]], set[int]] | None = None,
    ) -> None:
        self.session, self.report, self.model = session, report, model
        self.key_fields = tuple(key_fields)
        self.on_batch = on_batch
        table = model.__table__
        self.pk = next(iter(table.primary_key.columns)).key  # type: ignore[attr-defined]
        self.limits = {
            c.key: c.type.length
            for c in table.columns
            if isinstance(c.type, String) and c.type.length
        }
        # Blind indexes read back as keyed hashes: derived from the row, never compared.
        self.derived = {c.key for c in table.columns if isinstance(c.type, BlindIndex)}
        self.seen: dict[str, int] = {}
        self.pending: list[tuple[int, dict[str, Any]]] = []

    def accept(self, line: int, values: dict[str, Any]) -> bool:
        """Check lengths and repeats within the file; report and refuse a bad row."""
        for column, limit in self.limits.items():
            value = values.get(column)
            if isinstance(value, str) and len(value) > limit:
                self.report.errors.append((line, f"{column} is longer than {limit} characters"))
                return False
        seen_key = "\x1f".join(str(values[f]) for f in self.key_fields)
        earlier = self.seen.setdefault(seen_key, line)
        if earlier != line:
            keys = ", ".join(self.key_fields)
            self.report.errors.append((line, f"repeats line {earlier} (same {keys})"))
            return False
        return True

    def queue(self, line: int, values: dict[str, Any]) -> None:
        self.pending.append((line, values))
        if len(self.pending) >= BATCH_SIZE:
            self.flush()

    def add(self, line: int, values: dict[str, Any]) -> None:
        if self.accept(line, values):
            self.queue(line, values)

    def flush(self) -> None:
        """Write the queued rows; called per batch and once at the end."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        columns = list(batch[0][1])
        positions = [columns.index(f) + 1 for f in self.key_fields]
        lead = getattr(self.model, self.key_fields[0])
        query = select(
            getattr(self.model, self.pk), *(getattr(self.model, c) for c in columns)
        ).where(lead.in_({values[self.key_fields[0]] for _, values in batch}))
        existing = {
            tuple(row[p] for p in positions): tuple(row) for row in self.session.execute(query)
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        inserted: set[int] = set()
        changed: set[int] = set()
        for line, values in batch:
            old = existing.get(tuple(values[f] for f in self.key_fields))
            if old is None:
                inserts.append(values)
                inserted.add(line)
            elif any(
                old[i + 1] != value
                for i, (column, value) in enumerate(values.items())
                if column not in self.derived
            ):
                updates.append({**values, self.pk: old[0]})
                changed.add(line)
        # Encrypted values are sealed for their row as they are written (foundations.crypto).
        if inserts:
            write_rows(self.session, self.model.__table__, inserts)
        if updates:
            write_rows(self.session, self.model.__table__, updates, key=self.pk)
        if self.on_batch is not None:
            changed |= self.on_batch(batch) - inserted
        self.report.inserted += len(inserts)
        self.report.updated += len(changed)
        self.report.unchanged += len(batch) - len(inserts) - len(changed)


def _run(
    report: ImportReport,
    upserter: _Upserter,
    records: Iterator[tuple[int, dict[str, str] | str]],
    parse: Callable[[dict[str, str]], dict[str, Any]],
    add: Callable[[int, dict[str, Any]], None] | None = None,
) -> ImportReport:
    """Parse every record, report bad ones by line, queue the rest, flush at the end."""
    add = add or upserter.add
    for line, row in records:
        report.rows_read += 1
        if isinstance(row, str):
            report.errors.append((line, row))
            continue
        try:
            values = parse(row)
        except _RowError as exc:
            report.errors.append((line, str(exc)))
            continue
        add(line, values)
    upserter.flush()
    return report


def _known_urns(session: Session) -> set[str]:
    return set(session.scalars(select(School.urn)))


# --- the four imports --------------------------------------------------------------------


def import_schools(session: Session, path: Path) -> ImportReport:
    """The GIAS establishment extract as downloaded; closed schools are kept."""
    report = ImportReport("schools")
    records = _records(path, list(GIAS_COLUMNS.values()))

    def parse(row: dict[str, str]) -> dict[str, Any]:
        values = {column: row[gias] for column, gias in GIAS_COLUMNS.items()}
        values["urn"] = _urn(values["urn"])
        for column in ("name", "la_code", "status"):
            if not values[column]:
                raise _RowError(f"{GIAS_COLUMNS[column]} is empty")
        if not _LA_CODE.fullmatch(values["la_code"]):
            raise _RowError(f"LA (code) {values['la_code']!r} is not an LA code")
        values["postcode"] = " ".join(values["postcode"].upper().split())
        return values

    upserter = _Upserter(session, report, School, ["urn"])
    done = _run(report, upserter, records, parse)
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


def import_contacts(session: Session, path: Path) -> ImportReport:
    """DSL and deputy contacts; an optional ``day_start`` is stored on the school."""
    report = ImportReport("contacts")
    records = _records(path, ["urn", "role", "name", "email"], ["phone", "day_start"])
    urns = _known_urns(session)
    day_starts: dict[str, tuple[str, int]] = {}  # urn -> (HH:MM, line that gave it)
    line_day_start: dict[int, tuple[str, str]] = {}  # line -> (urn, HH:MM) this batch

    def parse(row: dict[str, str]) -> dict[str, Any]:
        urn = _urn(row["urn"], urns)
        role = row["role"].lower()
        if role not in CONTACT_ROLES:
            raise _RowError(f"role {row['role']!r} must be one of {', '.join(CONTACT_ROLES)}")
        if not row["name"]:
            raise _RowError("name is empty")
        email = row["email"].lower()
        if not email_is_valid(email):
            raise _RowError("email is not a valid e-mail address")
        day_start = row["day_start"]
        if day_start and not _HHMM.fullmatch(day_start):
            raise _RowError("day_start must be a 24-hour time HH:MM, e.g. 08:40")
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

    upserter = _Upserter(
        session, report, SafeguardingContact, ["urn", "role", "email"], store_day_starts
    )
    return _run(report, upserter, records, parse, add)


def import_pupils(session: Session, path: Path) -> ImportReport:
    """Pupil rolls; one row per (UPN, URN), so a dual-registered child has two."""
    report = ImportReport("pupils")
    records = _records(
        path,
        ["upn", "given_names", "family_name", "date_of_birth", "urn"],
        ["preferred_name", "gender", "postcode", "on_roll_from", "on_roll_until"],
    )
    urns = _known_urns(session)
    today = date.today()

    def parse(row: dict[str, str]) -> dict[str, Any]:
        upn = row["upn"].upper()
        problem = upn_problem(upn)
        if problem:
            raise _RowError(problem)
        urn = _urn(row["urn"], urns)
        if not row["given_names"] and not row["family_name"]:
            raise _RowError("given_names and family_name are both empty")
        born = _date(row["date_of_birth"], "date_of_birth", required=True)
        assert born is not None  # required=True refuses a missing date
        if born > today:
            raise _RowError("date_of_birth is in the future")
        on_from = _date(row["on_roll_from"], "on_roll_from", required=False)
        on_until = _date(row["on_roll_until"], "on_roll_until", required=False)
        if on_from and on_until and on_until < on_from:
            raise _RowError("on_roll_until is before on_roll_from")
        personal = {
            "given_names": row["given_names"],
            "family_name": row["family_name"],
            "preferred_name": row["preferred_name"],
            "date_of_birth": born,
            "gender": row["gender"],
            "postcode": names.postcode(row["postcode"]),
        }
        return {
            "upn": upn,
            "urn": urn,
            **personal,
            "match_record": [str(personal[f]) for f in MATCH_RECORD],
            "on_roll_from": on_from,
            "on_roll_until": on_until,
            "dob_key": born.isoformat(),
            "birth_year_key": str(born.year),
            "postcode_key": names.postcode(row["postcode"]),
            "family_name_key": names.normalise(row["family_name"]),
            "given_name_key": names.first_given(row["given_names"]),
            "preferred_name_key": names.normalise(row["preferred_name"]),
            "family_key": names.family_key(row["family_name"]),
            "given_key": names.given_key(row["given_names"]),
        }

    upserter = _Upserter(session, report, Pupil, ["upn", "urn"])
    done = _run(report, upserter, records, parse)
    frequencies.refresh(session)  # the matcher's name counts, in the same transaction
    return done


def import_calendar(session: Session, path: Path) -> ImportReport:
    """Term, holiday, INSET and closure dates for an LA (``la:850``) or a school."""
    report = ImportReport("calendar")
    records = _records(path, ["scope", "first_day", "last_day", "kind"])

    def parse(row: dict[str, str]) -> dict[str, Any]:
        prefix, _, code = row["scope"].partition(":")
        prefix, code = prefix.strip().lower(), code.strip()
        if prefix == "la" and _LA_CODE.fullmatch(code):
            scope = f"la:{code}"
        elif prefix == "urn" and _URN.fullmatch(code):
            scope = f"urn:{code}"
        else:
            raise _RowError(f"scope {row['scope']!r} must be la:<LA code> or urn:<URN>")
        kind = row["kind"].lower()
        if kind not in CALENDAR_KINDS:
            raise _RowError(f"kind {row['kind']!r} must be one of {', '.join(CALENDAR_KINDS)}")
        first = _date(row["first_day"], "first_day", required=True)
        last = _date(row["last_day"], "last_day", required=True)
        if first is None or last is None or last < first:
            raise _RowError("last_day is before first_day")
        return {"scope": scope, "first_day": first, "last_day": last, "kind": kind}

    upserter = _Upserter(session, report, CalendarEntry, ["scope", "first_day", "last_day", "kind"])
    return _run(report, upserter, records, parse)
