"""Reports for auditors: what was shared about whom, with whom, when and on whose decision;
and a subject access export of everything held about one child."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from foundations.clock import LONDON, utcnow
from foundations.council_scope import EVERYTHING, Scope
from foundations.models import AuditEvent, Incident, Notification, Pupil, School

COLUMNS = (
    "notification_id",
    "incident_id",
    "revision",
    "person_id",
    "school_urn",
    "school_name",
    "upn",
    "status",
    "deliver_by",
    "approved_by",
    "approved_at",
    "sent_at",
    "late_by_minutes",
    "recipient",
    "acknowledged_at",
    "content_sha256",
    "bounces",
)


@dataclass(frozen=True)
class ReportQuery:
    urn: str | None = None
    incident_id: str | None = None
    upn: str | None = None
    since: date | None = None  # inclusive, Europe/London dates
    until: date | None = None  # inclusive

    def describe(self) -> dict[str, str | None]:
        return {
            "urn": self.urn,
            "incident_id": self.incident_id,
            "upn": self.upn,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat() if self.until else None,
        }


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), LONDON)


def notification_rows(
    session: Session, query: ReportQuery, now: datetime | None = None, scope: Scope = EVERYTHING
) -> list[dict[str, Any]]:
    """One row per notification in scope, with the decision and delivery facts from the
    trail. Notifications are selected by when they were created (or sent), of the councils
    in ``scope`` (an auditor's, foundations/council_scope.py). A notification sent after
    its ``deliver_by``, or still unsent past it, carries ``late_by_minutes``."""
    now = now or utcnow()
    q = (
        select(Notification)
        .where(scope.condition())
        .order_by(Notification.created_at, Notification.id)
    )
    if query.urn:
        q = q.where(Notification.urn == query.urn)
    if query.incident_id:
        q = q.where(Notification.incident_id == query.incident_id)
    if query.upn:
        q = q.where(Notification.upn == query.upn)
    if query.since:
        start = _london_midnight(query.since)
        q = q.where(or_(Notification.created_at >= start, Notification.sent_at >= start))
    if query.until:
        end = _london_midnight(date.fromordinal(query.until.toordinal() + 1))
        q = q.where(Notification.created_at < end)
    notes = list(session.execute(q).scalars())
    ids = [n.id for n in notes]
    approvals: dict[str, tuple[str, datetime]] = {}
    acks: dict[str, datetime] = {}
    bounces: dict[str, list[str]] = {}
    if ids:
        for nid, action, actor, at, details in session.execute(
            select(
                AuditEvent.notification_id,
                AuditEvent.action,
                AuditEvent.actor,
                AuditEvent.at,
                AuditEvent.details,
            )
            .where(AuditEvent.notification_id.in_(ids), AuditEvent.action.in_(_FROM_THE_TRAIL))
            .order_by(AuditEvent.seq)
        ).all():
            if action == "approved" and nid:
                approvals[nid] = (actor, at)
            elif action == "acknowledged" and nid:
                acks.setdefault(nid, at)
            elif nid:
                bounces.setdefault(nid, []).append(_bounce(action, at, details or {}))
    names = dict(session.execute(select(School.urn, School.name)).all()) if notes else {}
    rows = []
    for n in notes:
        approved = approvals.get(n.id)
        late = n.late_by(now)
        rows.append(
            {
                "notification_id": n.id,
                "incident_id": n.incident_id,
                "revision": n.revision,
                "person_id": n.person_id,
                "school_urn": n.urn,
                "school_name": names.get(n.urn or ""),
                "upn": n.upn,
                "status": n.status,
                "deliver_by": n.deliver_by.isoformat(),
                "approved_by": approved[0] if approved else None,
                "approved_at": approved[1].isoformat() if approved else None,
                "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                "late_by_minutes": int(late.total_seconds() // 60) if late else None,
                "recipient": n.recipient,
                "acknowledged_at": acks[n.id].isoformat() if n.id in acks else None,
                "content_sha256": n.content_sha256,
                "bounces": "; ".join(bounces[n.id]) if n.id in bounces else None,
            }
        )
    return rows


# What the report reads of the trail: decisions, acknowledgements and bounces.
_FROM_THE_TRAIL = ("approved", "acknowledged", "bounced", "delivery_delayed")


def _bounce(action: str, at: datetime, details: dict[str, Any]) -> str:
    """``bounced 5.1.1 from dsl@school.example (dsl) at ...; sent again to deputy_dsl``."""
    kind = "bounced" if action == "bounced" else "delayed"
    what = f"{kind} {details.get('status') or '-'} from {details.get('to')} ({details.get('role')})"
    if details.get("step"):
        what += f" for the {details['step']} e-mail"
    what += f" at {at.isoformat()}"
    if details.get("sent_again_to"):
        what += f", sent again to {details['sent_again_to']}"
    return what


def as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _late(row: dict[str, Any]) -> str:
    minutes = row.get("late_by_minutes")
    if minutes is None:
        return ""
    hours, rest = divmod(minutes, 60)
    span = f"{hours} h {rest} min" if hours else f"{rest} min"
    return f" (LATE: {span} after the deadline)" if row["sent_at"] else f" (LATE: {span} overdue)"


def as_text(rows: list[dict[str, Any]], query: ReportQuery) -> str:
    scope = ", ".join(f"{k} {v}" for k, v in query.describe().items() if v) or "everything"
    lines = [f"Notifications ({len(rows)}) for {scope}:"]
    for r in rows:
        lines.append(
            f"  {r['notification_id']}  incident {r['incident_id']} r{r['revision']}  "
            f"school {r['school_urn'] or '-'} {r['school_name'] or ''}".rstrip()
        )
        lines.append(
            f"      status {r['status']}; approved by {r['approved_by'] or '-'} at "
            f"{r['approved_at'] or '-'}; sent {r['sent_at'] or '-'}{_late(r)} to "
            f"{r['recipient'] or '-'}; acknowledged {r['acknowledged_at'] or '-'}; "
            f"sha256 {r['content_sha256'] or '-'}"
        )
        if r.get("bounces"):
            lines.append(f"      BOUNCES: {r['bounces']}")
    return "\n".join(lines)


def subject_access(session: Session, upn: str) -> dict[str, Any]:
    """Everything held about one child, by UPN: pupil records, the notifications, what
    each school was sent, the incidents' records of the child and the audit rows."""
    pupils = session.execute(select(Pupil).where(Pupil.upn == upn)).scalars().all()
    notes = (
        session.execute(
            select(Notification).where(Notification.upn == upn).order_by(Notification.created_at)
        )
        .scalars()
        .all()
    )
    incidents = []
    for incident_id, revision, person_id in {
        (n.incident_id, n.revision, n.person_id) for n in notes
    }:
        row = session.execute(
            select(Incident).where(
                Incident.incident_id == incident_id, Incident.revision == revision
            )
        ).scalar_one()
        persons = row.payload.get("persons", [])
        child = next((p for p in persons if p.get("person_id") == person_id), None)
        incidents.append(
            {
                "incident_id": incident_id,
                "revision": revision,
                "occurred_at": row.payload.get("occurred_at"),
                "the_child_as_recorded_by_police": child,
            }
        )
    ids = [n.id for n in notes]
    trail = (
        session.execute(
            select(AuditEvent).where(AuditEvent.notification_id.in_(ids)).order_by(AuditEvent.seq)
        )
        .scalars()
        .all()
        if ids
        else []
    )
    return {
        "upn": upn,
        "pupil_records": [
            {
                "urn": p.urn,
                "given_names": p.given_names,
                "family_name": p.family_name,
                "preferred_name": p.preferred_name,
                "date_of_birth": p.date_of_birth.isoformat(),
                "gender": p.gender,
                "postcode": p.postcode,
                "on_roll_from": p.on_roll_from.isoformat() if p.on_roll_from else None,
                "on_roll_until": p.on_roll_until.isoformat() if p.on_roll_until else None,
            }
            for p in pupils
        ],
        "notifications": [
            {
                "notification_id": n.id,
                "incident_id": n.incident_id,
                "school_urn": n.urn,
                "status": n.status,
                "sent_at": n.sent_at.isoformat() if n.sent_at else None,
                "what_the_school_was_sent": n.content,
            }
            for n in notes
        ],
        "incidents": sorted(incidents, key=lambda i: (i["incident_id"], i["revision"])),
        "audit_trail": [row.as_message() for row in trail],
    }
