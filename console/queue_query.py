"""What a reviewer asks of the review queue, and the SQL that answers it: the filters,
the sort keys and their ranks, on what is kept in clear (deadlines, statuses, schools, the
risk level, why it waits: none of it names anyone). ``console.queue_view`` pages it and
makes the rows."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, case, func, or_

from foundations.council_scope import Scope
from foundations.models import (
    UNSENT_STATUSES,
    AccountStatus,
    Notification,
    NotificationStatus,
    School,
)

# Why a notification waits, most actionable first (the order of "sort by why").
WHY = ("release_grade", "update", "twins", "unsure", "not_found", "failed", "bounced",
       "going_out")  # fmt: skip
RISKS = ("high", "medium", "standard")
# The matcher's words for two children too close to tell apart (school_directory.matching).
TWINS_MARK = "twins or same-name children"

STATUS_CHOICES = ("pending_review", "not_found", "failed", "bounced", "late", "approved")
DUE_CHOICES = {"late": timedelta(0), "1h": timedelta(hours=1), "4h": timedelta(hours=4),
               "24h": timedelta(hours=24)}  # fmt: skip
DUE_WORDS = {"late": "Late already", "1h": "Within an hour", "4h": "Within 4 hours",
             "24h": "Within 24 hours"}  # fmt: skip
CLAIM_CHOICES = {"nobody": "Nobody", "me": "Me", "others": "Someone else"}
SORTS = {"due": "Time left", "child": "Child", "age": "Age", "risk": "Risk",
         "school": "School", "why": "Why it waits", "claimed": "Claimed by",
         "status": "Status"}  # fmt: skip


@dataclass(frozen=True)
class Query:
    """What the reviewer asked for, from the page's address; anything unknown is ignored."""

    la: str = ""
    school: str = ""
    status: str = ""
    why: str = ""
    risk: str = ""
    due: str = ""
    claimed: str = ""
    child: str = ""
    sort: str = "due"
    order: str = "asc"
    page: int = 1

    @classmethod
    def of(cls, params: Any) -> Query:
        def text(name: str, most: int = 100) -> str:
            value = str(params.get(name, "") or "").strip()
            return "" if "\x00" in value else value[:most]

        try:
            page = max(1, min(int(text("page", 9) or 1), 1_000_000))
        except ValueError:
            page = 1
        return cls(
            la=text("la"),
            school=text("school"),
            status=pick(text("status"), STATUS_CHOICES),
            why=pick(text("why"), (*WHY, "account_held")),
            risk=pick(text("risk"), (*RISKS, "none")),
            due=pick(text("due"), DUE_CHOICES),
            claimed=pick(text("claimed"), CLAIM_CHOICES),
            child=text("child"),
            sort=pick(text("sort"), SORTS) or "due",
            order="desc" if text("order") == "desc" else "asc",
            page=page,
        )

    def filtered(self) -> bool:
        return any((self.la, self.school, self.status, self.why, self.risk, self.due,
                    self.claimed, self.child))  # fmt: skip

    def link(self, **changes: Any) -> str:
        """This page's address with some of it changed; defaults left out."""
        wanted = replace(self, **changes)
        defaults = Query()
        params = {
            f.name: getattr(wanted, f.name)
            for f in fields(Query)
            if getattr(wanted, f.name) != getattr(defaults, f.name)
        }
        return "/queue" + ("?" + urlencode(params) if params else "")

    def sorted_by(self, key: str) -> str:
        """The column header's link: the other way round if already sorted by it."""
        order = "desc" if self.sort == key and self.order == "asc" else "asc"
        return self.link(sort=key, order=order, page=1)


def pick(value: str, allowed: Any) -> str:
    return value if value in allowed else ""


def school_urn() -> ColumnElement[Any]:
    """The chosen school, or before one is chosen the best candidate's."""
    return func.coalesce(Notification.urn, Notification.best_urn)


def why_rank() -> ColumnElement[int]:
    """Why it waits, as its place in ``WHY``, from columns kept in clear: the same test
    as ``review.release_grade`` for a sure match (the matcher's stored verdict)."""
    s = Notification.status
    return case(
        (s == NotificationStatus.FAILED, WHY.index("failed")),
        (s == NotificationStatus.BOUNCED, WHY.index("bounced")),
        (s.in_([NotificationStatus.APPROVED, NotificationStatus.SENDING]),
         WHY.index("going_out")),
        (s == NotificationStatus.NOT_FOUND, WHY.index("not_found")),
        (Notification.is_update, WHY.index("update")),
        (and_(s == NotificationStatus.PENDING_REVIEW, Notification.releasable,
              Notification.urn.is_not(None), Notification.content.is_not(None)),
         WHY.index("release_grade")),
        (func.lower(Notification.reason).contains(TWINS_MARK), WHY.index("twins")),
        else_=WHY.index("unsure"),
    )  # fmt: skip


def risk_rank() -> ColumnElement[int]:
    return case(*((Notification.dash_risk == r, i) for i, r in enumerate(RISKS)), else_=len(RISKS))


def claimer(now: datetime) -> ColumnElement[Any]:
    return case((Notification.review_claimed_until > now, Notification.review_claimed_by))


def is_late(now: datetime) -> ColumnElement[bool]:
    return or_(Notification.deliver_by <= now, Notification.late_at.is_not(None))


def conditions(q: Query, now: datetime, actor: str, scope: Scope) -> list[ColumnElement[bool]]:
    """The filters that SQL can apply (all but the child's name), within the reviewer's
    councils (``scope``, foundations/council_scope.py)."""
    where: list[ColumnElement[bool]] = [
        Notification.status.in_([s.value for s in UNSENT_STATUSES]),
        scope.condition(),
    ]
    if q.la:
        where.append(School.la_code == q.la)
    if q.school:
        if q.school.isdigit():
            where.append(school_urn() == q.school)
        else:
            where.append(func.lower(School.name).contains(q.school.casefold(), autoescape=True))
    if q.status == "late":
        where.append(is_late(now))
    elif q.status:
        where.append(Notification.status == q.status)
    if q.why == "account_held":
        where.append(Notification.account_status == AccountStatus.HELD)
    elif q.why:
        where.append(why_rank() == WHY.index(q.why))
    if q.risk == "none":
        where.append(risk_rank() == len(RISKS))
    elif q.risk:
        where.append(Notification.dash_risk == q.risk)
    if q.due:
        where.append(Notification.deliver_by <= now + DUE_CHOICES[q.due])
    claim = claimer(now)
    if q.claimed == "nobody":
        where.append(claim.is_(None))
    elif q.claimed == "me":
        where.append(claim == actor)
    elif q.claimed == "others":
        where.append(and_(claim.is_not(None), claim != actor))
    return where


def order_by(q: Query, now: datetime) -> list[Any]:
    keys: dict[str, list[Any]] = {
        "due": [Notification.deliver_by],
        "risk": [risk_rank(), Notification.deliver_by],
        "school": [func.coalesce(School.name, "~"), Notification.deliver_by],
        "why": [why_rank(), Notification.deliver_by],
        "claimed": [func.coalesce(claimer(now), "~"), Notification.deliver_by],
        "status": [Notification.status, Notification.deliver_by],
    }
    first = keys.get(q.sort, keys["due"])
    if q.order == "desc":
        first = [first[0].desc(), *first[1:]]
    return [*first, Notification.created_at, Notification.id]
