"""``encompass directory import``: load any subset of the five directory files;
``encompass directory health``: is the directory fit to go live (school_directory/health.py)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from broker.cli import common
from foundations.database import transaction

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from school_directory.health import Gate, HealthReport
    from school_directory.upsert import ImportReport

# In this order: contacts and pupils refer to the schools.
KINDS = ("schools", "contacts", "pupils", "calendar", "council_contacts")
EXIT_SOME_ROWS_REFUSED = 3
EXIT_UNHEALTHY = 1


def register(commands: common.Commands) -> None:
    directory = commands.add_parser("directory", help="the school directory")
    d_sub = directory.add_subparsers(dest="directory_command", required=True)
    imp = d_sub.add_parser("import", help="import any subset of the five CSV files")
    for name in KINDS:
        imp.add_argument(f"--{name.replace('_', '-')}", dest=name, type=Path, metavar="FILE")
    common.actor_option(imp)
    imp.set_defaults(handler=import_command)
    health = d_sub.add_parser(
        "health",
        help="is the directory fit to go live: exit 0 only when every ENCOMPASS_HEALTH_* "
        "threshold is met",
    )
    health.add_argument("--json", action="store_true", help="one JSON object, for machines")
    health.set_defaults(handler=health_command)


def import_command(args: argparse.Namespace) -> int:
    files = {k: getattr(args, k) for k in KINDS}
    if not any(files.values()):
        print(
            "encompass directory import: give at least one of --schools, --contacts, "
            "--pupils, --calendar, --council-contacts",
            file=sys.stderr,
        )
        return 2
    settings = common.settings()
    return import_files(
        common.sessions(settings), files, actor=common.actor(args), workers=settings.import_workers
    )


def import_files(
    sessions: common.Sessions,
    files: dict[str, Path | None],
    *,
    actor: str,
    workers: int | None = None,
) -> int:
    """Exit 0 when every row was taken, 3 when some rows were refused (and reported),
    2 when a file could not be read at all. ``workers``: ``Settings.import_workers``."""
    from audit.ledger import AuditAction, record
    from school_directory import imports
    from school_directory.csv_rows import DirectoryImportError

    importers: dict[str, Callable[[Session, Path], ImportReport]] = {
        "schools": imports.import_schools,
        "contacts": imports.import_contacts,
        "pupils": partial(imports.import_pupils, workers=workers),
        "calendar": imports.import_calendar,
        "council_contacts": imports.import_council_contacts,
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
        except DirectoryImportError as exc:
            print(f"encompass directory import: {kind} file {path}: {exc}", file=sys.stderr)
            return 2
        print(report.summary())
        for line, message in report.errors:
            print(f"  {path.name} line {line}: {message}", file=sys.stderr)
        if report.errors:
            status = EXIT_SOME_ROWS_REFUSED
    return status


def health_command(args: argparse.Namespace) -> int:
    """Exit 0 when every gate passes, 1 when one fails (named in the output)."""
    from foundations.clock import utcnow
    from school_directory import health

    settings = common.settings()
    thresholds = health.Thresholds.from_settings(settings)
    with transaction(common.sessions(settings)) as session:
        report = health.directory_health(session, thresholds, utcnow())
    gates = health.evaluate(report)
    if args.json:
        print(json.dumps(health.as_json(report, gates), indent=2))
    else:
        print(health_text(report, gates))
    return 0 if health.passed(gates) else EXIT_UNHEALTHY


def _when(at: datetime | None) -> str:
    from foundations.clock import LONDON

    return at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M") if at else "never"


def health_text(report: HealthReport, gates: Sequence[Gate]) -> str:
    """The report for a person: the gates first, then what each lists, then the verdict."""
    t = report.thresholds
    lines = [
        f"Directory health at {_when(report.at)} (Europe/London): "
        f"{report.open_schools} open schools, {report.contacts} contacts",
        "",
        *(f"  {'pass' if g.passed else 'FAIL'}  {g.title}: {g.detail}" for g in gates),
    ]

    def section(title: str, rows: Sequence[str]) -> None:
        if not rows:
            lines.extend(["", f"{title}: none"])
        else:
            lines.extend(["", f"{title} ({len(rows)}):", *(f"  {row}" for row in rows)])

    section(
        "Open schools with no DSL", [f"{s.urn}  {s.name} (LA {s.la_code})" for s in report.no_dsl]
    )
    section(
        "Open schools with no deputy DSL",
        [f"{s.urn}  {s.name} (LA {s.la_code})" for s in report.no_deputy],
    )
    section(
        f"Contacts not confirmed in the last {t.max_unconfirmed_days} days",
        [
            f"{c.urn}  {c.role}  {c.email}  confirmed {_when(c.confirmed_at)}"
            for c in report.unconfirmed
        ],
    )
    if report.bounces_recorded:
        section(
            f"Addresses in the directory that bounced in the last {t.window_days} days",
            [
                f"{b.urn}  {b.role}  {b.email}  bounced {_when(b.bounced_at)}"
                for b in report.bounced
            ],
        )
    section(
        f"Open schools with less than {t.min_pupil_coverage * 100:.1f} % of GIAS's "
        "NumberOfPupils imported",
        [f"{r.urn}  {r.name}: {r.imported} of {r.gias}" for r in report.short_rolls],
    )
    section(
        "Open schools with no calendar of their own or their LA's",
        [f"{s.urn}  {s.name} (LA {s.la_code})" for s in report.no_calendar],
    )
    lines += [
        "",
        f"Notifications in the last {t.window_days} days: {report.notifications}, of which "
        f"{report.matched_without_person} matched without a person",
    ]
    failed = [g.name for g in gates if not g.passed]
    verdict = f"FAIL ({', '.join(failed)} below threshold)" if failed else "pass"
    lines += ["", f"Directory health: {verdict}"]
    return "\n".join(lines)
