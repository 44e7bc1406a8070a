"""Review: the policy that decides what waits for a person, and the reviewer's actions.

Every action goes through these functions, whichever door it comes in by (the CLI, the
console's pages and its API), and each writes its audit row in the same transaction. The
rules a door must not bypass live here: a claim held by another reviewer blocks the action,
and four eyes (``second_reviewer_needed``) decides when one approval is not enough. What a
reviewer looks up and looks at (directory searches, views) is in ``consumers.review_lookups``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from consumers import held_account, routes
from consumers.minimise import minimise
from consumers.notify import build_content, deadline, first_response
from consumers.wording import actor_words, status_words
from foundations.clock import utcnow
from foundations.council_scope import EVERYTHING, Scope
from foundations.councils import councils_for
from foundations.models import (
    REVIEWABLE_STATUSES,
    UNSENT_STATUSES,
    AccountStatus,
    EscalationStep,
    Incident,
    Notification,
    NotificationEdit,
    NotificationRoute,
    NotificationStatus,
    Pupil,
)
from foundations.settings import Settings
from schemas.incident import PoliceIncident


class ReviewError(ValueError):
    """A reviewer's action that cannot be carried out, with the reason in plain words."""


class NotFound(ReviewError):
    """There is no notification with that id (the console answers 404)."""


def queue(session: Session, scope: Scope = EVERYTHING) -> list[Notification]:
    """Notifications not yet sent, most urgent first (of the councils in ``scope``)."""
    return list(
        session.execute(
            select(Notification)
            .where(Notification.status.in_([s.value for s in UNSENT_STATUSES]), scope.condition())
            .order_by(Notification.deliver_by, Notification.created_at, Notification.id)
        ).scalars()
    )


def held_accounts(session: Session, scope: Scope = EVERYTHING) -> list[Notification]:
    """Notifications whose officer's account waits for a person, most urgent first."""
    return list(
        session.execute(
            select(Notification)
            .where(Notification.account_status == AccountStatus.HELD, scope.condition())
            .order_by(Notification.deliver_by, Notification.id)
        ).scalars()
    )


def checked_text(text: str, what: str) -> str:
    """Text from a person, refused if it carries a NUL (no database column can hold one)."""
    if "\x00" in text:
        raise ReviewError(f"the {what} contains a character that cannot be stored")
    return text


def get(session: Session, notification_id: str, scope: Scope = EVERYTHING) -> Notification:
    """The notification, if it is in ``scope`` (foundations/council_scope.py): another
    council's is not found, like one that does not exist, so that nothing leaks."""
    if "\x00" in notification_id or len(notification_id) > 32:
        raise NotFound(f"no notification {notification_id!r}")
    found = session.get(Notification, notification_id)
    if found is None or not scope.allows(found.council):
        raise NotFound(f"no notification {notification_id}")
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
        "account_held": n.account_status == AccountStatus.HELD,
        "council": n.council,  # the owning council's LA code (None: a single-council deployment)
        "route": n.route,  # school | neighbour_first_response | officer_ehe | officer_cme
        "route_council": n.route_council,
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
    scope: Scope = EVERYTHING,
) -> Notification:
    """Release a notification to its school, choosing the pupil record when it is unsure."""
    n = _reviewable(session, notification_id, actor, scope)
    if upn or urn:
        _choose_pupil(session, settings, n, upn=upn, urn=urn)
    if n.content is None or (n.urn is None and routes.is_school_route(n)):
        raise ReviewError(f"{n.id} has no school yet: choose a pupil record with --upn (and --urn)")
    if second_reviewer_needed(session, settings, n):
        if n.first_approved_by is None:
            n.first_approved_by = actor
            record(
                session,
                AuditAction.FIRST_APPROVAL,
                actor=actor,
                incident_id=n.incident_id,
                notification_id=n.id,
                details={"urn": n.urn, "upn": n.upn, "why": _four_eyes_reason(session, n)},
            )
            return n
        if n.first_approved_by == actor:
            raise ReviewError(f"{n.id} needs a second reviewer: {actor} gave the first approval")
    before = n.status
    n.status = NotificationStatus.APPROVED
    n.decided_by, n.decided_at = actor, utcnow()
    n.attempts, n.next_attempt_at, n.last_error = 0, None, ""
    record(
        session,
        AuditAction.APPROVED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={
            "from": before,
            "urn": n.urn,
            "upn": n.upn,
            **({"first_approved_by": n.first_approved_by} if n.first_approved_by else {}),
        },
    )
    return n


def reject(
    session: Session, notification_id: str, *, actor: str, reason: str, scope: Scope = EVERYTHING
) -> Notification:
    if not checked_text(reason, "reason").strip():
        raise ReviewError("a rejection needs a reason")
    n = _reviewable(session, notification_id, actor, scope)
    n.status = NotificationStatus.REJECTED
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
    checked_text(f"{upn or ''}{urn or ''}", "pupil record")
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
    if not routes.is_school_route(n) and n.route != NotificationRoute.NEIGHBOUR_FIRST_RESPONSE:
        raise ReviewError(f"{n.id} is routed to an officer: it has no school to choose")
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
    # A person's word on the account (an edit, a released account) survives a re-match.
    decided = n.edited_by is not None or n.account_status == AccountStatus.RELEASED
    edited = n.content.get("account") if n.content and decided else None
    account_status, held = n.account_status, n.held_account
    n.content = build_content(session, settings, n, incident, child, pupil)
    routes.route_school(session, settings, n, incident, child)  # the new school's council
    if edited is not None and n.content is not None:
        n.content = {**n.content, "account": edited}
        n.account_status, n.held_account = account_status, held
    n.first_approved_by = None  # four eyes: the second reviewer sees the new school


# --- the console's rules: claims, four eyes, edits, bulk approval, search ---------------------


def _reviewable(
    session: Session, notification_id: str, actor: str, scope: Scope = EVERYTHING
) -> Notification:
    n = get(session, notification_id, scope)
    if n.status not in {s.value for s in REVIEWABLE_STATUSES}:
        raise ReviewError(
            f"{n.id} is no longer waiting for review ({status_words(n.status).lower()})"
        )
    holder = claim_holder(n, utcnow())
    if holder is not None and holder != actor:
        raise ReviewError(f"{n.id} is being worked on by {actor_words(holder)}")
    return n


def claim_holder(n: Notification, now: datetime) -> str | None:
    """Who holds an unexpired claim on this notification, if anyone."""
    if n.review_claimed_by and n.review_claimed_until and n.review_claimed_until > now:
        return n.review_claimed_by
    return None


def claim(
    session: Session,
    settings: Settings,
    notification_id: str,
    *,
    actor: str,
    scope: Scope = EVERYTHING,
) -> Notification:
    """Take (or renew) the claim, so two people never work the same notification."""
    n = _reviewable(session, notification_id, actor, scope)
    now = utcnow()
    renewing = claim_holder(n, now) == actor
    n.review_claimed_by = actor
    n.review_claimed_until = now + timedelta(minutes=settings.console_claim_ttl_min)
    if not renewing:
        record(
            session,
            AuditAction.CLAIMED,
            actor=actor,
            incident_id=n.incident_id,
            notification_id=n.id,
            details={"until": n.review_claimed_until.isoformat()},
        )
    return n


def release_claim(
    session: Session, notification_id: str, *, actor: str, scope: Scope = EVERYTHING
) -> None:
    n = get(session, notification_id, scope)
    if n.review_claimed_by == actor:
        n.review_claimed_by, n.review_claimed_until = None, None


def _risk(session: Session, n: Notification) -> str | None:
    payload = session.execute(
        select(Incident.payload).where(
            Incident.incident_id == n.incident_id, Incident.revision == n.revision
        )
    ).scalar_one_or_none()
    risk = (payload or {}).get("dash_risk")
    return str(risk) if risk else None


def _four_eyes_reason(session: Session, n: Notification) -> str:
    return "edited" if n.edited_by else f"risk {_risk(session, n)}"


def second_reviewer_needed(session: Session, settings: Settings, n: Notification) -> bool:
    """Four eyes, the one place the rule lives: with the setting on, a notification whose
    account was edited, or whose incident is high risk, needs two different reviewers."""
    if not settings.four_eyes:
        return False
    return n.edited_by is not None or _risk(session, n) == "high"


def edit_account(
    session: Session, notification_id: str, *, actor: str, account: str, scope: Scope = EVERYTHING
) -> Notification:
    """Change the account the school will read; the before and after are kept (encrypted)
    and the audit row proves them by hash."""
    n = _reviewable(session, notification_id, actor, scope)
    if n.content is None:
        raise ReviewError(f"{n.id} has no school yet: choose a pupil record first")
    after = checked_text(account, "account").replace("\r\n", "\n").strip()
    if not after:
        raise ReviewError("the account cannot be empty")
    before = str(n.content.get("account", ""))
    if after == before:
        return n
    n.content = {**n.content, "account": after}
    n.edited_by, n.first_approved_by = actor, None
    edit = NotificationEdit(
        notification_id=n.id, field="account", before=before, after=after, actor=actor
    )
    session.add(edit)
    session.flush()
    record(
        session,
        AuditAction.EDITED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={  # the texts are in notification_edits (encrypted); the trail has hashes
            "field": "account",
            "edit_id": edit.id,
            "before_sha256": hashlib.sha256(before.encode()).hexdigest(),
            "after_sha256": hashlib.sha256(after.encode()).hexdigest(),
        },
    )
    return n


def release_grade(n: Notification) -> bool:
    """What the matcher would have released under ``auto_release_confident``: a school,
    a score above the release threshold, clear of every other child by the margin, not an
    update. Only these may be approved several at once. The matcher's verdict is stored
    on the notification when it is made (``releasable``), with the configured thresholds."""
    if n.status != NotificationStatus.PENDING_REVIEW or n.is_update or n.urn is None:
        return False
    return n.content is not None and n.releasable


def bulk_approve(
    session: Session,
    settings: Settings,
    notification_ids: list[str],
    *,
    actor: str,
    scope: Scope = EVERYTHING,
) -> tuple[list[Notification], dict[str, str]]:
    """Approve several release-grade notifications; the rest are refused with a reason."""
    done: list[Notification] = []
    refused: dict[str, str] = {}
    for nid in dict.fromkeys(notification_ids):
        try:
            n = get(session, nid, scope)
            if not release_grade(n):
                raise ReviewError("not release-grade: open it and review it on its own")
            if second_reviewer_needed(session, settings, n):
                raise ReviewError("needs two reviewers: open it and review it on its own")
            done.append(approve(session, settings, nid, actor=actor, scope=scope))
        except ReviewError as exc:
            refused[nid] = str(exc)
    return done, refused


def rematch(
    session: Session,
    settings: Settings,
    notification_id: str,
    *,
    actor: str,
    upn: str,
    urn: str | None = None,
    scope: Scope = EVERYTHING,
) -> Notification:
    """Choose another pupil record (and so school) without releasing yet."""
    n = _reviewable(session, notification_id, actor, scope)
    before = {"urn": n.urn, "upn": n.upn}
    _choose_pupil(session, settings, n, upn=upn, urn=urn)
    record(
        session,
        AuditAction.REMATCHED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"before": before, "after": {"urn": n.urn, "upn": n.upn}},
    )
    return n


def recall(
    session: Session,
    settings: Settings,
    notification_id: str,
    *,
    actor: str,
    reason: str,
    scope: Scope = EVERYTHING,
) -> Notification:
    """Withdraw a notification sent in error: the school is sent a retraction asking it to
    delete the message (through the escalation outbox, ``consumers.alerts``), reminders
    stop, and the recall is audited."""
    if not checked_text(reason, "reason").strip():
        raise ReviewError("a recall needs a reason")
    n = get(session, notification_id, scope)
    if n.status != NotificationStatus.SENT or not n.recipient:
        raise ReviewError(
            f"{n.id} is {status_words(n.status).lower()}: only a sent notification can be recalled"
        )
    now = utcnow()
    n.status, n.reason = NotificationStatus.RECALLED, reason
    session.add(EscalationStep.to_school(n, "recall", now))  # consumers.alerts.Step.RECALL
    record(
        session,
        AuditAction.RECALLED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"reason": reason, "to": n.recipient, "urn": n.urn},
    )
    return n


# --- children on no roll: the home council's officers (consumers/routes.py) -----------------


def route_to_officer(
    session: Session,
    settings: Settings,
    notification_id: str,
    *,
    actor: str,
    to: str,
    scope: Scope = EVERYTHING,
) -> Notification:
    """Route a child on no roll to the home council's ``ehe`` or ``cme`` officer (the
    council contacts file). It becomes a notification like any other: its deadline is the
    council's day start on the first weekday, not a bank holiday, at or after the report
    (no school calendar); its content is minimised with the home council's
    ``no_roll_profile`` (else the officers' default), built from the police record's name
    and date of birth; the reviewer's decision releases it (four eyes as for any other).
    Refused, with nothing changed, when the council has no such officer, and (not found)
    when the notification is not in ``scope``."""
    n = _reviewable(session, notification_id, actor, scope)
    role = to.strip().lower()
    if role not in routes.OFFICER_ROLES:
        raise ReviewError(f"route to {to!r}: give one of {', '.join(routes.OFFICER_ROLES)}")
    if n.route == NotificationRoute.NEIGHBOUR_FIRST_RESPONSE:
        raise ReviewError(f"{n.id} goes to a neighbouring council's First Response")
    incident_row = session.execute(
        select(Incident).where(
            Incident.incident_id == n.incident_id, Incident.revision == n.revision
        )
    ).scalar_one()
    incident = PoliceIncident.model_validate(incident_row.payload)
    child = next(p for p in incident.persons if p.person_id == n.person_id)
    councils = councils_for(settings)
    home = councils.member(n.council) if n.council else None
    if home is None:
        home = councils.home(routes.home_postcode(incident, child))
    words = routes.OFFICER_WORDS[role]
    officer = routes.officer(session, home.la_code, role)
    if officer is None:
        where = f"LA {home.la_code} ({home.name})" if home.la_code else "the council"
        raise ReviewError(
            f"{where} has no {words} in the council contacts file "
            "(encompass directory import --council-contacts): nothing was changed"
        )
    known_as = (child.known_as or child.given_names or "").strip()
    child_name = " ".join(part for part in (known_as, (child.family_name or "").strip()) if part)
    if not child_name or child.date_of_birth is None:
        raise ReviewError(
            f"the police record gives no name and date of birth for {n.id}'s child: the "
            f"{words} would not know whom it is about; nothing was changed"
        )
    try:
        profile = routes.officer_profile(settings, home.no_roll_profile)
    except routes.RouteError as exc:
        raise ReviewError(str(exc)) from None
    if n.urn is not None:
        clash = session.execute(
            select(Notification.id).where(
                Notification.incident_id == n.incident_id,
                Notification.revision == n.revision,
                Notification.person_id == n.person_id,
                Notification.urn_key == "",
                Notification.id != n.id,
            )
        ).first()
        if clash:
            raise ReviewError(f"{clash[0]} already stands for this child on no roll")
    before = {"urn": n.urn, "route": n.route, "status": n.status}
    n.urn, n.upn, n.urn_key = None, None, ""
    n.route = routes.OFFICER_ROUTES[role].value
    n.route_council = home.la_code
    if n.council is None:
        n.council = home.la_code
    n.deliver_by = deadline(session, settings, None, incident.reported_at)
    content = minimise(
        incident,
        child,
        reference=n.id,
        school_name=f"No school roll ({home.name})",
        child_name=child_name,
        child_date_of_birth=child.date_of_birth,
        deliver_by=n.deliver_by,
        first_response=first_response(settings, n.council),
        is_update=n.is_update,
        profile=profile,
    )
    ids = {"incident_id": n.incident_id, "notification_id": n.id}
    record(
        session,
        AuditAction.ROUTED,
        actor=actor,
        **ids,
        details={"route": n.route, "role": role, "la_code": home.la_code, "before": before,
                 "profile": profile.name},
    )  # fmt: skip
    record(
        session,
        AuditAction.MINIMISED,
        actor=actor,
        **ids,
        details={"profile": profile.name, "version": profile.version, "route": n.route},
    )
    screened = held_account.screen(content.model_dump(mode="json"), incident, child, profile)
    n.content = held_account.apply(session, n, screened, actor=actor)
    n.first_approved_by = None
    n.status = NotificationStatus.PENDING_REVIEW  # the reviewer's approval follows
    n.reason = f"routed to the home council's {words}"
    return approve(session, settings, n.id, actor=actor)
