"""Writing imported rows in batches (SPEC section 5): insert what is new, update what changed.

Rows are compared and written a batch at a time, never one query per row, inside the
caller's transaction; ``ImportReport`` counts what happened and lists the rejected rows by
their file line.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, Table, delete, func, select
from sqlalchemy.orm import Session

from foundations.crypto import BlindIndex
from foundations.database import Base
from foundations.row_sealing import write_rows
from school_directory.csv_rows import DirectoryImportError, Records, RowError

BATCH_SIZE = 5_000
IN_LIST_STEP = 500


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


def _newly_known(stored: Any, value: Any) -> bool:
    """A blind index the row holds empty ("": nothing known, as a migration that adds a
    key leaves it) for which the import has a value: the row is updated to fill it in."""
    return stored == "" and value not in ("", None)


class Upserter:
    """Queues rows by key; per batch loads the existing rows once, inserts or updates."""

    def __init__(
        self,
        session: Session,
        report: ImportReport,
        model: type[Base],
        key_fields: Sequence[str],
        on_batch: Callable[[list[tuple[int, dict[str, Any]]]], set[int]] | None = None,
        *,
        fresh: bool = False,
    ) -> None:
        self.session, self.report, self.model = session, report, model
        # The table was empty when the import began (its unique key dropped meanwhile):
        # every row is inserted, no batch looks for existing rows, and ``refuse_repeats``
        # refuses the repeats once all are in. ``lines``: the line of each row inserted.
        self.fresh = fresh
        self.lines = array("i")
        self.key_fields = tuple(key_fields)
        self.on_batch = on_batch
        table = model.__table__
        self.pk = next(iter(table.primary_key.columns)).key  # type: ignore[attr-defined]
        self.limits = {
            c.key: c.type.length
            for c in table.columns
            if isinstance(c.type, String) and c.type.length
        }
        # Blind indexes read back as keyed hashes: derived from the row, never compared,
        # but filled in where the row has none (a key added by a later migration).
        self.derived = {c.key for c in table.columns if isinstance(c.type, BlindIndex)}
        self.seen: dict[str, int] = {}
        self.repeats_refused = 0  # rows ``refuse_repeats`` deleted
        self.pending: list[tuple[int, dict[str, Any]]] = []

    def accept(self, line: int, values: dict[str, Any]) -> bool:
        """Check lengths and repeats within the file; report and refuse a bad row."""
        for column, limit in self.limits.items():
            value = values.get(column)
            if isinstance(value, str) and len(value) > limit:
                self.report.errors.append((line, f"{column} is longer than {limit} characters"))
                return False
        if self.fresh:  # repeats are found in the table, after the load (refuse_repeats)
            return True
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
        if self.fresh:
            self._insert_fresh(batch)
            return
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
                if column not in self.derived
                else _newly_known(old[i + 1], value)
                for i, (column, value) in enumerate(values.items())
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

    def _insert_fresh(self, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Into a table empty when the import began: every row is inserted as it comes,
        its line kept by the order of insertion; ``refuse_repeats`` then finds the repeats."""
        write_rows(self.session, self.model.__table__, [values for _, values in batch])
        self.lines.extend(line for line, _ in batch)
        if self.on_batch is not None:
            self.on_batch(batch)
        self.report.inserted += len(batch)

    def refuse_repeats(self) -> None:
        """After a first roll's rows are in (the table empty when the import began, its
        unique key dropped): each row repeating the key of an earlier line is deleted and
        refused by its line, naming the first line, as ``accept`` does for a whole file.

        The rows were inserted in the file's order, so their ids rise with their lines:
        the n-th id of the table is the n-th line of ``lines`` (4 bytes a row). The keys
        seen more than once are found by the table's index of the key's first field."""
        table: Table = self.model.__table__  # type: ignore[assignment]
        pk = getattr(self.model, self.pk)
        count, low, high = self.session.execute(
            select(func.count(), func.min(pk), func.max(pk)).select_from(table)
        ).one()
        if count != len(self.lines):  # fail closed: rows of another transaction
            raise DirectoryImportError(
                f"{table.name}: {count} rows after the import, {len(self.lines)} inserted by it"
            )
        fields = [getattr(self.model, f) for f in self.key_fields]
        lead = fields[0]
        repeated = select(lead).group_by(lead).having(func.count() > 1)
        query = select(pk, *fields).where(lead.in_(repeated)).order_by(lead, pk)
        later: list[tuple[int, int]] = []  # (id, id of the first row of its key)
        firsts: dict[tuple[Any, ...], int] = {}
        for row_id, *key in self.session.execute(query.execution_options(yield_per=IN_LIST_STEP)):
            if firsts and next(iter(firsts))[0] != key[0]:
                firsts = {}  # the rows of one lead value come together, in the order of ids
            first = firsts.setdefault(tuple(key), row_id)
            if first != row_id:
                later.append((row_id, first))
        self.repeats_refused = len(later)
        if not later:
            return
        if high - low + 1 == count:
            position: Callable[[int], int] = lambda row_id: row_id - low  # noqa: E731
        else:  # gaps in the ids (a sequence shared with others): rank them
            ids = array("q", self.session.scalars(select(pk).order_by(pk)))
            position = lambda row_id: bisect_left(ids, row_id)  # noqa: E731
        keys = ", ".join(self.key_fields)
        for row_id, first in later:
            line = self.lines[position(row_id)]
            earlier = self.lines[position(first)]
            self.report.errors.append((line, f"repeats line {earlier} (same {keys})"))
        self.report.errors.sort(key=lambda error: error[0])  # by line, as read
        gone = sorted(row_id for row_id, _ in later)
        for start in range(0, len(gone), IN_LIST_STEP):
            self.session.execute(delete(table).where(pk.in_(gone[start : start + IN_LIST_STEP])))
        self.report.inserted -= len(gone)


class PreparedInserter:
    """The first roll's rows, prepared (checked, sealed, hashed) apart from this process
    (school_directory/import_workers.py), inserted as they are: the driver's own
    ``executemany``, no per-row work of SQLAlchemy's. Checks rows as ``Upserter`` does for
    a table empty when the import began (``fresh``): its ``refuse_repeats`` then refuses
    the repeats, with the same messages by the same lines."""

    def __init__(
        self, upserter: Upserter, columns: Sequence[str], counted: Sequence[str] = ()
    ) -> None:
        assert upserter.fresh
        self.upserter, self.columns = upserter, tuple(columns)
        table = upserter.model.__table__
        checked = [*upserter.limits, *(f for f in upserter.key_fields if f not in upserter.limits)]
        self.checked = [(c, self.columns.index(c)) for c in checked]
        connection = upserter.session.connection()
        mark = {"qmark": "?", "numeric": ":{}", "format": "%s", "pyformat": "%s"}[
            connection.dialect.paramstyle
        ]
        marks = ", ".join(mark.format(n + 1) for n in range(len(self.columns)))
        quote = connection.dialect.identifier_preparer
        names = ", ".join(quote.quote(c) for c in self.columns)
        # Only the table's own names, quoted, and a placeholder per value: no data in it.
        into = quote.format_table(table)
        self.statement = f"INSERT INTO {into} ({names}) VALUES ({marks})"  # noqa: S608
        self.pending: list[tuple[int, tuple[Any, ...]]] = []
        # What each counted column holds, row by row, as inserted (``counted``).
        self.counts = {c: Counter[Any]() for c in counted}
        self._counted = [(self.counts[c], self.columns.index(c)) for c in counted]

    def add(self, line: int, row: tuple[Any, ...]) -> None:
        if self.upserter.accept(line, {c: row[i] for c, i in self.checked}):
            self.pending.append((line, row))
            if len(self.pending) >= BATCH_SIZE:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        upserter = self.upserter
        upserter.session.connection().exec_driver_sql(self.statement, [row for _, row in batch])
        for counts, i in self._counted:
            counts.update(row[i] for _, row in batch)
        upserter.lines.extend(line for line, _ in batch)
        upserter.report.inserted += len(batch)


def run_import(
    report: ImportReport,
    upserter: Upserter,
    records: Records,
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
        except RowError as exc:
            report.errors.append((line, str(exc)))
            continue
        add(line, values)
    upserter.flush()
    return report
