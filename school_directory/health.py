"""The directory's health, a go-live gate (issue 18, item 3).

Before a council goes live it must know its directory is fit: every open school with a DSL
and a deputy, contacts confirmed lately, no address known to bounce, each school's roll
imported against GIAS's ``NumberOfPupils``, a calendar for every school, and most recent
notifications matched without a person. ``directory_health`` reads these from the database
into a ``HealthReport``; ``evaluate`` (pure) holds the report against the thresholds (the
``ENCOMPASS_HEALTH_*`` settings) and gives one ``Gate`` each. ``encompass directory
health`` prints them and exits non-zero when a gate fails; the console shows them at
``/directory/health``.

A gate over open schools fails when there are none: an empty directory is not fit. A gate
that cannot be measured yet (no contacts, no GIAS counts, too few notifications, no bounces
recorded by this version) passes and says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from foundations.clock import LONDON
from foundations.models import (
    OPEN_STATUSES,
    Bounce,
    BounceKind,
    CalendarEntry,
    Notification,
    NotificationStatus,
    Pupil,
    SafeguardingContact,
    School,
)
from foundations.settings import Settings

# The share matched without a person says little over a handful of notifications: below
# this many in the window it is not measured.
AUTO_MATCH_MIN_SAMPLE = 20
ROLES = ("dsl", "deputy_dsl")


@dataclass(frozen=True)
class Thresholds:
    """The ``ENCOMPASS_HEALTH_*`` settings (README, "Settings")."""

    min_dsl_share: float
    min_deputy_share: float
    max_unconfirmed_days: int
    min_confirmed_share: float
    max_bounced_addresses: int
    min_pupil_coverage: float
    min_calendar_share: float
    min_auto_match_share: float
    window_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            min_dsl_share=settings.health_min_dsl_share,
            min_deputy_share=settings.health_min_deputy_share,
            max_unconfirmed_days=settings.health_max_unconfirmed_days,
            min_confirmed_share=settings.health_min_confirmed_share,
            max_bounced_addresses=settings.health_max_bounced_addresses,
            min_pupil_coverage=settings.health_min_pupil_coverage,
            min_calendar_share=settings.health_min_calendar_share,
            min_auto_match_share=settings.health_min_auto_match_share,
            window_days=settings.health_window_days,
        )


@dataclass(frozen=True)
class SchoolRef:
    urn: str
    name: str
    la_code: str


@dataclass(frozen=True)
class ContactRef:
    urn: str
    role: str
    email: str
    confirmed_at: datetime | None


@dataclass(frozen=True)
class BouncedAddress:
    urn: str
    role: str
    email: str
    bounced_at: datetime


@dataclass(frozen=True)
class Roll:
    """One open school's pupils on roll as imported, against GIAS's count (None: unknown)."""

    urn: str
    name: str
    imported: int
    gias: int | None

    @property
    def coverage(self) -> float | None:
        return self.imported / self.gias if self.gias else None


@dataclass(frozen=True)
class HealthReport:
    at: datetime
    thresholds: Thresholds
    open_schools: int
    no_dsl: tuple[SchoolRef, ...]
    no_deputy: tuple[SchoolRef, ...]
    contacts: int  # at open schools
    unconfirmed: tuple[ContactRef, ...]  # not confirmed within max_unconfirmed_days
    bounces_recorded: bool  # the bounces table is read (consumers/bounces.py records them)
    bounced: tuple[BouncedAddress, ...]  # still in the directory, bounced in the window
    rolls: tuple[Roll, ...]  # every open school
    no_calendar: tuple[SchoolRef, ...]
    notifications: int  # made in the window: neither updates nor superseded
    matched_without_person: int  # of those: releasable, or released by the policy

    @property
    def counted_rolls(self) -> tuple[Roll, ...]:
        return tuple(r for r in self.rolls if r.gias)

    @property
    def short_rolls(self) -> tuple[Roll, ...]:
        """Open schools whose imported roll is below the minimum share of GIAS's count."""
        least = self.thresholds.min_pupil_coverage
        return tuple(r for r in self.counted_rolls if (r.coverage or 0.0) < least)


@dataclass(frozen=True)
class Gate:
    """One threshold held against the report. ``measured`` is None when it could not be."""

    name: str
    title: str
    measured: float | int | None
    needed: float | int
    passed: bool
    detail: str = field(default="")


# --- reading the directory -----------------------------------------------------------------


def directory_health(session: Session, thresholds: Thresholds, now: datetime) -> HealthReport:
    """Every measure of the directory as it stands ``now``; reads only."""
    schools = session.execute(
        select(School.urn, School.name, School.la_code, School.number_of_pupils)
        .where(School.status.in_(OPEN_STATUSES))
        .order_by(School.urn)
    ).all()
    refs = [SchoolRef(s.urn, s.name, s.la_code) for s in schools]
    contacts = _contacts(session)
    roles: dict[str, set[str]] = defaultdict(set)
    for c in contacts:
        roles[c.urn].add(c.role)
    stale_before = now - timedelta(days=thresholds.max_unconfirmed_days)
    since = now - timedelta(days=thresholds.window_days)
    pupils = pupils_on_roll(session, now)
    terms = calendar_scopes(session)
    total, unattended = matched_without_person(session, since)
    return HealthReport(
        at=now,
        thresholds=thresholds,
        open_schools=len(refs),
        no_dsl=tuple(s for s in refs if "dsl" not in roles[s.urn]),
        no_deputy=tuple(s for s in refs if "deputy_dsl" not in roles[s.urn]),
        contacts=len(contacts),
        unconfirmed=tuple(
            c for c in contacts if c.confirmed_at is None or c.confirmed_at < stale_before
        ),
        bounces_recorded=True,
        bounced=bounced_addresses(session, since),
        rolls=tuple(Roll(s.urn, s.name, pupils.get(s.urn, 0), s.number_of_pupils) for s in schools),
        no_calendar=tuple(
            s for s in refs if f"urn:{s.urn}" not in terms and f"la:{s.la_code}" not in terms
        ),
        notifications=total,
        matched_without_person=unattended,
    )


def _contacts(session: Session) -> list[ContactRef]:
    """The safeguarding contacts of open schools (of the two roles that receive e-mail)."""
    SC = SafeguardingContact
    rows = session.execute(
        select(SC.urn, SC.role, SC.email, SC.confirmed_at)
        .join(School, School.urn == SC.urn)
        .where(School.status.in_(OPEN_STATUSES), SC.role.in_(ROLES))
        .order_by(SC.urn, SC.role, SC.email)
    ).all()
    return [ContactRef(r.urn, r.role, r.email, r.confirmed_at) for r in rows]


def pupils_on_roll(session: Session, now: datetime) -> dict[str, int]:
    """Pupils on each school's roll today (``on_roll_until`` empty or not yet passed)."""
    today = now.astimezone(LONDON).date()
    on_roll = or_(Pupil.on_roll_until.is_(None), Pupil.on_roll_until >= today)
    query = select(Pupil.urn, func.count()).where(on_roll).group_by(Pupil.urn)
    return {urn: count for urn, count in session.execute(query)}


def calendar_scopes(session: Session) -> set[str]:
    """The scopes (``urn:<urn>``, ``la:<code>``) with term dates: a closure alone is no
    calendar."""
    query = select(CalendarEntry.scope).where(CalendarEntry.kind == "term").distinct()
    return set(session.execute(query).scalars())


def matched_without_person(session: Session, since: datetime) -> tuple[int, int]:
    """(notifications made since, of those matched without a person): the matcher judged
    the match releasable, or the policy released it (``decided_by`` ``policy:...``).
    Updates (always held for a person) and superseded revisions are not counted."""
    recent = and_(
        Notification.created_at >= since,
        Notification.status != NotificationStatus.SUPERSEDED,
        Notification.is_update.is_(False),
    )
    unattended = or_(Notification.releasable.is_(True), Notification.decided_by.like("policy:%"))
    total, matched = session.execute(
        select(func.count(), func.coalesce(func.sum(case((unattended, 1), else_=0)), 0)).where(
            recent
        )
    ).one()
    return int(total), int(matched)


def bounced_addresses(session: Session, since: datetime) -> tuple[BouncedAddress, ...]:
    """Contacts still in the directory whose address bounced permanently since ``since``
    (the ``bounces`` table, consumers/bounces.py), each once with its latest bounce."""
    SC = SafeguardingContact
    rows = session.execute(
        select(SC.urn, SC.role, SC.email, func.max(Bounce.received_at))
        .select_from(Bounce)
        .join(Notification, Notification.id == Bounce.notification_id)
        .join(
            SC,
            and_(SC.urn == Notification.urn, func.lower(SC.email) == func.lower(Bounce.recipient)),
        )
        .where(Bounce.kind == BounceKind.PERMANENT, Bounce.received_at >= since)
        .group_by(SC.urn, SC.role, SC.email)
        .order_by(SC.urn, SC.role, SC.email)
    )
    return tuple(BouncedAddress(urn, role, email, at) for urn, role, email, at in rows)


# --- the gate ------------------------------------------------------------------------------


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _share_gate(
    name: str, title: str, part: int, whole: int, least: float, of: str, *, empty_fails: bool
) -> Gate:
    """At least ``least`` of ``whole`` (``of``, e.g. "open schools") must be ``part``."""
    share = _share(part, whole)
    if share is None:
        detail = f"no {of}" + ("" if empty_fails else ": not measured")
        return Gate(name, title, None, least, not empty_fails, detail)
    detail = f"{part} of {whole} {of} ({_pct(share)}); at least {_pct(least)} needed"
    return Gate(name, title, share, least, share >= least, detail)


def evaluate(report: HealthReport) -> tuple[Gate, ...]:
    """Each threshold held against the report, in the order the report lists them."""
    t, schools = report.thresholds, report.open_schools
    counted, short = report.counted_rolls, report.short_rolls
    gates = [
        _share_gate("dsl", "Open schools with a DSL", schools - len(report.no_dsl), schools,
                    t.min_dsl_share, "open schools", empty_fails=True),
        _share_gate("deputy", "Open schools with a deputy DSL",
                    schools - len(report.no_deputy), schools, t.min_deputy_share,
                    "open schools", empty_fails=True),
        _share_gate("confirmed",
                    f"Contacts confirmed in the last {t.max_unconfirmed_days} days",
                    report.contacts - len(report.unconfirmed), report.contacts,
                    t.min_confirmed_share, "contacts", empty_fails=False),
    ]  # fmt: skip
    bounced = len(report.bounced)
    if report.bounces_recorded:
        detail = f"{bounced} bounced; at most {t.max_bounced_addresses} allowed"
        gates.append(
            Gate("bounced", f"Addresses that bounced in the last {t.window_days} days",
                 bounced, t.max_bounced_addresses, bounced <= t.max_bounced_addresses, detail)
        )  # fmt: skip
    else:
        gates.append(
            Gate("bounced", f"Addresses that bounced in the last {t.window_days} days", None,
                 t.max_bounced_addresses, True, "not measured: no bounces are recorded yet")
        )  # fmt: skip
    if counted:
        imported = sum(r.imported for r in counted)
        expected = sum(r.gias or 0 for r in counted)
        detail = (
            f"{len(short)} of {len(counted)} open schools with a GIAS count have less than "
            f"{_pct(t.min_pupil_coverage)} of it imported; {imported} of {expected} pupils "
            "in all"
        )
        pupils = Gate("pupils", "Pupils imported against GIAS's NumberOfPupils", len(short),
                      0, not short, detail)  # fmt: skip
    else:
        pupils = Gate("pupils", "Pupils imported against GIAS's NumberOfPupils", None, 0, True,
                      "not measured: no open school has a GIAS NumberOfPupils")  # fmt: skip
    gates.append(pupils)
    gates.append(
        _share_gate("calendar", "Open schools with a calendar (their own or their LA's)",
                    schools - len(report.no_calendar), schools, t.min_calendar_share,
                    "open schools", empty_fails=True)
    )  # fmt: skip
    title = f"Notifications in the last {t.window_days} days matched without a person"
    if report.notifications < AUTO_MATCH_MIN_SAMPLE:
        gates.append(
            Gate("auto_match", title, None, t.min_auto_match_share, True,
                 f"not measured: {report.notifications} notifications, fewer than "
                 f"{AUTO_MATCH_MIN_SAMPLE}")
        )  # fmt: skip
    else:
        gates.append(
            _share_gate("auto_match", title, report.matched_without_person,
                        report.notifications, t.min_auto_match_share, "notifications",
                        empty_fails=False)
        )  # fmt: skip
    return tuple(gates)


def passed(gates: Sequence[Gate]) -> bool:
    return all(g.passed for g in gates)


def as_json(report: HealthReport, gates: Sequence[Gate]) -> dict[str, Any]:
    """The report and its gates as JSON-ready values (``--json``)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    body = plain(asdict(report))
    body["rolls"] = [{**asdict(r), "coverage": r.coverage} for r in report.rolls]
    body["short_rolls"] = [r.urn for r in report.short_rolls]
    return {"ok": passed(gates), "gates": [asdict(g) for g in gates], **body}
