"""What the console shows of a notification: rows for the queue and the sent list, and the
notification page (its incident, candidates and e-mail preview from
``consumers.review_view``, the same as ``encompass review show``). Codes are said in words
(``consumers.wording``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers import held_account, review, review_view, routes
from consumers.render import london_when
from consumers.review_view import school_names
from consumers.wording import (
    STATUS_WORDS,
    actor_words,
    role_words,
    status_words,
    step_status_words,
    step_words,
)
from foundations.council_scope import Scope
from foundations.councils import councils_for
from foundations.models import (
    REVIEWABLE_STATUSES,
    Bounce,
    BounceKind,
    EscalationStep,
    Notification,
    NotificationRoute,
    NotificationStatus,
)
from foundations.settings import Settings

# The queue's labels: the statuses in words (consumers.wording), one place for both.
STATUS_LABELS = STATUS_WORDS


def time_left(deliver_by: datetime, now: datetime) -> str:
    seconds = int((deliver_by - now).total_seconds())
    late, seconds = seconds < 0, abs(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    text = f"{hours}h {minutes:02d}m" if hours < 48 else f"{hours // 24} days"
    return f"{text} late" if late else text


def held_view(n: Notification) -> dict[str, Any] | None:
    """The held account as parts, each suspect span with its reason, for highlighting."""
    if not n.held_account:
        return None
    text = str(n.held_account.get("text") or "")
    parts: list[dict[str, str | None]] = []
    at = 0
    for s in held_account.suspects_of(n):
        if s.start > at:
            parts.append({"text": text[at : s.start], "reason": None})
        parts.append({"text": text[s.start : s.end], "reason": s.reason})
        at = s.end
    parts.append({"text": text[at:], "reason": None})
    return {
        "status": n.account_status,
        "held": held_account.is_held(n),
        "text": text,
        "parts": parts,
        "found": len(held_account.suspects_of(n)),
        "voice_of_child": n.held_account.get("voice_of_child"),
        "follow_up": n.held_account.get("follow_up"),
        "releasable": n.status != NotificationStatus.SENDING,
    }


def detail(session: Session, settings: Settings, n: Notification, now: datetime) -> dict[str, Any]:
    """The notification page: the child beside each candidate, the e-mail as the school
    will get it (``consumers.review_view``), and once sent, what happened instead of the
    time left."""
    school = school_names(session, {n.urn}).get(n.urn or "") if n.urn else None
    incident = review_view.child_as_recorded(session, n)
    sent = review_view.outcome(session, n, now)
    return {
        "n": n,
        "status_label": status_words(n.status),
        "deliver_by": london_when(n.deliver_by),
        "left": "" if n.sent_at else time_left(n.deliver_by, now),
        "late": review_view.lateness(n, now),
        "sent": sent,
        "school": school.name if school else "",
        "incident": incident,
        "candidates": review_view.candidates(session, n, incident["child"]),
        "preview": review_view.preview(session, settings, n),
        "account": (n.content or {}).get("account", ""),
        "claimed_by": actor_words(review.claim_holder(n, now)),
        "reviewable": n.status in {s.value for s in REVIEWABLE_STATUSES},
        "four_eyes": review.second_reviewer_needed(session, settings, n),
        "held": held_view(n),
        "bounces": bounce_rows(session, n.id),
        # A school beyond the deployment's councils, or an officer (consumers/routes.py).
        "route_marker": routes.marker(councils_for(settings), n),
        "can_route": n.route != NotificationRoute.NEIGHBOUR_FIRST_RESPONSE,
    }


def bounced_roles(session: Session, ids: list[str]) -> dict[str, list[str]]:
    """For each notification, whose addresses bounced permanently, in words, each once."""
    found: dict[str, list[str]] = {}
    if ids:
        for nid, role in session.execute(
            select(Bounce.notification_id, Bounce.role)
            .where(Bounce.notification_id.in_(ids), Bounce.kind == BounceKind.PERMANENT)
            .order_by(Bounce.id)
        ).all():
            words = found.setdefault(nid, [])
            if role_words(role) not in words:
                words.append(role_words(role))
    return found


def bounce_rows(session: Session, notification_id: str) -> list[dict[str, Any]]:
    """What came back of this notification's e-mails (consumers/bounces.py), oldest first."""
    return [
        {
            "kind": "Bounced" if b.kind == BounceKind.PERMANENT else "Delayed",
            "permanent": b.kind == BounceKind.PERMANENT,
            "what": step_words(b.step) if b.step else "The notification",
            "to": f"{b.recipient} ({role_words(b.role)})",
            "status": b.status,
            "diagnostic": b.diagnostic,
            "at": london_when(b.received_at),
        }
        for b in session.execute(
            select(Bounce).where(Bounce.notification_id == notification_id).order_by(Bounce.id)
        ).scalars()
    ]


SENT_OR_AFTER = (NotificationStatus.SENT, NotificationStatus.RECALLED, NotificationStatus.BOUNCED)
SCHOOL = ("dsl", "deputy_dsl")  # reminders go to the school's DSL and deputy
DUTY = "first_response"  # alerts go to First Response's duty inbox


def sent_rows(
    session: Session, now: datetime, scope: Scope, limit: int = 200
) -> list[dict[str, Any]]:
    """Sent (and recalled) notifications of the reviewer's councils, latest first: when,
    whether late, acknowledged, reminders and alerts in words, and on whose decision."""
    notes = list(
        session.execute(
            select(Notification)
            .where(Notification.status.in_(SENT_OR_AFTER), scope.condition())
            .order_by(Notification.sent_at.desc())
            .limit(limit)
        ).scalars()
    )
    steps: dict[str, list[EscalationStep]] = {}
    if notes:
        for step in session.execute(
            select(EscalationStep).where(EscalationStep.notification_id.in_([n.id for n in notes]))
        ).scalars():
            steps.setdefault(step.notification_id, []).append(step)
    schools = school_names(session, {n.urn for n in notes if n.urn})
    decided = review_view.deciders(session, [n.id for n in notes])
    bounced = bounced_roles(session, [n.id for n in notes])
    return [
        {
            "id": n.id,
            "bounced": bounced.get(n.id, []),
            "undelivered": n.status == NotificationStatus.BOUNCED,
            "school": schools[n.urn].name if n.urn in schools else n.urn,
            "sent_at": london_when(n.sent_at) if n.sent_at else "",
            "late": review_view.lateness(n, now),
            "acknowledged_at": london_when(n.acknowledged_at) if n.acknowledged_at else "",
            "reminded": [step_words(s.step) for s in steps.get(n.id, []) if s.role in SCHOOL],
            "escalated": [step_words(s.step) for s in steps.get(n.id, []) if s.role == DUTY],
            "decided_by": actor_words(decided.get(n.id) or n.decided_by),
            "recalled": n.status == NotificationStatus.RECALLED,
            "retraction": step_status_words(
                next((s.status for s in steps.get(n.id, []) if s.step == "recall"), None)
            ),
        }
        for n in notes
    ]
