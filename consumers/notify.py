"""Notify: turn one child's match into notifications, one per (incident, child, school),
each with its owning council, its deadline, its minimised content and the review policy's
first decision (the owning council's, in a deployment of several: docs/councils.md)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from consumers import held_account, routes
from consumers.minimise import minimise
from consumers.policy import initial_status
from consumers.profiles import profiles_for
from foundations.councils import councils_for
from foundations.models import (
    UNSENT_STATUSES,
    Notification,
    NotificationRoute,
    NotificationStatus,
    Pupil,
    notification_id,
)
from foundations.settings import Settings
from schemas.incident import Person, PoliceIncident
from schemas.notification import FirstResponseContact, MinimisationProfile
from school_directory.calendar import deliver_by_for_school, school_of
from school_directory.matching import MatchResult, PupilRow

ACTOR = "broker:notify"
ACCOUNT_HELD_REASON = "the officer's account may name someone: a person must read it first"


def _day_start(settings: Settings) -> time:
    return time.fromisoformat(settings.default_day_start)


def deadline(
    session: Session, settings: Settings, urn: str | None, reported_at: datetime
) -> datetime:
    return deliver_by_for_school(session, urn, reported_at, _day_start(settings))


def chosen_profile(settings: Settings, la_code: str | None, force_code: str) -> MinimisationProfile:
    """The profile the school's council names in its file (docs/councils.md), else the
    local agreement for this school's LA, else the force's, else the default."""
    directory = str(settings.profiles_dir) if settings.profiles_dir else None
    council = councils_for(settings).get(la_code)
    named = council.profile if council is not None else None
    return profiles_for(directory).choose(la_code, force_code, named=named)


def first_response(settings: Settings, council: str | None = None) -> FirstResponseContact:
    """First Response of the council that owns a notification (``Notification.council``);
    in a single-council deployment, ``ENCOMPASS_FIRST_RESPONSE_*``."""
    contact = councils_for(settings).first_response(council)
    return FirstResponseContact(name=contact.name, email=contact.email, phone=contact.phone)


def owning_council(
    session: Session,
    settings: Settings,
    incident: PoliceIncident,
    child: Person,
    urn: str | None,
) -> str | None:
    """The member council a notification belongs to (``councils.owner``): its school's
    (before one is chosen, the best candidate's), else the child's home council. None in
    a single-council deployment."""
    councils = councils_for(settings)
    if not councils.scoped:
        return None
    school = school_of(session, urn) if urn else None
    return councils.owner(school.la_code if school else None, routes.home_postcode(incident, child))


def build_content(
    session: Session,
    settings: Settings,
    n: Notification,
    incident: PoliceIncident,
    child: Person,
    pupil: Pupil | PupilRow,
) -> dict[str, Any]:
    """The school-facing notification, from the allowlist in ``consumers.minimise``."""
    school = school_of(session, pupil.urn)  # kept for the transaction: a batch's schools
    if school is None:  # pragma: no cover - a pupil always belongs to a school (FK)
        raise LookupError(f"school {pupil.urn} is not in the directory")
    profile = chosen_profile(settings, school.la_code, incident.force_code)
    known_as = pupil.preferred_name or pupil.given_names
    content = minimise(
        incident,
        child,
        reference=n.id,
        school_name=school.name,
        child_name=f"{known_as} {pupil.family_name}",
        child_date_of_birth=pupil.date_of_birth,
        deliver_by=n.deliver_by,
        first_response=first_response(settings, n.council),
        ack_url=None,
        is_update=n.is_update,
        profile=profile,
    )
    record(
        session,
        AuditAction.MINIMISED,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"profile": profile.name, "version": profile.version, "urn": pupil.urn},
    )
    screened = held_account.screen(content.model_dump(mode="json"), incident, child, profile)
    return held_account.apply(session, n, screened, actor=ACTOR)


def risk_level(dash_risk: str | None) -> str | None:
    """The DASH risk level as the queue sorts it: ``standard``, ``medium``, ``high``."""
    level = (dash_risk or "").strip().casefold()
    return level or None


def child_sort_key(child: Person) -> dict[str, str]:
    """The child's names and date of birth as recorded, for the queue (kept encrypted)."""
    born = child.date_of_birth.isoformat() if child.date_of_birth else ""
    return {"given_names": child.given_names or "", "family_name": child.family_name or "",
            "known_as": child.known_as or "", "date_of_birth": born}  # fmt: skip


def create_for_child(
    session: Session,
    settings: Settings,
    incident: PoliceIncident,
    child: Person,
    match: MatchResult,
    *,
    sent_before: set[str],
) -> list[Notification]:
    """Create this child's notifications; ``sent_before`` holds URNs already told of an
    earlier revision, whose new notification is an update that a person must see.
    ``match`` was decided once, with the configured thresholds (``consumers.match``); its
    verdict is kept on each notification as ``releasable``."""
    candidates = [c.as_dict() for c in match.candidates]
    schools = match.exact_schools
    created: list[Notification] = []
    targets: list[tuple[str | None, str | None, float | None, PupilRow | None]] = (
        [(c.urn, c.upn, c.score, c.pupil) for c in schools]
        if schools
        else [(None, None, None, None)]
    )
    best = match.candidates[0].urn if match.candidates else None
    for urn, upn, score, row in targets:
        is_update = urn is not None and urn in sent_before
        council = owning_council(session, settings, incident, child, urn or best)
        policy = councils_for(settings).review_policy(council, settings.review_policy)
        status, reason = initial_status(policy, match, is_update=is_update)
        if urn is None:
            candidate_urns = {c.urn for c in match.candidates}
            due = min(
                (deadline(session, settings, u, incident.reported_at) for u in candidate_urns),
                default=deadline(session, settings, None, incident.reported_at),
            )
        else:
            due = deadline(session, settings, urn, incident.reported_at)
        n = Notification(
            id=notification_id(incident.incident_id, incident.revision, child.person_id, urn),
            incident_id=incident.incident_id,
            revision=incident.revision,
            person_id=child.person_id,
            urn=urn,
            urn_key=urn or "",
            upn=upn,
            status=status.value,
            reason=reason,
            candidates=candidates,
            match_score=score,
            # The matcher's verdict, kept: release-grade for bulk approval
            # (``consumers.review.release_grade``) is read from here, never derived again.
            releasable=match.releasable and urn is not None and not is_update,
            is_update=is_update,
            deliver_by=due,
            dash_risk=risk_level(incident.dash_risk),
            best_urn=urn or best,
            child_sort=child_sort_key(child),
            council=council,
            # the column's default, given: every row has the same columns, one INSERT a batch
            route=NotificationRoute.SCHOOL.value,
        )
        session.add(n)
        ids = {"incident_id": incident.incident_id, "notification_id": n.id}
        record(
            session,
            AuditAction.MATCHED if urn else AuditAction.HELD,
            actor=ACTOR,
            **ids,
            details={
                "person_id": child.person_id,
                "outcome": match.outcome.value,
                "urn": urn,
                "upn": upn,
                "candidates": candidates,  # each with its score and reasons
                "reason": match.reason,
                # e.g. an NHS number that fails its check digit, ignored (no value here)
                **({"warnings": list(match.warnings)} if match.warnings else {}),
            },
        )
        if urn is not None and upn is not None:
            # the row matching read (and decrypted) already; read it only without one
            pupil: Pupil | PupilRow | None = (
                row if row and (row.upn, row.urn) == (upn, urn) else None
            )
            if pupil is None:
                pupil = session.execute(
                    select(Pupil).where(Pupil.upn == upn, Pupil.urn == urn)
                ).scalar_one()
            n.content = build_content(session, settings, n, incident, child, pupil)
        if (
            status is NotificationStatus.APPROVED
            and held_account.is_held(n)
            and not settings.structured_account_fallback
        ):
            status, reason = NotificationStatus.PENDING_REVIEW, ACCOUNT_HELD_REASON
            n.status, n.reason = status, reason
        if urn is not None:  # a school beyond the deployment's councils (consumers/routes.py)
            routes.route_school(session, settings, n, incident, child)
            status = NotificationStatus(n.status)
        if status is NotificationStatus.APPROVED:
            record(
                session,
                AuditAction.APPROVED,
                actor="policy:" + policy.value,
                **ids,
                details={"reason": reason},
            )
        created.append(n)  # inserted with the transaction's next flush
    return created


def supersede_earlier(session: Session, incident: PoliceIncident) -> dict[str, set[str]]:
    """A newer revision replaces what has not gone yet; returns, per child, the schools
    already told, whose new notification is an update."""
    sent: dict[str, set[str]] = {}
    if incident.revision <= 1:  # the first revision: there is nothing earlier to read
        return sent
    earlier = session.execute(
        select(Notification).where(
            Notification.incident_id == incident.incident_id,
            Notification.revision < incident.revision,
        )
    ).scalars()
    unsent = {s.value for s in UNSENT_STATUSES}
    for n in earlier:
        if n.status == NotificationStatus.SENT and n.urn:
            sent.setdefault(n.person_id, set()).add(n.urn)
        elif n.status in unsent:
            n.status = NotificationStatus.SUPERSEDED
            record(
                session,
                AuditAction.SUPERSEDED,
                actor=ACTOR,
                incident_id=n.incident_id,
                notification_id=n.id,
                details={"by_revision": incident.revision},
            )
    return sent
