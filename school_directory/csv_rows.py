"""Reading the directory's CSV files, and checking their fields (SPEC section 5).

Pure rules, no database: a file becomes (line, fields) records; a field that is wrong raises
``RowError`` with a message that says why without repeating personal data.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

URN_PATTERN = re.compile(r"\d{1,16}")
LA_CODE_PATTERN = re.compile(r"[A-Za-z0-9]{1,8}")
HHMM_PATTERN = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")


class DirectoryImportError(Exception):
    """The file as a whole cannot be imported (empty, or required columns missing)."""


class RowError(ValueError):
    """One row is bad; the message says why, without repeating personal data."""


Records = Iterator[tuple[int, dict[str, str] | str]]


def decode_line(line: bytes) -> str:
    """One line's text: UTF-8, or Windows-1252 when it is not UTF-8.

    GIAS extracts are Windows-1252, where any accented letter or curly quote is invalid
    UTF-8, so trying UTF-8 first per line reads both encodings without guessing per file.
    """
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def _text_lines(path: Path) -> Iterator[str]:
    """Decoded lines (``decode_line``); a UTF-8 BOM is dropped."""
    with path.open("rb") as raw:
        for number, line in enumerate(raw):
            if number == 0:
                line = line.removeprefix(codecs.BOM_UTF8)
            yield decode_line(line)


Wanted = list[tuple[str, int | None]]


def wanted_columns(
    name: str, header: list[str], required: Sequence[str], optional: Sequence[str]
) -> Wanted:
    """Each wanted column with its position in ``header`` (None: not in the file)."""
    index: dict[str, int] = {}
    for position, column in enumerate(header):
        index.setdefault(column.strip().lower(), position)
    missing = [c for c in required if c.lower() not in index]
    if missing:
        raise DirectoryImportError(f"{name}: missing required column(s): {', '.join(missing)}")
    return [(c, index.get(c.lower())) for c in (*required, *optional)]


def records(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> Records:
    """(first line of the record, its wanted fields stripped) or (line, a CSV error)."""
    reader = csv.reader(_text_lines(path))
    try:
        header = next(reader)
    except StopIteration:
        raise DirectoryImportError(f"{path.name}: empty file, expected a header") from None
    yield from records_of(reader, wanted_columns(path.name, header, required, optional))


def records_of(reader: Any, wanted: Wanted, base: int = 0) -> Records:
    """The records ``reader`` gives, numbered by their first line after ``base`` lines.

    Part of a file read apart (school_directory/import_workers.py) is numbered from the
    lines before it."""
    while True:
        start = base + reader.line_num + 1
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


def parse_date(value: str, column: str, *, required: bool) -> date | None:
    """A YYYY-MM-DD date, or None for an empty optional one."""
    if not value:
        if required:
            raise RowError(f"{column} is empty")
        return None
    if not _ISO_DATE.fullmatch(value):
        raise RowError(f"{column} is not a date in YYYY-MM-DD form")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(f"{column} is not a real date") from None


def parse_urn(value: str, known: set[str] | None = None) -> str:
    """A school's URN (digits), and one of ``known`` when given."""
    if not URN_PATTERN.fullmatch(value):
        raise RowError(f"urn {value!r} is not a URN (digits)" if value else "urn is empty")
    if known is not None and value not in known:
        raise RowError(f"urn {value} is not a school in the directory")
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
