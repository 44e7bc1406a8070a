"""``encompass directory import``: load any subset of the four directory files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.cli import common
from foundations.database import transaction

# In this order: contacts and pupils refer to the schools.
KINDS = ("schools", "contacts", "pupils", "calendar")
EXIT_SOME_ROWS_REFUSED = 3


def register(commands: common.Commands) -> None:
    directory = commands.add_parser("directory", help="the school directory")
    d_sub = directory.add_subparsers(dest="directory_command", required=True)
    imp = d_sub.add_parser("import", help="import any subset of the four CSV files")
    for name in KINDS:
        imp.add_argument(f"--{name}", type=Path, metavar="FILE")
    common.actor_option(imp)
    imp.set_defaults(handler=import_command)


def import_command(args: argparse.Namespace) -> int:
    files = {k: getattr(args, k) for k in KINDS}
    if not any(files.values()):
        print(
            "encompass directory import: give at least one of --schools, --contacts, "
            "--pupils, --calendar",
            file=sys.stderr,
        )
        return 2
    return import_files(common.sessions(common.settings()), files, actor=common.actor(args))


def import_files(sessions: common.Sessions, files: dict[str, Path | None], *, actor: str) -> int:
    """Exit 0 when every row was taken, 3 when some rows were refused (and reported),
    2 when a file could not be read at all."""
    from audit.ledger import AuditAction, record
    from school_directory import imports

    importers = {
        "schools": imports.import_schools,
        "contacts": imports.import_contacts,
        "pupils": imports.import_pupils,
        "calendar": imports.import_calendar,
    }
    status = 0
    for kind in KINDS:
        path = files.get(kind)
        if path is None:
            continue
        if not path.is_file():
            print(f"encompass directory import: {kind} file {path} not found", file=sys.stderr)
            return 2
        try:
            with transaction(sessions) as session:
                report = importers[kind](session, path)
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
        except imports.DirectoryImportError as exc:
            print(f"encompass directory import: {kind} file {path}: {exc}", file=sys.stderr)
            return 2
        print(report.summary())
        for line, message in report.errors:
            print(f"  {path.name} line {line}: {message}", file=sys.stderr)
        if report.errors:
            status = EXIT_SOME_ROWS_REFUSED
    return status
