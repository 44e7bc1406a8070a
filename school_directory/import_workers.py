"""The first roll of a large pupils file prepared by worker processes (issue 16).

Each worker reads byte ranges of the file itself (split at line ends), parses and checks
each record with the same functions as the single-process import
(``school_directory.pupil_rows``), seals its personal fields and makes its blind indexes,
and returns a range's records as compact ``Item`` tuples: one crossing of the pipe per
range. The importing process only inserts them, in the file's order, with the same
checks of repeats and the same messages by line as the single-process import.

- Started by ``spawn`` (a fresh interpreter, nothing inherited from a process that may
  run threads). The keyring's keys reach the workers only through the pool's
  initializer, over its pipe: never written to a file or a log.
- A range is numbered from the lines before it (each worker returns how many lines its
  range had), so errors and warnings carry the file's line numbers.
- A CSV field may hold a line end inside quotes; a range that finds one is not used: the
  import goes on in the importing process from that range's first line, the ranges
  before it being whole records (each was checked the same way).
- At most ``IN_FLIGHT`` ranges per worker are read ahead: the memory stays flat however
  long the roll.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from pathlib import Path

from foundations.crypto import Keyring
from school_directory.csv_rows import (
    DirectoryImportError,
    Wanted,
    decode_line,
    records_of,
    wanted_columns,
)
from school_directory.pupil_rows import PUPIL_OPTIONAL, PUPIL_REQUIRED, Item, PupilRows

# A range read by one worker at a time (about 13,000 pupils of a typical file).
RANGE_BYTES = 1 << 20
IN_FLIGHT = 2
# Records prepared at a time by the importing process itself, when it goes on alone.
LOCAL_CHUNK = 5_000


def worker_count(given: int | None = None) -> int:
    """``given`` (``Settings.import_workers``, ``ENCOMPASS_IMPORT_WORKERS``), else one per
    core; 0 or 1: no workers."""
    if given is not None:
        return max(1, given)
    return os.cpu_count() or 1


def read_header(path: Path) -> tuple[Wanted, int] | None:
    """The wanted columns and where the records begin; None when the header line holds a
    line end inside quotes (the file is then read by one process)."""
    with path.open("rb") as raw:
        first = raw.readline()
        text = decode_line(first.removeprefix(codecs.BOM_UTF8))
        header = next(csv.reader([text]), None)
        if not first or header is None:
            raise DirectoryImportError(f"{path.name}: empty file, expected a header")
        if any("\n" in field for field in header):
            return None
        return wanted_columns(path.name, header, PUPIL_REQUIRED, PUPIL_OPTIONAL), raw.tell()


# --- in each worker -----------------------------------------------------------------------

_rows: PupilRows | None = None
_wanted: Wanted = []


def _start(
    keys: tuple[dict[str, bytes], str, bytes] | None,
    urns: set[str],
    today: date,
    dates_as_text: bool,
    wanted: Wanted,
) -> None:
    global _rows, _wanted
    ring = Keyring(keys=keys[0], current=keys[1], index_key=keys[2]) if keys else None
    _rows = PupilRows(ring, urns, today, dates_as_text=dates_as_text)
    _wanted = wanted


def _lines(data: bytes) -> list[bytes]:
    """``data`` cut after each line end, as reading the file line by line does."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _spans_lines(lines: list[bytes]) -> bool:
    """Whether a record of these lines goes on past its line: a quoted field holding the
    line end (read alone, the line's field keeps it)."""
    for line in lines:
        if b'"' in line:
            try:
                fields = next(csv.reader([decode_line(line)]), [])
            except csv.Error:
                continue  # refused on its own line by either reading
            if any("\n" in field for field in fields):
                return True
    return False


def prepare_range(path: str, start: int, end: int) -> tuple[int, list[Item] | None]:
    """The records of bytes ``start`` to ``end`` (whole lines), numbered from 1: how many
    lines they were, and their items (None: a record spans lines, not prepared here)."""
    assert _rows is not None, "a worker started without its initializer"
    with open(path, "rb") as raw:
        raw.seek(start)
        data = raw.read(end - start)
    lines = _lines(data)
    if b'"' in data and _spans_lines(lines):
        return len(lines), None
    reader = csv.reader(map(decode_line, lines))
    return len(lines), _rows.items(records_of(reader, _wanted))


# --- in the importing process -------------------------------------------------------------


def _ranges(path: Path, start: int) -> Iterator[tuple[int, int]]:
    size = path.stat().st_size
    with path.open("rb") as raw:
        while start < size:
            raw.seek(min(start + RANGE_BYTES, size))
            if raw.tell() < size:
                raw.readline()  # on to the next line's start
            end = raw.tell()
            yield start, end
            start = end


def prepared_items(
    path: Path,
    wanted: Wanted,
    data_start: int,
    rows: PupilRows,
    workers: int,
    keys: tuple[dict[str, bytes], str, bytes] | None,
) -> Generator[list[Item], None, None]:
    """The file's items after its header, range by range in the file's order, numbered
    by the file's lines, prepared by ``workers`` processes."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start,
        initargs=(keys, rows.urns, rows.today, rows.dates_as_text, wanted),
    )
    base = 1  # the header's line
    try:
        ranges = _ranges(path, data_start)
        ahead: deque[tuple[int, Future[tuple[int, list[Item] | None]]]] = deque()
        for start, end in itertools.islice(ranges, workers * IN_FLIGHT):
            ahead.append((start, pool.submit(prepare_range, str(path), start, end)))
        while ahead:
            start, future = ahead.popleft()
            count, items = future.result()
            if items is None:  # a record spans lines: go on alone from this range
                for pending in ahead:
                    pending[1].cancel()
                ahead.clear()
                yield from _alone(path, start, base, rows, wanted)
                return
            for next_range in itertools.islice(ranges, 1):
                ahead.append((next_range[0], pool.submit(prepare_range, str(path), *next_range)))
            yield [(line + base, error, warning, row) for line, error, warning, row in items]
            base += count
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _alone(
    path: Path, start: int, base: int, rows: PupilRows, wanted: Wanted
) -> Iterator[list[Item]]:
    """The rest of the file from byte ``start`` (a record's first line, line ``base`` + 1),
    prepared in this process."""
    with path.open("rb") as raw:
        raw.seek(start)
        reader = csv.reader(map(decode_line, raw))
        records = records_of(reader, wanted, base)
        while chunk := rows.items(itertools.islice(records, LOCAL_CHUNK)):
            yield chunk
