"""``encompass directory import``: load any subset of the four directory files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from foundations.database import transaction
from school_directory import imports
from school_directory.csv_rows import DirectoryImportError
from school_directory.upsert import ImportReport

IMPORTERS: dict[str, Callable[[Session, Path], ImportReport]] = {
    # Schools first: contacts and pupils refer to them.
    "schools": imports.import_schools,
    "contacts": imports.import_contacts,
    "pupils": imports.import_pupils,
    "calendar": imports.import_calendar,
}

EXIT_SOME_ROWS_REFUSED = 3


def import_files(
    sessions: sessionmaker[Session], files: dict[str, Path | None], *, actor: str
) -> int:
    """Exit 0 when every row was taken, 3 when some rows were refused (and reported),
    2 when a file could not be read at all."""
    status = 0
    for kind, importer in IMPORTERS.items():
        path = files.get(kind)
        if path is None:
            continue
        if not path.is_file():
            print(f"encompass directory import: {kind} file {path} not found", file=sys.stderr)
            return 2
        try:
            with transaction(sessions) as session:
                report = importer(session, path)
                record(
                    session,
                    AuditAction.DIRECTORY_IMPORTED,
                    actor=actor,
                    details={
                        "kind": kind,
                        "file": path.name,
                        "rows": report.rows_read,
                        "inserted": report.inserted,
                        "updated": report.updated,
                        "unchanged": report.unchanged,
                        "refused": len(report.errors),
                    },
                )
        except DirectoryImportError as exc:
            print(f"encompass directory import: {kind} file {path}: {exc}", file=sys.stderr)
            return 2
        print(report.summary())
        for line, message in report.errors:
            print(f"  {path.name} line {line}: {message}", file=sys.stderr)
        if report.errors:
            status = EXIT_SOME_ROWS_REFUSED
    return status
