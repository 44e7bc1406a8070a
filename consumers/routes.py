"""Routes: to whom a notification goes (docs/councils.md).

- **school**: the school's DSL (deputy as fallback), for a school in a member council, and
  for a school in a neighbouring council whose ``handling`` is ``direct``;
- **neighbour_first_response**: a school in a neighbouring council whose ``handling`` is
  ``first_response``: that council's First Response, for onward handling; the e-mail names
  the school and is minimised as the school's would be;
- **officer_ehe** / **officer_cme**: a child on no roll, routed by a reviewer to the home
  council's elective-home-education or children-missing-education officer (the council
  contacts file, ``council_contacts``).

A school in a council that is neither a member nor a configured neighbour (in a deployment
of several councils) is held for review with the LA named: a person decides, and approving
sends it to the school directly. Every cross-border decision is audited (``cross_border``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from consumers.profiles import ProfileError, profiles_for
from foundations.councils import Councils, Handling, councils_for
from foundations.models import (
    CouncilContact,
    Notification,
    NotificationRoute,
    NotificationStatus,
    School,
)
from foundations.settings import Settings
from schemas.incident import Person, PoliceIncident
from schemas.notification import MinimisationProfile

ACTOR = "broker:notify"
OFFICER_ROLES = ("ehe", "cme")
OFFICER_ROUTES = {
    "ehe": NotificationRoute.OFFICER_EHE,
    "cme": NotificationRoute.OFFICER_CME,
}
OFFICER_WORDS = {
    "ehe": "elective home education officer",
    "cme": "children missing education officer",
}
# The officers' notification when the home council names no ``no_roll_profile``: the
# SPEC's default fields (nothing more), under its own name so the trail tells them apart.
OFFICER_DEFAULT_PROFILE = MinimisationProfile(name="no-roll-default", version=1)


class RouteError(ValueError):
    """A route that cannot be taken, in plain words (nothing has changed)."""


@dataclass(frozen=True)
class Recipient:
    role: str  # dsl | deputy_dsl | neighbour_first_response | officer_ehe | officer_cme
    address: str
    addressee: str | None = None  # whom the e-mail greets, when not a school's DSL


def home_postcode(incident: PoliceIncident, child: Person) -> str | None:
    """Where the child lives: the child's postcode, else the incident's."""
    for address in (child.address, incident.location):
        if address is not None and address.postcode:
            return address.postcode
    return None


def route_school(
    session: Session,
    settings: Settings,
    n: Notification,
    incident: PoliceIncident,
    child: Person,
) -> None:
    """Decide the route of a notification to a school (``n.urn`` set): a member's school
    or a direct neighbour's goes to the school; a first_response neighbour's to its First
    Response; a school in a council the deployment does not know is held for a person.
    The notification's council is the child's home council for a school beyond the
    deployment (``Councils.owner``)."""
    councils = councils_for(settings)
    school = session.get(School, n.urn) if n.urn else None
    if school is None:
        return
    n.route, n.route_council = NotificationRoute.SCHOOL.value, school.la_code
    if not councils.scoped or councils.member(school.la_code) is not None:
        return
    if n.council is None:
        n.council = councils.owner(school.la_code, home_postcode(incident, child))
    neighbour = councils.neighbour(school.la_code)
    details: dict[str, object] = {"cross_border": True, "urn": school.urn,
                                  "la_code": school.la_code, "council": n.council}  # fmt: skip
    if neighbour is not None and neighbour.handling is Handling.FIRST_RESPONSE:
        n.route = NotificationRoute.NEIGHBOUR_FIRST_RESPONSE.value
        details |= {"handling": Handling.FIRST_RESPONSE.value, "neighbour": neighbour.name}
    elif neighbour is not None:
        details |= {"handling": Handling.DIRECT.value, "neighbour": neighbour.name}
    else:
        details |= {"handling": "held"}
        if n.status in {NotificationStatus.APPROVED, NotificationStatus.PENDING_REVIEW}:
            earlier = n.reason if n.status == NotificationStatus.PENDING_REVIEW else ""
            n.status = NotificationStatus.PENDING_REVIEW
            n.reason = unknown_council_reason(school) + (f"; also: {earlier}" if earlier else "")
    details["route"] = n.route
    record(
        session,
        AuditAction.CROSS_BORDER,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        details=details,
    )


def unknown_council_reason(school: School) -> str:
    return (
        f"the school is in LA {school.la_code} ({school.la_name}), which is neither a council "
        "of this deployment nor a configured neighbour: a person decides; approving sends it "
        "to the school directly"
    )


def marker(councils: Councils, n: Notification) -> str | None:
    """What the home council's reviewers see of a cross-border or officer route, or None
    for a school in a member council."""
    if n.route == NotificationRoute.NEIGHBOUR_FIRST_RESPONSE:
        neighbour = councils.neighbour(n.route_council)
        name = neighbour.name if neighbour else f"LA {n.route_council}"
        return f"via {name} First Response"
    if n.route in (NotificationRoute.OFFICER_EHE, NotificationRoute.OFFICER_CME):
        role = "ehe" if n.route == NotificationRoute.OFFICER_EHE else "cme"
        return f"to the home council's {OFFICER_WORDS[role]}"
    if n.route_council is None or n.urn is None:  # no school yet, or made before 0023
        return None
    if not councils.scoped or councils.member(n.route_council) is not None:
        return None
    neighbour = councils.neighbour(n.route_council)
    if neighbour is not None:
        return f"sent to {neighbour.name} school directly"
    return f"school in LA {n.route_council}, not a council of this deployment"


def officer(session: Session, la_code: str | None, role: str) -> CouncilContact | None:
    """The home council's designated officer of this role, from the council contacts. In
    a single-council deployment (``la_code`` None) the file's only officer of that role."""
    if role not in OFFICER_ROLES:
        raise RouteError(f"route to {role!r}: the officers are {', '.join(OFFICER_ROLES)}")
    query = select(CouncilContact).where(CouncilContact.role == role)
    if la_code is not None:
        query = query.where(CouncilContact.la_code == la_code)
    found = list(session.execute(query.order_by(CouncilContact.id).limit(2)).scalars())
    return found[0] if len(found) == 1 else None


def recipient(session: Session, settings: Settings, n: Notification) -> Recipient | None:
    """The recipient of a notification whose route is not a school's: the neighbour's
    First Response, or the officer the council contacts file names. None when the
    configuration or the file no longer names one."""
    if n.route == NotificationRoute.NEIGHBOUR_FIRST_RESPONSE:
        neighbour = councils_for(settings).neighbour(n.route_council)
        if neighbour is None or neighbour.first_response is None:
            return None
        contact = neighbour.first_response
        return Recipient(n.route, contact.email, f"{contact.name} ({neighbour.name})")
    for role, route in OFFICER_ROUTES.items():
        if n.route == route:
            found = officer(session, n.route_council, role)
            if found is None:
                return None
            return Recipient(n.route, found.email, f"{found.name}, {OFFICER_WORDS[role]}")
    return None


def is_school_route(n: Notification) -> bool:
    return n.route in (None, NotificationRoute.SCHOOL.value)


def officer_profile(settings: Settings, name: str | None) -> MinimisationProfile:
    """The home council's ``no_roll_profile`` by name, else the built-in officers' default."""
    if not name:
        return OFFICER_DEFAULT_PROFILE
    directory = str(settings.profiles_dir) if settings.profiles_dir else None
    try:
        return profiles_for(directory).named(name)
    except ProfileError as exc:
        raise RouteError(str(exc)) from None
