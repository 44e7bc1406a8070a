"""What a reviewer sees of one notification, the same in the console and in ``encompass
review show``: the child as the police recorded them beside each candidate pupil record
(field by field, with what differs), the e-mail as the school will get it, and, once it has
gone, what happened to it (when, to whom, on whose decision, and whether it was late).

Reading only: the views and searches a reviewer makes are audited by
``consumers.review_lookups``; the actions are ``consumers.review``'s.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction
from consumers.deliver import recipient
from consumers.render import RenderedEmail, birth_date, london_when, preview_email
from consumers.routes import is_school_route
from consumers.routes import recipient as route_recipient
from consumers.wording import (
    LEVEL_WORDS,
    ROLE_WORDS,
    actor_words,
    field_words,
    late_words,
    match_words,
)
from foundations.models import AuditEvent, Incident, Notification, Pupil, School
from foundations.settings import Settings
from schemas.notification import SchoolNotification

# What the police recorded of the child that a reviewer may read. Adults' details, and the
# child's address, stay behind even here: the postcode is only said to agree or not.
CHILD_FIELDS = (
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

# The matcher's fields (school_directory.matching.FIELDS) in the order a person reads them.
COMPARED = ("given_name", "family_name", "date_of_birth", "gender", "postcode", "school_hint")


def school_names(session: Session, urns: set[str]) -> dict[str, School]:
    if not urns:
        return {}
    found = session.execute(select(School).where(School.urn.in_(urns))).scalars()
    return {s.urn: s for s in found}


def _day(value: object) -> str:
    """A date of birth as a person writes it: ``5 May 2017``; as given if it is not a date."""
    if isinstance(value, date):
        return birth_date(value)
    if isinstance(value, str) and value:
        try:
            return birth_date(date.fromisoformat(value))
        except ValueError:
            return value
    return ""


def child_as_recorded(session: Session, n: Notification) -> dict[str, Any]:
    """The incident's facts and the child as the police recorded them."""
    row = session.execute(
        select(Incident).where(
            Incident.incident_id == n.incident_id, Incident.revision == n.revision
        )
    ).scalar_one_or_none()
    payload = row.payload if row else {}
    child: dict[str, Any] = next(
        (p for p in payload.get("persons", []) if p.get("person_id") == n.person_id), {}
    )
    occurred = payload.get("occurred_at")
    return {
        "incident_id": n.incident_id,
        "revision": n.revision,
        "classification": payload.get("classification", ""),
        "dash_risk": payload.get("dash_risk", ""),
        "occurred_at": london_when(datetime.fromisoformat(occurred)) if occurred else "",
        "child": {k: child.get(k) for k in CHILD_FIELDS},
        "born": _day(child.get("date_of_birth")),
    }


def _given(names: object, other: object) -> str:
    text = str(names or "")
    return f"{text} (known as {other})" if other and other != text else text


EXACT_LEVELS = frozenset({"", "exact", "exact_all", "same"})


def _verdicts(c: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """By field, the matcher's verdict and its level: ``same`` (exactly), ``close`` (a
    nickname, a typo, day and month swapped: a person must judge it) or ``differs``."""
    found: dict[str, tuple[str, str]] = {}
    for reason in c.get("agreed", []):
        field, _, level = str(reason).partition(":")
        found[field] = ("same" if level in EXACT_LEVELS else "close", level)
    for reason in c.get("disagreed", []):
        field, _, level = str(reason).partition(":")
        found[field] = ("differs", level)
    return found


def _comparison(
    child: dict[str, Any], pupil: Pupil | None, school: School | None, c: dict[str, Any]
) -> list[dict[str, Any]]:
    """Field by field: what the police recorded, what the pupil record holds, and the
    matcher's verdict (``same``, ``close``, ``differs``, or ``not compared`` when one side
    did not record it), with how, in words."""
    verdicts = _verdicts(c)
    police = {
        "given_name": _given(child.get("given_names"), child.get("known_as")),
        "family_name": str(child.get("family_name") or ""),
        "date_of_birth": _day(child.get("date_of_birth")),
        "gender": str(child.get("gender") or ""),
        "postcode": "",  # never shown: the child's address stays with the police record
        "school_hint": str(child.get("school_hint") or ""),
    }
    record = {
        "given_name": _given(pupil.given_names, pupil.preferred_name) if pupil else "",
        "family_name": pupil.family_name if pupil else "",
        "date_of_birth": _day(pupil.date_of_birth) if pupil else "",
        "gender": pupil.gender if pupil else "",
        "postcode": "",
        "school_hint": school.name if school else "",
    }
    rows = []
    for field in COMPARED:
        verdict, level = verdicts.get(field, ("not compared", ""))
        how = LEVEL_WORDS.get(level, level.replace("_", " ")) if level else ""
        rows.append(
            {
                "field": field_words(field),
                "police": police[field],
                "record": record[field],
                "verdict": verdict,
                "how": "" if level in EXACT_LEVELS else how,
            }
        )
    return rows


def candidates(
    session: Session, n: Notification, child: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each candidate pupil record, best first, beside the child as the police recorded
    them: its name, date of birth and school, the matcher's score, and the fields that
    agree and differ, in words."""
    if child is None:
        child = child_as_recorded(session, n)["child"]
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
        verdicts = _verdicts(c)
        out.append(
            {
                **c,
                "name": f"{pupil.given_names} {pupil.family_name}" if pupil else "",
                "date_of_birth": pupil.date_of_birth.isoformat() if pupil else "",
                "born": _day(pupil.date_of_birth) if pupil else "",
                "school": school.name if school else "",
                "chosen": c.get("upn") == n.upn and c.get("urn") == n.urn,
                "agrees": [match_words(f) for f, (v, _) in verdicts.items() if v == "same"],
                "differs": [
                    match_words(f"{f}:{level}" if level not in EXACT_LEVELS else f)
                    for f, (v, level) in verdicts.items()
                    if v != "same"
                ],
                "compared": _comparison(child, pupil, school, c),
            }
        )
    return out


def recipient_role(session: Session, urn: str | None) -> str:
    """The role the e-mail will be addressed to: the school's DSL, else its deputy
    (``consumers.deliver.recipient``); the DSL when the school has neither yet."""
    found = recipient(session, urn) if urn else None
    return found[0] if found else "dsl"


def preview(session: Session, settings: Settings, n: Notification) -> RenderedEmail | None:
    """The e-mail as the school will get it, addressed to the role it goes to, with the
    place of the acknowledgement link that is made at sending; None before a school is
    chosen."""
    if not n.content:
        return None
    role, addressee = recipient_role(session, n.urn), None
    if not is_school_route(n):  # a neighbour's First Response, an officer
        other = route_recipient(session, settings, n)
        role, addressee = n.route, other.addressee if other else None
    return preview_email(
        SchoolNotification.model_validate(n.content),
        role,
        settings.ack_link_ttl_days,
        addressee,
    )


def lateness(n: Notification, now: datetime) -> str:
    """ "" when on time (or still in time); else how late, in words: sent after its
    deadline, or not yet sent and past it."""
    late = n.late_by(now)
    if late is None:
        return ""
    if n.sent_at is not None:
        return f"sent {late_words(late)} after its deadline"
    return f"{late_words(late)} past its deadline"


def deciders(session: Session, ids: list[str]) -> dict[str, str]:
    """Who released each notification, by its last ``approved`` audit row: a person, or
    the review policy."""
    if not ids:
        return {}
    rows = session.execute(
        select(AuditEvent.notification_id, AuditEvent.actor)
        .where(AuditEvent.notification_id.in_(ids), AuditEvent.action == AuditAction.APPROVED)
        .order_by(AuditEvent.seq)
    ).all()
    return {nid: actor for nid, actor in rows if nid}


def outcome(session: Session, n: Notification, now: datetime) -> dict[str, Any] | None:
    """What happened to a notification that went out: when, to whom (and as which role),
    on whose decision, and how late; None while it has not been sent."""
    if n.sent_at is None:
        return None
    role = ""
    for details in session.execute(
        select(AuditEvent.details)
        .where(AuditEvent.notification_id == n.id, AuditEvent.action == AuditAction.SENT)
        .order_by(AuditEvent.seq)
    ).scalars():
        role = str((details or {}).get("role") or role)
    decided = deciders(session, [n.id]).get(n.id) or n.decided_by
    return {
        "sent_at": london_when(n.sent_at),
        "to": n.recipient or "",
        "to_role": ROLE_WORDS.get(role, ""),
        "decided_by": actor_words(decided),
        "late": lateness(n, now),
        "acknowledged_at": london_when(n.acknowledged_at) if n.acknowledged_at else "",
    }
