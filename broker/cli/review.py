"""``encompass review``: the review queue for a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from broker.cli import common
from foundations.council_scope import EVERYTHING, Scope, parse_la_codes, scope_for
from foundations.database import transaction
from foundations.settings import Settings

# A review command: the settings, the database, the arguments and who acts.
Command = Callable[[Settings, common.Sessions, argparse.Namespace, str], int]


def register(commands: common.Commands) -> None:
    review = commands.add_parser("review", help="the review queue")
    r_sub = review.add_subparsers(dest="review_command", required=True)
    lst = r_sub.add_parser("list", help="notifications not yet sent, most urgent first")
    lst.add_argument("--json", action="store_true", help="one JSON object a line")
    lst.set_defaults(handler=_handler(queue))
    show_ = r_sub.add_parser("show", help="one notification and what the school would read")
    show_.add_argument("notification_id")
    show_.add_argument("--json", action="store_true")
    show_.set_defaults(handler=_handler(show))
    approve_ = r_sub.add_parser("approve", help="release a notification to its school")
    approve_.add_argument("notification_id")
    approve_.add_argument("--upn", help="the pupil record to send for, when unsure")
    approve_.add_argument("--urn", help="the school, when the pupil is on roll at two")
    approve_.set_defaults(handler=_handler(approve))
    reject_ = r_sub.add_parser("reject", help="reject a notification with a reason")
    reject_.add_argument("notification_id")
    reject_.add_argument("reason_text", nargs="?", metavar="REASON", help="why (or --reason)")
    reject_.add_argument("--reason", help="why it must not be sent")
    reject_.set_defaults(handler=_handler(reject))
    account_ = r_sub.add_parser(
        "account", help="the officer's account held for a person: send it, edited, or discard it"
    )
    account_.add_argument("notification_id")
    what = account_.add_mutually_exclusive_group(required=True)
    what.add_argument("--send", action="store_true", help="send it as it is (nothing identifies)")
    what.add_argument("--send-file", metavar="FILE", help="send the edited text in FILE instead")
    what.add_argument("--discard", action="store_true", help="keep it back (needs --reason)")
    account_.add_argument("--reason", help="why it is discarded")
    account_.set_defaults(handler=_handler(account))
    route_ = r_sub.add_parser(
        "route",
        help="a child on no roll: send to the home council's elective home education (ehe) "
        "or children missing education (cme) officer",
    )
    route_.add_argument("notification_id")
    route_.add_argument("--to", required=True, choices=("ehe", "cme"), help="which officer")
    route_.set_defaults(handler=_handler(route))
    for action in (approve_, reject_, account_, route_):
        common.actor_option(action)
    for command in (lst, show_, approve_, reject_, account_, route_):
        command.add_argument(
            "--la",
            metavar="CODES",
            help="only these member councils' notifications (LA codes, comma separated; "
            "a deployment of several councils, docs/councils.md)",
        )


def _handler(command: Command) -> common.Handler:
    def handler(args: argparse.Namespace) -> int:
        settings = common.settings()
        args.scope = la_scope(settings, getattr(args, "la", None))
        return command(settings, common.sessions(settings), args, common.actor(args))

    return handler


def la_scope(settings: Settings, la: str | None) -> Scope:
    """``--la 850,851``: only those member councils' notifications (the console's rule,
    foundations/council_scope.py); without it, every notification, as before."""
    from foundations.councils import councils_for

    if la is None:
        return EVERYTHING
    try:
        codes = parse_la_codes(la)
    except ValueError as exc:
        raise SystemExit(f"encompass review: --la: {exc}") from None
    councils = councils_for(settings)
    if not councils.scoped:
        raise SystemExit(
            "encompass review: --la: this deployment is one council (ENCOMPASS_COUNCILS_DIR "
            "is not set): every notification is its own"
        )
    strangers = [c for c in codes if c not in councils.members]
    if not codes or strangers:
        raise SystemExit(
            f"encompass review: --la: {', '.join(strangers) or repr(la)} is not a council this "
            f"deployment serves ({', '.join(sorted(councils.members))})"
        )
    return scope_for(councils, codes)


def _elsewhere(session: Session, nid: str, scope: Scope) -> str | None:
    """Why a notification outside ``--la`` is refused, in words (the operator has the
    database: there is nothing to hide from them, unlike a console account)."""
    from foundations.models import Notification

    if scope.everything or "\x00" in nid or len(nid) > 32:
        return None
    n = session.get(Notification, nid)
    if n is None:
        return None
    owner = n.council or "no council (a row from before councils)"
    return f"{nid} belongs to council {owner}, not to --la {scope.describe()}: refused"


def _scope_of(args: argparse.Namespace) -> Scope:
    """``--la``'s scope, set by the handler (every notification when called without it)."""
    found = getattr(args, "scope", EVERYTHING)
    return found if isinstance(found, Scope) else EVERYTHING


def _why(sessions: common.Sessions, args: argparse.Namespace, exc: Exception) -> object:
    """The refusal in words: a notification of another council says so."""
    from consumers import review

    if not isinstance(exc, review.NotFound):
        return exc
    with transaction(sessions) as session:
        return _elsewhere(session, args.notification_id, _scope_of(args)) or exc


def _left(deliver_by: datetime) -> str:
    seconds = int((deliver_by - datetime.now(UTC)).total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    return f"{sign}{hours}h{minutes:02d}m"


def queue(
    settings: Settings, sessions: common.Sessions, args: argparse.Namespace, actor: str
) -> int:
    """``review list``: what waits, most urgent first, and the officers' accounts held."""
    from consumers import held_account, review

    with transaction(sessions) as session:
        rows = [review.as_row(n) for n in review.queue(session, _scope_of(args))]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    with transaction(sessions) as session:
        held = [
            (n.id, n.status, len(held_account.suspects_of(n)))
            for n in review.held_accounts(session, _scope_of(args))
        ]
    if held:
        print("Officers' accounts waiting to be read (review show ID, then review account ID):")
        for nid, status, found in held:
            print(f"  {nid:<24} notification {status:<15} {found} thing(s) found")
        print()
    if not rows:
        print("Nothing waiting: every notification has been sent or closed.")
        return 0
    print(
        f"{'NOTIFICATION':<24} {'STATUS':<15} {'DUE (UTC)':<17} {'LEFT':>8}  "
        f"{'SCHOOL':<8} {'BEST':>5}  INCIDENT/PERSON"
    )
    for r in rows:
        best = r["candidates"][0]["score"] if r["candidates"] else None
        due = datetime.fromisoformat(r["deliver_by"])
        print(
            f"{r['notification_id']:<24} {r['status']:<15} {due:%Y-%m-%d %H:%M} "
            f"{_left(due):>8}  {r['urn'] or '-':<8} "
            f"{'-' if best is None else f'{best:.2f}':>5}  {r['incident_id']}/{r['person_id']}"
        )
    return 0


def show(
    settings: Settings, sessions: common.Sessions, args: argparse.Namespace, actor: str
) -> int:
    """``review show``: the notification, the child as the police recorded them beside each
    candidate (what agrees and what differs), the held account, and the e-mail as the
    school will get it (``consumers.review_view``, as in the console)."""
    from consumers import held_account, review, review_view, routes
    from consumers.residual import highlighted
    from foundations.councils import councils_for

    with transaction(sessions) as session:
        try:
            n = review.get(session, args.notification_id, _scope_of(args))
        except review.ReviewError as exc:
            why = _elsewhere(session, args.notification_id, _scope_of(args)) or exc
            print(f"encompass review show: {why}", file=sys.stderr)
            return 1
        row = review.as_row(n)
        held = n.held_account if held_account.is_held(n) else None
        suspects = held_account.suspects_of(n) if held else []
        incident = review_view.child_as_recorded(session, n)
        compared = review_view.candidates(session, n, incident["child"])
        preview = review_view.preview(session, settings, n)
        marker = routes.marker(councils_for(settings), n)
    if args.json:
        row["preview"] = {"subject": preview.subject, "text": preview.text} if preview else None
        row["child_as_recorded"] = incident["child"]
        row["compared"] = [
            {k: c[k] for k in ("upn", "urn", "name", "date_of_birth", "school", "compared")}
            for c in compared
        ]
        if held:
            row["held_account"] = {
                "text": held.get("text", ""),
                "suspects": [s.as_dict() for s in suspects],
            }
        print(json.dumps(row, indent=2))
        return 0
    for key in (
        "notification_id",
        "incident_id",
        "person_id",
        "status",
        "reason",
        "urn",
        "upn",
        "deliver_by",
    ):
        print(f"{key:>16}: {row[key]}")
    if marker:
        print(f"{'route':>16}: {marker}")
    _print_candidates(incident, compared)
    if held:
        print("\n--- the officer's account, held for a person: [[ ]] marks what may identify ---")
        print(highlighted(str(held.get("text", "")), suspects))
        for s in suspects:
            print(f"  [[{s.text}]]: {s.reason}")
        print(
            "Send it (encompass review account ID --send), edited (--send-file F), "
            "or keep it back (--discard --reason R)."
        )
    if preview:
        print("\n--- what the school will read ---")
        print(f"Subject: {preview.subject}\n\n{preview.text}")
    else:
        print("\n(no school chosen yet: approve with --upn/--urn to choose the pupil record)")
    return 0


VERDICTS = {"same": "same", "close": "CLOSE", "differs": "DIFFERS", "not compared": "-"}


def _print_candidates(incident: dict[str, Any], compared: list[dict[str, Any]]) -> None:
    """Each candidate beside the child as the police recorded them, field by field."""
    child = incident["child"]
    name = " ".join(str(child.get(k) or "") for k in ("given_names", "family_name")).strip()
    print("\n--- the child as the police recorded them ---")
    print(f"  {name or '(no name recorded)'}, born {incident['born'] or '(not recorded)'}")
    if not compared:
        print("  No pupil record came close: search the directory in the console.")
        return
    print("\n--- candidates, best first: police record | pupil record ---")
    for i, c in enumerate(compared, 1):
        print(
            f"  {i}. {c['name'] or '(no pupil record)'}, UPN {c['upn']} at "
            f"{c['school'] or c['urn']} ({c['urn']})  score {c['score']:.2f}"
            f"{'  (chosen)' if c['chosen'] else ''}"
        )
        for f in c["compared"]:
            how = f" ({f['how']})" if f["how"] else ""
            sides = f"{f['police'] or '-':<26} | {f['record'] or '-':<26}"
            if f["field"] == "postcode":  # compared, never shown: the child's address
                sides = f"{'(not shown)':<26}   {'':<26}"
            print(f"       {f['field']:<28} {sides} {VERDICTS[f['verdict']]}{how}")
        if c["differs"]:
            print(f"       differs: {', '.join(c['differs'])}")
        if c.get("note"):
            print(f"       note: {c['note']}")


def approve(
    settings: Settings, sessions: common.Sessions, args: argparse.Namespace, actor: str
) -> int:
    from consumers import review
    from foundations.models import NotificationStatus

    try:
        with transaction(sessions) as session:
            n = review.approve(
                session,
                settings,
                args.notification_id,
                actor=actor,
                upn=args.upn,
                urn=args.urn,
                scope=_scope_of(args),
            )
            if n.status == NotificationStatus.APPROVED:
                print(f"{n.id} approved for school {n.urn}; it will be sent now.")
            else:  # four eyes (consumers.review.second_reviewer_needed)
                print(f"{n.id}: first approval recorded; a second reviewer must approve it.")
    except review.ReviewError as exc:
        print(f"encompass review approve: {_why(sessions, args, exc)}", file=sys.stderr)
        return 1
    return 0


def reject(
    settings: Settings, sessions: common.Sessions, args: argparse.Namespace, actor: str
) -> int:
    from consumers import review

    try:
        with transaction(sessions) as session:
            reason = args.reason or args.reason_text or "no reason given"
            n = review.reject(
                session, args.notification_id, actor=actor, reason=reason, scope=_scope_of(args)
            )
            print(f"{n.id} rejected.")
    except review.ReviewError as exc:
        print(f"encompass review reject: {_why(sessions, args, exc)}", file=sys.stderr)
        return 1
    return 0


def account(
    settings: Settings, sessions: common.Sessions, args: argparse.Namespace, actor: str
) -> int:
    """Send the held officer's account (as read or edited) or discard it."""
    from consumers import held_account, review

    try:
        text = None
        if args.send_file:
            with open(args.send_file, encoding="utf-8") as f:
                text = f.read()
        with transaction(sessions) as session:
            n = review.get(session, args.notification_id, _scope_of(args))
            if args.discard:
                held_account.discard(session, n, actor=actor, reason=args.reason or "")
                print(f"{n.id}: the officer's account was discarded.")
                return 0
            held_account.release(session, settings, n, actor=actor, account=text)
            if n.account_status == "follow_up":
                print(f"{n.id}: the officer's account will follow to the school now.")
            else:
                print(f"{n.id}: the officer's account is now in the notification.")
    except (review.ReviewError, held_account.AccountError, OSError) as exc:
        print(f"encompass review account: {_why(sessions, args, exc)}", file=sys.stderr)
        return 1
    return 0


def route(
    settings: Settings, sessions: common.Sessions, args: argparse.Namespace, actor: str
) -> int:
    """``review route N --to ehe|cme``: a child on no roll, to the home council's officer."""
    from consumers import review
    from foundations.models import NotificationStatus

    try:
        with transaction(sessions) as session:
            n = review.route_to_officer(
                session,
                settings,
                args.notification_id,
                actor=actor,
                to=args.to,
                scope=_scope_of(args),
            )
            if n.status == NotificationStatus.APPROVED:
                print(
                    f"{n.id} routed to the home council's {args.to} officer; it will be sent now."
                )
            else:  # four eyes (consumers.review.second_reviewer_needed)
                print(f"{n.id} routed: first approval recorded; a second reviewer must approve it.")
    except review.ReviewError as exc:
        print(f"encompass review route: {_why(sessions, args, exc)}", file=sys.stderr)
        return 1
    return 0
