"""``encompass audit``: for auditors."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from broker.cli import common
from foundations.database import transaction
from foundations.settings import Settings

if TYPE_CHECKING:
    from audit import reports

# An audit command: the settings, the database and the arguments (``args.actor_name`` is
# who acts).
Command = Callable[[Settings, common.Sessions, argparse.Namespace], int]


def register(commands: common.Commands) -> None:
    audit = commands.add_parser("audit", help="for auditors")
    a_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify_ = a_sub.add_parser("verify", help="check the whole chain; exit 0 only if intact")
    verify_.add_argument("--json", action="store_true")
    verify_.set_defaults(handler=_handler(verify))
    report_ = a_sub.add_parser("report", help="what was shared, with whom, on whose decision")
    report_.add_argument("--school", metavar="URN", help="one school")
    report_.add_argument("--incident", metavar="ID", help="one incident")
    report_.add_argument("--upn", help="one child")
    report_.add_argument("--from", dest="since", metavar="YYYY-MM-DD", help="from this day")
    report_.add_argument("--to", dest="until", metavar="YYYY-MM-DD", help="to this day")
    report_.add_argument("--format", choices=("text", "csv", "json"), default="text")
    report_.add_argument("--json", action="store_true", help="the same as --format json")
    common.actor_option(report_)
    report_.set_defaults(handler=_handler(report))
    sar = a_sub.add_parser("subject-access", help="everything held about one child (JSON)")
    sar.add_argument("upn")
    common.actor_option(sar)
    sar.set_defaults(handler=_handler(subject_access))
    sign = a_sub.add_parser("checkpoint", help="sign the current tree head now")
    sign.add_argument("--json", action="store_true")
    sign.set_defaults(handler=_handler(checkpoint))
    prove_ = a_sub.add_parser("prove", help="an inclusion proof of one row, to hand over")
    prove_.add_argument("row", type=int, help="the audit row number (seq)")
    prove_.set_defaults(handler=_handler(prove))
    check = a_sub.add_parser("check-proof", help="check a proof from `audit prove` offline")
    check.add_argument("file")
    check.add_argument("--public-key", help="the broker's public key (PEM)")
    check.set_defaults(handler=_handler(check_proof))
    searches_ = a_sub.add_parser(
        "searches", help="reviewers' directory searches with their terms (JSON; audited)"
    )
    searches_.add_argument("--notification", metavar="ID", help="one notification's only")
    common.actor_option(searches_)
    searches_.set_defaults(handler=_handler(searches))


def _handler(command: Command) -> common.Handler:
    def handler(args: argparse.Namespace) -> int:
        args.actor_name = common.actor(args)
        settings = common.settings()
        return command(settings, common.sessions(settings), args)

    return handler


def verify(settings: Settings, sessions: common.Sessions, args: argparse.Namespace) -> int:
    from audit.verify import verify_all

    with transaction(sessions) as session:
        result = verify_all(session, settings)
    if args.json:
        print(json.dumps(result))
    elif result["ok"]:
        print(
            f"audit trail intact: {result['rows']} rows, head {result['head']}, "
            f"{result['signed_heads']} signed tree head(s) consistent"
        )
    elif result["problems"] == result["misplaced_heads"]:
        print(
            f"this database's audit trail is intact ({result['rows']} rows, "
            f"{result['signed_heads']} signed tree head(s) of its own consistent), but:"
        )
        for problem in result["problems"]:
            print(f"  - {problem}")
    else:
        print("audit trail BROKEN:")
        for problem in result["problems"]:
            print(f"  - {problem}")
        if result["first_broken_seq"]:
            print(
                f"  first broken row: {result['first_broken_seq']} "
                f"({result['rows_verified']} rows before it verified)"
            )
    return 0 if result["ok"] else 1


def checkpoint(settings: Settings, sessions: common.Sessions, args: argparse.Namespace) -> int:
    from audit import checkpoints

    key = checkpoints.load_or_create_key(settings.signing_key_path)
    with transaction(sessions) as session:
        head = checkpoints.sign_head(session, key, settings.checkpoint_path)
    if head is None:
        print("no new audit rows since the last signed tree head")
    else:
        print(
            json.dumps(head.as_dict())
            if args.json
            else f"signed tree head {head.number}: {head.tree_size} rows, root {head.root}"
        )
    return 0


def prove(settings: Settings, sessions: common.Sessions, args: argparse.Namespace) -> int:
    from audit import checkpoints

    with transaction(sessions) as session:
        heads = checkpoints.db_heads(session)
        covering = [h for h in heads if h.tree_size >= args.row]
        if not covering:
            print(
                f"encompass audit prove: no signed tree head covers row {args.row} yet; "
                "run `encompass audit checkpoint`",
                file=sys.stderr,
            )
            return 1
        document = checkpoints.prove(session, args.row, covering[-1])
    document["public_key_pem"] = checkpoints.public_path(settings.signing_key_path).read_text()
    print(json.dumps(document, indent=2))
    return 0


def check_proof(settings: Settings, sessions: common.Sessions, args: argparse.Namespace) -> int:
    from audit import checkpoints

    document = json.loads(Path(args.file).read_text())
    key_path = Path(args.public_key) if args.public_key else None
    if key_path is None:
        print(
            "encompass audit check-proof: give --public-key (the broker's published key)",
            file=sys.stderr,
        )
        return 2
    problems = checkpoints.check_proof(document, checkpoints.load_public_key(key_path))
    for problem in problems:
        print(f"  - {problem}")
    if not problems:
        print(
            f"row {document['row']['seq']} is included in signed tree head "
            f"{document['tree_head']['number']} ({document['tree_head']['tree_size']} rows)"
        )
    return 0 if not problems else 1


def _query(args: argparse.Namespace) -> reports.ReportQuery:
    from audit import reports

    return reports.ReportQuery(
        urn=args.school,
        incident_id=args.incident,
        upn=args.upn,
        since=date.fromisoformat(args.since) if args.since else None,
        until=date.fromisoformat(args.until) if args.until else None,
    )


def report(settings: Settings, sessions: common.Sessions, args: argparse.Namespace) -> int:
    """What was shared, with whom, on whose decision; producing it is itself audited."""
    from sqlalchemy import func, select

    from audit import reports
    from audit.ledger import AuditAction, record
    from audit.verify import verify_all
    from foundations.models import Notification

    try:
        query = _query(args)
    except ValueError as exc:
        print(f"encompass audit report: dates are YYYY-MM-DD: {exc}", file=sys.stderr)
        return 2
    fmt = "json" if args.json else args.format
    with transaction(sessions) as session:
        rows = reports.notification_rows(session, query)
        statuses = Counter(
            dict(
                session.execute(
                    select(Notification.status, func.count()).group_by(Notification.status)
                ).all()
            )
        )
        verification = verify_all(session, settings)
        record(
            session,
            AuditAction.REPORT_PRODUCED,
            actor=args.actor_name,
            details={"query": query.describe(), "format": fmt, "rows": len(rows)},
        )
    if fmt == "json":
        print(
            json.dumps(
                {
                    "query": query.describe(),
                    "notifications": rows,
                    "notifications_by_status": dict(statuses),
                    "chain_intact": verification["ok"],
                    "audit_rows": verification["rows_verified"],
                },
                indent=2,
            )
        )
    elif fmt == "csv":
        sys.stdout.write(reports.as_csv(rows))
    else:
        state = "intact" if verification["ok"] else "BROKEN"
        print(f"Audit trail: {verification['rows_verified']} rows, {state}")
        print(
            "Notifications by status: "
            + (", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) or "none")
        )
        print(reports.as_text(rows, query))
    return 0


def subject_access(settings: Settings, sessions: common.Sessions, args: argparse.Namespace) -> int:
    from audit import reports
    from audit.ledger import AuditAction, record

    with transaction(sessions) as session:
        export = reports.subject_access(session, args.upn)
        record(
            session,
            AuditAction.SUBJECT_ACCESS_EXPORT,
            actor=args.actor_name,
            details={"upn": args.upn, "notifications": len(export["notifications"])},
        )
    print(json.dumps(export, indent=2, default=str))
    return 0


def searches(settings: Settings, sessions: common.Sessions, args: argparse.Namespace) -> int:
    """The re-match searches reviewers ran, with their terms, each checked against the
    salted hash in its audit row. Reading them is itself audited."""
    from audit.ledger import AuditAction, record
    from consumers import review

    with transaction(sessions) as session:
        found = review.searches(session, args.notification)
        record(
            session,
            AuditAction.REPORT_PRODUCED,
            actor=args.actor_name,
            details={
                "report": "directory_searches",
                "notification_id": args.notification,
                "rows": len(found),
            },
        )
    print(json.dumps(found, indent=2))
    return 0 if all(s["matches_audit"] for s in found) else 1
