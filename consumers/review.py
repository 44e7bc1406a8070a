"""Review: the policy that decides what waits for a person, and the reviewer's actions.

Every action goes through these functions, whichever door it comes in by (the CLI now, the
console and API later), and each writes its audit row in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from broker.database import utcnow
from broker.settings import Settings
from broker.store import (
    REVIEWABLE_STATUSES,
    UNSENT_STATUSES,
    Incident,
    Notification,
    NotificationStatus,
)
from consumers.notify import build_content, deadline
from schemas.incident import PoliceIncident
from school_directory.store import Pupil


class ReviewError(ValueError):
    """A reviewer's action that cannot be carried out, with the reason in plain words."""


def queue(session: Session) -> list[Notification]:
    """Notifications not yet sent, most urgent first."""
    return list(
        session.execute(
            select(Notification)
            .where(Notification.status.in_([s.value for s in UNSENT_STATUSES]))
            .order_by(Notification.deliver_by, Notification.created_at, Notification.id)
        ).scalars()
    )


def get(session: Session, notification_id: str) -> Notification:
    found = session.get(Notification, notification_id)
    if found is None:
        raise ReviewError(f"no notification {notification_id}")
    return found


def as_row(n: Notification) -> dict[str, Any]:
    """The machine-readable line of ``encompass review list --json`` (SPEC section 7)."""
    return {
        "notification_id": n.id,
        "incident_id": n.incident_id,
        "revision": n.revision,
        "person_id": n.person_id,
        "status": n.status,
        "reason": n.reason,
        "urn": n.urn,
        "upn": n.upn,
        "deliver_by": n.deliver_by.isoformat(),
        "late_at": n.late_at.isoformat() if n.late_at else None,  # set by consumers.escalate
        "is_update": n.is_update,
        "candidates": [
            {k: c[k] for k in ("upn", "urn", "score", "agreed", "disagreed") if k in c}
            for c in n.candidates
        ],
    }


def approve(
    session: Session,
    settings: Settings,
    notification_id: str,
    *,
    actor: str,
    upn: str | None = None,
    urn: str | None = None,
) -> Notification:
    """Release a notification to its school, choosing the pupil record when it is unsure."""
    n = get(session, notification_id)
    if n.status not in {s.value for s in REVIEWABLE_STATUSES}:
        raise ReviewError(f"{n.id} is {n.status}: only notifications waiting for review")
    if upn or urn:
        _choose_pupil(session, settings, n, upn=upn, urn=urn)
    if n.urn is None or n.content is None:
        raise ReviewError(f"{n.id} has no school yet: choose a pupil record with --upn (and --urn)")
    before = n.status
    n.status = NotificationStatus.APPROVED.value
    n.decided_by, n.decided_at = actor, utcnow()
    n.attempts, n.next_attempt_at, n.last_error = 0, None, ""
    record(
        session,
        AuditAction.APPROVED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"from": before, "urn": n.urn, "upn": n.upn},
    )
    return n


def reject(session: Session, notification_id: str, *, actor: str, reason: str) -> Notification:
    if not reason.strip():
        raise ReviewError("a rejection needs a reason")
    n = get(session, notification_id)
    if n.status not in {s.value for s in REVIEWABLE_STATUSES}:
        raise ReviewError(f"{n.id} is {n.status}: only notifications waiting for review")
    n.status = NotificationStatus.REJECTED.value
    n.reason = reason
    n.decided_by, n.decided_at = actor, utcnow()
    record(
        session,
        AuditAction.REJECTED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"reason": reason},
    )
    return n


def _choose_pupil(
    session: Session, settings: Settings, n: Notification, *, upn: str | None, urn: str | None
) -> None:
    query = select(Pupil)
    if upn:
        query = query.where(Pupil.upn == upn)
    if urn:
        query = query.where(Pupil.urn == urn)
    pupils = list(session.execute(query.limit(3)).scalars())
    if not pupils:
        raise ReviewError("no pupil record with that UPN/URN")
    if len(pupils) > 1:
        raise ReviewError("that pupil is on roll at more than one school: give --urn as well")
    pupil = pupils[0]
    clash = session.execute(
        select(Notification.id).where(
            Notification.incident_id == n.incident_id,
            Notification.revision == n.revision,
            Notification.person_id == n.person_id,
            Notification.urn_key == pupil.urn,
            Notification.id != n.id,
        )
    ).first()
    if clash:
        raise ReviewError(f"{clash[0]} already notifies that school about this child")
    incident_row = session.execute(
        select(Incident).where(
            Incident.incident_id == n.incident_id, Incident.revision == n.revision
        )
    ).scalar_one()
    incident = PoliceIncident.model_validate(incident_row.payload)
    child = next(p for p in incident.persons if p.person_id == n.person_id)
    n.upn, n.urn, n.urn_key = pupil.upn, pupil.urn, pupil.urn
    n.deliver_by = deadline(session, settings, pupil.urn, incident.reported_at)
    n.content = build_content(session, settings, n, incident, child, pupil)
