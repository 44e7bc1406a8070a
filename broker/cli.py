"""``encompass``: the command line (SPEC section 7)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from broker.database import engine_for, session_factory, transaction, upgrade
from broker.settings import Settings


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SystemExit(f"encompass: bad setting {where}: {first['msg']}") from exc


def _sessions(settings: Settings) -> Any:
    url = settings.resolved_database_url
    upgrade(url)
    return session_factory(engine_for(settings))


def _actor(args: argparse.Namespace) -> str:
    return f"cli:{getattr(args, 'actor', None) or getpass.getuser()}"


def cmd_up(args: argparse.Namespace) -> int:
    from broker.up import run_up

    return run_up(_settings(), demo=args.demo, incidents=args.incidents, interval_s=args.interval)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    upgrade(settings.resolved_database_url)
    print(f"database is at the newest schema: {settings.resolved_database_url}")
    return 0


def cmd_directory_import(args: argparse.Namespace) -> int:
    from broker.directory_cli import import_files

    files = {k: getattr(args, k) for k in ("schools", "contacts", "pupils", "calendar")}
    if not any(files.values()):
        print(
            "encompass directory import: give at least one of --schools, --contacts, "
            "--pupils, --calendar",
            file=sys.stderr,
        )
        return 2
    return import_files(_sessions(_settings()), files, actor=_actor(args))


def cmd_calendar_bank_holidays(args: argparse.Namespace) -> int:
    from broker.database import transaction
    from school_directory.bank_holidays import BankHolidayFileError, import_file

    try:
        with transaction(_sessions(_settings())) as session:
            result = import_file(session, args.file, actor=_actor(args))
    except (OSError, BankHolidayFileError) as exc:
        print(f"encompass calendar bank-holidays: {args.file}: {exc}", file=sys.stderr)
        return 1
    years = f"{result.years[0]}-{result.years[-1]}"
    if not result.changed:
        print(f"bank holidays {years}: already up to date ({result.days} days)")
    else:
        print(
            f"bank holidays {years}: {result.days} days ({result.added} added, "
            f"{result.removed} removed); they now win over the built-in list for those years"
        )
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from broker.publish import publish_file

    return asyncio.run(publish_file(_settings(), Path(args.file)))


def cmd_review(args: argparse.Namespace) -> int:
    from broker import review_cli

    handler: Callable[..., int] = getattr(review_cli, args.review_command)
    settings = _settings()
    return handler(settings, _sessions(settings), args, _actor(args))


def cmd_audit(args: argparse.Namespace) -> int:
    from broker import audit_cli

    handler: Callable[..., int] = getattr(audit_cli, args.audit_command.replace("-", "_"))
    args.actor_name = _actor(args)
    settings = _settings()
    return handler(settings, _sessions(settings), args)


def _actor_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as",
        dest="actor",
        metavar="NAME",
        help="who is acting, for the audit trail (default: your login name)",
    )


def cmd_users_add(args: argparse.Namespace) -> int:
    """A local console account; the password from stdin (--password-stdin) or a prompt."""
    from console.accounts import AccountError, add_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.username}: ")
        if password != getpass.getpass("Again: "):
            print("encompass users add: the passwords differ", file=sys.stderr)
            return 2
    settings = _settings()
    try:
        with transaction(_sessions(settings)) as session:
            add_user(session, args.username, args.role, password, actor=_actor(args))
    except AccountError as exc:
        print(f"encompass users add: {exc}", file=sys.stderr)
        return 2
    print(f"{args.username} can sign in to the console as {args.role}.")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from broker.crypto import add_key_to_file
    from broker.database import Base, keyring_for, make_engine
    from broker.keys import reencrypt

    settings = _settings()
    upgrade(settings.resolved_database_url)
    if settings.data_key is None:
        new_id = add_key_to_file(settings.data_key_path)
        print(f"added data key {new_id} to {settings.data_key_path}")
    keyring = keyring_for(settings)
    engine = make_engine(settings.resolved_database_url, keyring)
    import audit.checkpoints  # noqa: F401  (every table on Base.metadata)
    import broker.store  # noqa: F401
    import school_directory.store  # noqa: F401

    done = reencrypt(engine, keyring, Base.metadata)
    engine.dispose()
    print(
        f"re-encrypted {done.values} value(s) in {done.rows} row(s) with key "
        f"{keyring.current} ({done.plaintext_encrypted} were not yet encrypted)"
    )
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from broker.dlq import replay

    return asyncio.run(replay(_settings(), dry_run=args.dry_run))


def cmd_retention_run(args: argparse.Namespace) -> int:
    from broker.database import utcnow
    from consumers.retention import purge

    settings = _settings()
    days = args.days or settings.retention_days
    with transaction(_sessions(settings)) as session:
        done = purge(session, now=utcnow(), keep_days=days, actor=_actor(args))
    print(
        f"purged personal content of {done.incidents} incident(s) and "
        f"{done.notifications} notification(s) older than {days} days; "
        f"{done.kept_open} old incident(s) kept because a notification is still open"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="encompass",
        description="Operation Encompass broker: police incidents to the child's school "
        "before the next school day.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run everything on this machine")
    up.add_argument(
        "--demo",
        action="store_true",
        help="synthetic directory, incident stream and a local mail catcher",
    )
    up.add_argument(
        "--incidents",
        type=int,
        default=20,
        help="with --demo: how many synthetic incidents to publish (default 20)",
    )
    up.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="with --demo: seconds between incidents (default 1)",
    )
    up.set_defaults(func=cmd_up)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    directory = sub.add_parser("directory", help="the school directory")
    d_sub = directory.add_subparsers(dest="directory_command", required=True)
    imp = d_sub.add_parser("import", help="import any subset of the four CSV files")
    for name in ("schools", "contacts", "pupils", "calendar"):
        imp.add_argument(f"--{name}", type=Path, metavar="FILE")
    _actor_option(imp)
    imp.set_defaults(func=cmd_directory_import)

    calendar = sub.add_parser("calendar", help="school calendars")
    c_sub = calendar.add_subparsers(dest="calendar_command", required=True)
    bank = c_sub.add_parser(
        "bank-holidays", help="load GOV.UK's bank-holidays.json (england-and-wales)"
    )
    bank.add_argument("--file", type=Path, required=True, metavar="FILE")
    _actor_option(bank)
    bank.set_defaults(func=cmd_calendar_bank_holidays)

    pub = sub.add_parser("publish", help="publish incidents from a JSONL file")
    pub.add_argument("file")
    pub.set_defaults(func=cmd_publish)

    review = sub.add_parser("review", help="the review queue")
    r_sub = review.add_subparsers(dest="review_command", required=True)
    lst = r_sub.add_parser("list", help="notifications not yet sent, most urgent first")
    lst.add_argument("--json", action="store_true", help="one JSON object a line")
    show = r_sub.add_parser("show", help="one notification and what the school would read")
    show.add_argument("notification_id")
    show.add_argument("--json", action="store_true")
    approve = r_sub.add_parser("approve", help="release a notification to its school")
    approve.add_argument("notification_id")
    approve.add_argument("--upn", help="the pupil record to send for, when unsure")
    approve.add_argument("--urn", help="the school, when the pupil is on roll at two")
    reject = r_sub.add_parser("reject", help="reject a notification with a reason")
    reject.add_argument("notification_id")
    reject.add_argument("reason_text", nargs="?", metavar="REASON", help="why (or --reason)")
    reject.add_argument("--reason", help="why it must not be sent")
    account = r_sub.add_parser(
        "account", help="the officer's account held for a person: send it, edited, or discard it"
    )
    account.add_argument("notification_id")
    what = account.add_mutually_exclusive_group(required=True)
    what.add_argument("--send", action="store_true", help="send it as it is (nothing identifies)")
    what.add_argument("--send-file", metavar="FILE", help="send the edited text in FILE instead")
    what.add_argument("--discard", action="store_true", help="keep it back (needs --reason)")
    account.add_argument("--reason", help="why it is discarded")
    for action in (approve, reject, account):
        _actor_option(action)
    review.set_defaults(func=cmd_review)

    users = sub.add_parser("users", help="console accounts")
    u_sub = users.add_subparsers(dest="users_command", required=True)
    u_add = u_sub.add_parser("add", help="add a local account, or reset its password and role")
    u_add.add_argument("username")
    u_add.add_argument("--role", choices=("reviewer", "auditor", "admin"), required=True)
    u_add.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    _actor_option(u_add)
    u_add.set_defaults(func=cmd_users_add)

    keys = sub.add_parser("keys", help="the data keys that encrypt personal data at rest")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser(
        "rotate", help="a new data key; re-encrypt everything with it"
    ).set_defaults(func=cmd_keys_rotate)

    dlq = sub.add_parser("dlq", help="the dead-letter topic")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_replay = dlq_sub.add_parser("replay", help="re-publish dead-lettered events after a fix")
    dlq_replay.add_argument("--dry-run", action="store_true", help="list, do not publish")
    dlq_replay.set_defaults(func=cmd_dlq_replay)

    retention = sub.add_parser("retention", help="delete personal content past its period")
    ret_sub = retention.add_subparsers(dest="retention_command", required=True)
    ret_run = ret_sub.add_parser("run", help="purge now (the broker also does this daily)")
    ret_run.add_argument("--days", type=int, help="keep this many days (default: setting)")
    _actor_option(ret_run)
    ret_run.set_defaults(func=cmd_retention_run)

    audit = sub.add_parser("audit", help="for auditors")
    a_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = a_sub.add_parser("verify", help="check the whole chain; exit 0 only if intact")
    verify.add_argument("--json", action="store_true")
    report = a_sub.add_parser("report", help="what was shared, with whom, on whose decision")
    report.add_argument("--school", metavar="URN", help="one school")
    report.add_argument("--incident", metavar="ID", help="one incident")
    report.add_argument("--upn", help="one child")
    report.add_argument("--from", dest="since", metavar="YYYY-MM-DD", help="from this day")
    report.add_argument("--to", dest="until", metavar="YYYY-MM-DD", help="to this day")
    report.add_argument("--format", choices=("text", "csv", "json"), default="text")
    report.add_argument("--json", action="store_true", help="the same as --format json")
    _actor_option(report)
    sar = a_sub.add_parser("subject-access", help="everything held about one child (JSON)")
    sar.add_argument("upn")
    _actor_option(sar)
    sign = a_sub.add_parser("checkpoint", help="sign the current tree head now")
    sign.add_argument("--json", action="store_true")
    prove = a_sub.add_parser("prove", help="an inclusion proof of one row, to hand over")
    prove.add_argument("row", type=int, help="the audit row number (seq)")
    check = a_sub.add_parser("check-proof", help="check a proof from `audit prove` offline")
    check.add_argument("file")
    check.add_argument("--public-key", help="the broker's public key (PEM)")
    searches = a_sub.add_parser(
        "searches", help="reviewers' directory searches with their terms (JSON; audited)"
    )
    searches.add_argument("--notification", metavar="ID", help="one notification's only")
    _actor_option(searches)
    audit.set_defaults(func=cmd_audit)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from broker.logging import configure_logging

    configure_logging("console", "WARNING")
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
