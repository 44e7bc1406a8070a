"""``encompass review``: the review queue for a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from consumers import held_account, review
from consumers.render import render_email
from consumers.residual import highlighted
from foundations.database import transaction
from foundations.settings import Settings
from schemas.notification import SchoolNotification

Sessions = sessionmaker[Session]


def _left(deliver_by: datetime) -> str:
    seconds = int((deliver_by - datetime.now(UTC)).total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    return f"{sign}{hours}h{minutes:02d}m"


def list(settings: Settings, sessions: Sessions, args: argparse.Namespace, actor: str) -> int:
    with transaction(sessions) as session:
        rows = [review.as_row(n) for n in review.queue(session)]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    with transaction(sessions) as session:
        held = [
            (n.id, n.status, len(held_account.suspects_of(n)))
            for n in review.held_accounts(session)
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


def show(settings: Settings, sessions: Sessions, args: argparse.Namespace, actor: str) -> int:
    with transaction(sessions) as session:
        try:
            n = review.get(session, args.notification_id)
        except review.ReviewError as exc:
            print(f"encompass review show: {exc}", file=sys.stderr)
            return 1
        row = review.as_row(n)
        content = n.content
        held = n.held_account if held_account.is_held(n) else None
        suspects = held_account.suspects_of(n) if held else []
    preview = render_email(SchoolNotification.model_validate(content)) if content else None
    if args.json:
        row["preview"] = {"subject": preview.subject, "text": preview.text} if preview else None
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
    print("      candidates:")
    for c in row["candidates"] or []:
        print(
            f"                  upn {c['upn']} at {c['urn']}  score {c['score']:.2f}  "
            f"agreed: {', '.join(c.get('agreed', [])) or '-'}"
        )
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


def approve(settings: Settings, sessions: Sessions, args: argparse.Namespace, actor: str) -> int:
    try:
        with transaction(sessions) as session:
            n = review.approve(
                session, settings, args.notification_id, actor=actor, upn=args.upn, urn=args.urn
            )
            if n.status == "approved":
                print(f"{n.id} approved for school {n.urn}; it will be sent now.")
            else:  # four eyes (consumers.review.second_reviewer_needed)
                print(f"{n.id}: first approval recorded; a second reviewer must approve it.")
    except review.ReviewError as exc:
        print(f"encompass review approve: {exc}", file=sys.stderr)
        return 1
    return 0


def reject(settings: Settings, sessions: Sessions, args: argparse.Namespace, actor: str) -> int:
    try:
        with transaction(sessions) as session:
            reason = args.reason or args.reason_text or "no reason given"
            n = review.reject(session, args.notification_id, actor=actor, reason=reason)
            print(f"{n.id} rejected.")
    except review.ReviewError as exc:
        print(f"encompass review reject: {exc}", file=sys.stderr)
        return 1
    return 0


def account(settings: Settings, sessions: Sessions, args: argparse.Namespace, actor: str) -> int:
    """Send the held officer's account (as read or edited) or discard it."""
    try:
        text = None
        if args.send_file:
            with open(args.send_file, encoding="utf-8") as f:
                text = f.read()
        with transaction(sessions) as session:
            n = review.get(session, args.notification_id)
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
        print(f"encompass review account: {exc}", file=sys.stderr)
        return 1
    return 0
