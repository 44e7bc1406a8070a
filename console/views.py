"""What the console shows of a notification: rows for the queue and the sent list, the
incident as First Response may see it, the candidates, and the exact e-mail preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consumers import held_account, review
from consumers.render import london_when, render_email
from consumers.wording import role_words, step_words
from foundations.models import (
    REVIEWABLE_STATUSES,
    Bounce,
    BounceKind,
    EscalationStep,
    Incident,
    Notification,
    NotificationStatus,
    Pupil,
    School,
)
from foundations.settings import Settings
from schemas.notification import SchoolNotification

STATUS_LABELS = {
    "pending_review": "Waiting for review",
    "not_found": "Not found",
    "approved": "Approved",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "rejected": "Rejected",
    "superseded": "Superseded",
    "recalled": "Recalled",
    "bounced": "Bounced",
}


def time_left(deliver_by: datetime, now: datetime) -> str:
    seconds = int((deliver_by - now).total_seconds())
    late, seconds = seconds < 0, abs(seconds)
    hours, minutes = divmod(seconds // 60, 60)
    text = f"{hours}h {minutes:02d}m" if hours < 48 else f"{hours // 24} days"
    return f"{text} late" if late else text


def school_names(session: Session, urns: set[str]) -> dict[str, School]:
    if not urns:
        return {}
    found = session.execute(select(School).where(School.urn.in_(urns))).scalars()
    return {s.urn: s for s in found}


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


def _incident(session: Session, n: Notification) -> dict[str, Any]:
    row = session.execute(
        select(Incident).where(
            Incident.incident_id == n.incident_id, Incident.revision == n.revision
        )
    ).scalar_one_or_none()
    payload = row.payload if row else {}
    child: dict[str, Any] = next(
        (p for p in payload.get("persons", []) if p.get("person_id") == n.person_id), {}
    )
    # First Response sees the child as police recorded them, and the incident's facts;
    # adults' details stay behind even here.
    return {
        "incident_id": n.incident_id,
        "revision": n.revision,
        "classification": payload.get("classification", ""),
        "dash_risk": payload.get("dash_risk", ""),
        "occurred_at": london_when(datetime.fromisoformat(payload["occurred_at"]))
        if payload.get("occurred_at")
        else "",
        "child": {
            k: child.get(k)
            for k in (
                "given_names",
                "family_name",
                "known_as",
                "date_of_birth",
                "gender",
                "present",
                "witnessed",
                "injured",
                "school_hint",
            )
        },
    }


def candidates(session: Session, n: Notification) -> list[dict[str, Any]]:
    upns = {str(c.get("upn")) for c in n.candidates}
    pupils = {
        (p.upn, p.urn): p
        for p in session.execute(select(Pupil).where(Pupil.upn.in_(upns))).scalars()
    }
    schools = school_names(session, {str(c.get("urn")) for c in n.candidates})
    out = []
    for c in n.candidates:
        pupil = pupils.get((str(c.get("upn")), str(c.get("urn"))))
        school = schools.get(str(c.get("urn")))
        out.append(
            {
                **c,
                "name": f"{pupil.given_names} {pupil.family_name}" if pupil else "",
                "date_of_birth": pupil.date_of_birth.isoformat() if pupil else "",
                "school": school.name if school else "",
                "chosen": c.get("upn") == n.upn and c.get("urn") == n.urn,
            }
        )
    return out


def detail(session: Session, settings: Settings, n: Notification, now: datetime) -> dict[str, Any]:
    preview = render_email(SchoolNotification.model_validate(n.content)) if n.content else None
    school = school_names(session, {n.urn}).get(n.urn or "") if n.urn else None
    return {
        "n": n,
        "status_label": STATUS_LABELS.get(n.status, n.status),
        "deliver_by": london_when(n.deliver_by),
        "left": time_left(n.deliver_by, now),
        "school": school.name if school else "",
        "incident": _incident(session, n),
        "candidates": candidates(session, n),
        "preview": preview,
        "account": (n.content or {}).get("account", ""),
        "claimed_by": review.claim_holder(n, now),
        "reviewable": n.status in {s.value for s in REVIEWABLE_STATUSES},
        "four_eyes": review.second_reviewer_needed(session, settings, n),
        "held": held_view(n),
        "bounces": bounce_rows(session, n.id),
    }


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


def sent_rows(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    notes = list(
        session.execute(
            select(Notification)
            .where(
                Notification.status.in_(
                    [
                        NotificationStatus.SENT,
                        NotificationStatus.RECALLED,
                        NotificationStatus.BOUNCED,
                    ]
                )
            )
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
    bounced: dict[str, list[str]] = {}
    if notes:
        for nid, role in session.execute(
            select(Bounce.notification_id, Bounce.role)
            .where(
                Bounce.notification_id.in_([n.id for n in notes]),
                Bounce.kind == BounceKind.PERMANENT,
            )
            .order_by(Bounce.id)
        ).all():
            bounced.setdefault(nid, []).append(role_words(role))
    return [
        {
            "id": n.id,
            "bounced": list(dict.fromkeys(bounced.get(n.id, []))),
            "undelivered": n.status == NotificationStatus.BOUNCED,
            "school": schools[n.urn].name if n.urn in schools else n.urn,
            "sent_at": london_when(n.sent_at) if n.sent_at else "",
            "acknowledged_at": london_when(n.acknowledged_at) if n.acknowledged_at else "",
            "reminded": [s.step for s in steps.get(n.id, []) if s.role in ("dsl", "deputy_dsl")],
            "escalated": [s.step for s in steps.get(n.id, []) if s.role == "first_response"],
            "decided_by": n.decided_by or "",
            "recalled": n.status == NotificationStatus.RECALLED,
            "retraction": next((s.status for s in steps.get(n.id, []) if s.step == "recall"), None),
        }
        for n in notes
    ]
