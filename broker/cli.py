"""``encompass``: the command line (SPEC section 7)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from foundations.database import engine_for, session_factory, transaction, upgrade
from foundations.settings import Settings
from foundations.startup import StartupRefused, restrict_data_files


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SystemExit(f"encompass: bad setting {where}: {first['msg']}") from exc


def _sessions(settings: Settings) -> Any:
    """Every command that opens the database: migrated, and refused unless the data key is
    this database's (foundations/identity.py)."""
    url = settings.resolved_database_url
    upgrade(url)
    sessions = session_factory(engine_for(settings))
    restrict_data_files(settings)
    return sessions


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
    from foundations.database import transaction
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


def cmd_users_list(args: argparse.Namespace) -> int:
    """Every console account: role, on or off, second factor, open sessions."""
    import json

    from console.accounts import list_users
    from foundations.clock import utcnow

    with transaction(_sessions(_settings())) as session:
        users = list_users(session, now=utcnow())
    if args.json:
        for u in users:
            print(json.dumps(u.__dict__))
        return 0
    print(f"{'USERNAME':<32} {'ROLE':<9} {'STATE':<9} {'KIND':<6} {'2-STEP':<14} SESSIONS")
    for u in users:
        second = f"on ({u.recovery_codes_left} codes)" if u.mfa else "off"
        state = "active" if u.active else "disabled"
        print(f"{u.username:<32} {u.role:<9} {state:<9} {u.kind:<6} {second:<14} "
              f"{u.open_sessions}")  # fmt: skip
    return 0


def cmd_users_change(args: argparse.Namespace) -> int:
    """disable, enable, signout-all, reset-mfa: one account, audited; sessions end."""
    from console import mfa
    from console.accounts import AccountError, set_active, sign_out_everywhere
    from foundations.clock import utcnow

    name, actor, verb = args.username, _actor(args), args.users_command
    try:
        with transaction(_sessions(_settings())) as session:
            if verb in ("disable", "enable"):
                set_active(session, name, verb == "enable", actor=actor)
                said = f"{name} is {verb}d" + ("; its sessions have ended." if verb == "disable"
                                              else ".")  # fmt: skip
            elif verb == "signout-all":
                count = sign_out_everywhere(session, name, actor=actor, now=utcnow())
                said = f"ended {count} session(s) of {name}."
            else:
                try:
                    mfa.reset(session, name, actor=actor, now=utcnow())
                except LookupError:
                    raise AccountError(f"no account {name!r}") from None
                said = (f"{name}'s second factor is reset; its sessions have ended. It must "
                        "set up a new one at its next sign-in.")  # fmt: skip
    except AccountError as exc:
        print(f"encompass users {verb}: {exc}", file=sys.stderr)
        return 2
    print(said)
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    """A new random data key: printed as an ENCOMPASS_DATA_KEY value, or written to a new
    key file (0600). Neither touches a database."""
    from foundations.crypto import KeyError_, new_key_file, new_key_spec

    if args.file is None:
        print(new_key_spec(args.id))
        return 0
    try:
        new_key_file(Path(args.file), args.id)
    except (FileExistsError, KeyError_) as exc:
        print(f"encompass keys new: {exc}", file=sys.stderr)
        return 2
    print(f"wrote a new data key ({args.id}) to {args.file} (mode 0600)")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from foundations.crypto import add_key_to_file
    from foundations.database import keyring_for, make_engine
    from foundations.keys import reencrypt

    settings = _settings()
    upgrade(settings.resolved_database_url)
    # The keys in hand must be this database's before one is added (a key file made here
    # by mistake would otherwise start a second keyring).
    engine_for(settings).dispose()
    if settings.data_key is None:
        new_id = add_key_to_file(settings.data_key_path)
        print(f"added data key {new_id} to {settings.data_key_path}")
    keyring = keyring_for(settings)
    engine = make_engine(settings.resolved_database_url, keyring)
    from foundations.models import metadata

    done = reencrypt(engine, keyring, metadata)
    engine.dispose()
    print(
        f"re-encrypted {done.values} value(s) in {done.rows} row(s) with key "
        f"{keyring.current} ({done.plaintext_encrypted} were not yet encrypted), each "
        f"bound to its table, column and row ({done.unbound_bound} were bound to none)"
    )
    if done.plaintext_refused:
        print("every value is encrypted: a value in clear is refused from now on")
    else:
        print("values in clear were written meanwhile: run `encompass keys rotate` again")
    if done.unbound_refused:
        print(
            "every value is bound to its table, column and row: a value that is not (enc1) "
            "is refused from now on"
        )
    else:
        print("values bound to no row were written meanwhile: run `encompass keys rotate` again")
    return 0


def cmd_dlq_replay(args: argparse.Namespace) -> int:
    from broker.dlq import replay

    return asyncio.run(replay(_settings(), dry_run=args.dry_run))


def cmd_retention_run(args: argparse.Namespace) -> int:
    from consumers.retention import purge
    from foundations.clock import utcnow

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
    u_list = u_sub.add_parser("list", help="every account: role, state, second factor, sessions")
    u_list.add_argument("--json", action="store_true", help="one JSON object a line")
    u_list.set_defaults(func=cmd_users_list)
    for verb, said in (
        ("disable", "refuse sign-in to an account and end its sessions"),
        ("enable", "let a disabled account sign in again"),
        ("signout-all", "end every session of an account, on every device"),
        ("reset-mfa", "forget an account's authenticator and recovery codes (a lost phone)"),
    ):
        u_verb = u_sub.add_parser(verb, help=said)
        u_verb.add_argument("username")
        _actor_option(u_verb)
        u_verb.set_defaults(func=cmd_users_change)

    keys = sub.add_parser("keys", help="the data keys that encrypt personal data at rest")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser(
        "rotate", help="a new data key; re-encrypt everything with it"
    ).set_defaults(func=cmd_keys_rotate)
    new_key = keys_sub.add_parser(
        "new", help="print a new ENCOMPASS_DATA_KEY value (or write a new key file)"
    )
    new_key.add_argument("--id", default="k1", help="the key's id (default k1)")
    new_key.add_argument("--file", metavar="PATH", help="write a new key file (0600) instead")
    new_key.set_defaults(func=cmd_keys_new)

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
    from foundations.logging import configure_logging

    configure_logging("console", "WARNING")
    # What this process creates (database, WAL, keys, demo mail) is readable by its owner
    # only; foundations/startup.py tightens what was made before.
    os.umask(0o077)
    try:
        result: int = args.func(args)
    except StartupRefused as refused:
        print(f"encompass: {refused}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
