"""The review queue as First Response triages it (issue 15): one row per notification not
yet sent, with the child as the police recorded them, the DASH risk, the best candidate's
school, why it waits, the time left and who has claimed it; sorted and filtered by each,
a page of ``PAGE_SIZE`` at a time.

Thousands of rows wait after a weekend, and each police record is encrypted at rest. So
the queue filters, sorts, counts and pages in SQL, on what is kept in clear (deadlines,
statuses, schools, the risk level, why it waits: none of it names anyone), and decrypts
only the page it shows. Sorting or searching by the child's name or age needs every
filtered row's child: that, alone, opens them all, from the few encrypted bytes kept for
it (``Notification.child_sort``; the police record for rows made before migration 0019),
and is the slower way through a long queue.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session, defer

from console.views import time_left
from consumers import held_account, review
from consumers.render import london_when
from consumers.wording import actor_words, risk_words, status_words, why_words
from foundations.clock import LONDON
from foundations.models import (
    UNSENT_STATUSES,
    AccountStatus,
    Incident,
    Notification,
    NotificationStatus,
    School,
)
from foundations.settings import Settings

PAGE_SIZE = 50
HELD_SHOWN = 5  # officers' accounts waiting, most urgent first, before "show all"

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


def conditions(q: Query, now: datetime, actor: str) -> list[ColumnElement[bool]]:
    """The filters that SQL can apply (all but the child's name)."""
    where: list[ColumnElement[bool]] = [Notification.status.in_([s.value for s in UNSENT_STATUSES])]
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


def _child(payload: dict[str, Any], person_id: str) -> dict[str, Any]:
    return next((p for p in payload.get("persons", []) if p.get("person_id") == person_id), {})


def _born(child: dict[str, Any]) -> date | None:
    try:
        return date.fromisoformat(str(child.get("date_of_birth") or ""))
    except ValueError:
        return None


def age_on(born: date | None, today: date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def child_name(child: dict[str, Any]) -> str:
    name = " ".join(str(child.get(k) or "") for k in ("given_names", "family_name")).strip()
    known = str(child.get("known_as") or "")
    return f"{name} (known as {known})" if known and known not in name.split() else name


def _by_child(session: Session, q: Query, where: list[Any], now: datetime) -> tuple[int, list[str]]:
    """Sorting or searching by the child: every filtered row's child is opened (the few
    encrypted bytes of ``child_sort``; the police record for rows made before it was
    kept), then the page is cut from the sorted list."""
    found = session.execute(
        select(Notification.id, Notification.child_sort, Notification.incident_id,
               Notification.revision, Notification.person_id)
        .outerjoin(School, School.urn == school_urn())
        .where(*where)
        .order_by(*order_by(q, now))
    ).all()  # fmt: skip
    older = [(i, r) for _, child, i, r, _ in found if child is None]
    records: dict[tuple[str, int], dict[str, Any]] = {}
    for i in range(0, len(older), 500):
        pairs = older[i : i + 500]
        for incident_id, revision, payload in session.execute(
            select(Incident.incident_id, Incident.revision, Incident.payload).where(
                Incident.incident_id.in_({p[0] for p in pairs})
            )
        ):
            records[(incident_id, revision)] = payload or {}
    wanted = q.child.casefold()
    keyed = []
    for nid, child, incident_id, revision, person_id in found:
        if child is None:
            child = _child(records.get((incident_id, revision), {}), person_id)
        names = " ".join(
            str(child.get(k) or "") for k in ("given_names", "known_as", "family_name")
        ).casefold()
        if wanted and wanted not in names:
            continue
        if q.sort == "age":
            born = _born(child)
            key: tuple[Any, ...] = (born is None, -(born.toordinal() if born else 0))
        else:
            key = (
                str(child.get("family_name") or "~").casefold(),
                str(child.get("given_names") or "").casefold(),
            )
        keyed.append((key, nid))
    if q.sort in ("child", "age"):
        # Stable: ties keep the most urgent first, whichever way round the key goes.
        keyed.sort(key=lambda kn: kn[0], reverse=q.order == "desc")
    start = (q.page - 1) * PAGE_SIZE
    return len(keyed), [nid for _, nid in keyed[start : start + PAGE_SIZE]]


def _page_ids(session: Session, q: Query, where: list[Any], now: datetime) -> tuple[int, list[str]]:
    if q.child or q.sort in ("child", "age"):
        return _by_child(session, q, where, now)
    base = select(Notification.id).outerjoin(School, School.urn == school_urn()).where(*where)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    ids = session.execute(
        base.order_by(*order_by(q, now)).offset((q.page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ).scalars()
    return total, list(ids)


def counts(session: Session, now: datetime) -> dict[str, int]:
    """How many wait, by status and by why, and how many are late: for the whole queue."""
    unsent = Notification.status.in_([s.value for s in UNSENT_STATUSES])
    out: dict[str, int] = {"all": 0, "late": 0, "account_held": 0}
    late = func.sum(case((is_late(now), 1), else_=0))
    held = func.sum(case((Notification.account_status == AccountStatus.HELD, 1), else_=0))
    for status, n, n_late, n_held in session.execute(
        select(Notification.status, func.count(), late, held).where(unsent)
        .group_by(Notification.status)
    ):  # fmt: skip
        out[str(status)] = n
        out["all"] += n
        out["late"] += int(n_late or 0)
        out["account_held"] += int(n_held or 0)
    rank = why_rank().label("why")
    for why, n in session.execute(select(rank, func.count()).where(unsent).group_by(rank)):
        out["why:" + WHY[why]] = n
    return out


def _rows(
    session: Session, settings: Settings, ids: list[str], now: datetime
) -> list[dict[str, Any]]:
    """The page's rows: only these notifications and police records are decrypted."""
    if not ids:
        return []
    found = session.execute(
        select(Notification, Incident.payload, why_rank())
        .outerjoin(
            Incident,
            and_(
                Incident.incident_id == Notification.incident_id,
                Incident.revision == Notification.revision,
            ),
        )
        .where(Notification.id.in_(ids))
        .options(defer(Notification.content), defer(Notification.child_sort))  # not shown
    ).all()
    by_id = {n.id: (n, payload or {}, why) for n, payload, why in found}
    urns = {n.urn or n.best_urn or "" for n, _, _ in found} | {
        str(n.candidates[0].get("urn")) for n, _, _ in found if not (n.urn or n.best_urn)
        and n.candidates
    }  # fmt: skip
    schools = {s.urn: s for s in session.execute(select(School).where(School.urn.in_(urns)))
               .scalars()}  # fmt: skip
    today = now.astimezone(LONDON).date()
    rows = []
    for nid in ids:
        n, payload, why = by_id[nid]
        child = _child(payload, n.person_id)
        best = n.candidates[0] if n.candidates else {}
        urn = n.urn or n.best_urn or str(best.get("urn") or "")
        school = schools.get(urn)
        risk = n.dash_risk or (str(payload.get("dash_risk") or "").strip().casefold() or None)
        grade = WHY[why] == "release_grade"
        late = n.deliver_by <= now or n.late_at is not None
        rows.append(
            {
                "id": n.id,
                "status": n.status,
                "status_label": status_words(n.status),
                "child": child_name(child) or "Not recorded",
                "age": age_on(_born(child), today),
                "risk": risk or "",
                "risk_label": risk_words(risk),
                "school": school.name if school else "",
                "urn": urn,
                "chosen": bool(n.urn),
                "why": WHY[why],
                "why_label": why_words(WHY[why]),
                "reason": n.reason,
                "account_held": held_account.is_held(n),
                "found": len(held_account.suspects_of(n)) if held_account.is_held(n) else 0,
                "score": n.match_score if n.match_score is not None else best.get("score"),
                "late": late,
                "deliver_by": short_when(n.deliver_by),
                "left": time_left(n.deliver_by, now),
                "claimed_by": actor_words(review.claim_holder(n, now)),
                "first_approved_by": actor_words(n.first_approved_by),
                # Bulk approval takes only these: release-grade, and one reviewer enough.
                "selectable": grade and not review.second_reviewer_needed(session, settings, n),
                "release_grade": grade,
            }
        )
    return rows


def short_when(moment: datetime) -> str:
    """``Mon 23 Nov 08:30``, in Europe/London time: a narrow column's due time."""
    return f"{moment.astimezone(LONDON):%a %d %b %H:%M}"


def held_rows(
    session: Session, now: datetime, *, every: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """Officers' accounts waiting for a person, whatever became of their notification (most
    are approved or sent already, with the structured account): the most urgent
    ``HELD_SHOWN``, or ``every`` one, and how many there are."""
    held = Notification.account_status == AccountStatus.HELD
    total = session.execute(select(func.count()).where(held)).scalar_one()
    query = select(Notification).where(held).order_by(Notification.deliver_by, Notification.id)
    notes = list(session.execute(query if every else query.limit(HELD_SHOWN)).scalars())
    urns = {n.urn for n in notes if n.urn}
    schools = {
        s.urn: s for s in session.execute(select(School).where(School.urn.in_(urns))).scalars()
    }
    return total, [
        {
            "id": n.id,
            "status_label": status_words(n.status),
            "sent_or_approved": n.status in (NotificationStatus.SENT, NotificationStatus.APPROVED),
            "school": schools[n.urn].name if n.urn in schools else "No school yet",
            "urn": n.urn or "",
            "found": len(held_account.suspects_of(n)),
            "deliver_by": london_when(n.deliver_by),
            "left": time_left(n.deliver_by, now) if n.status != NotificationStatus.SENT else "",
        }
        for n in notes
    ]


def pages_around(page: int, last: int) -> list[int | None]:
    """Page numbers to link: the first, the last, and two either side of this one; None
    where some are left out."""
    shown = sorted({1, last, *range(max(1, page - 2), min(last, page + 2) + 1)})
    out: list[int | None] = []
    for p in shown:
        if out and p - (out[-1] or 0) > 1:
            out.append(None)
        out.append(p)
    return out


def queue(
    session: Session, settings: Settings, now: datetime, q: Query, *, actor: str
) -> dict[str, Any]:
    """Everything the queue page shows."""
    where = conditions(q, now, actor)
    total, ids = _page_ids(session, q, where, now)
    last = max(1, -(-total // PAGE_SIZE))
    if q.page > last and total:
        q = replace(q, page=last)
        total, ids = _page_ids(session, q, where, now)
    rows = _rows(session, settings, ids, now)
    return {
        "rows": rows,
        "total": total,
        "q": q,
        "first": (q.page - 1) * PAGE_SIZE + 1 if rows else 0,
        "last_shown": (q.page - 1) * PAGE_SIZE + len(rows),
        "pages": pages_around(q.page, last),
        "last_page": last,
        "counts": counts(session, now),
        "selectable": any(r["selectable"] for r in rows),
        "choices": {
            "status": {s: ("Late" if s == "late" else status_words(s)) for s in STATUS_CHOICES},
            "why": {w: why_words(w) for w in (*WHY, "account_held")},
            "risk": {**{r: risk_words(r) for r in RISKS}, "none": risk_words(None)},
            "due": DUE_WORDS,
            "claimed": CLAIM_CHOICES,
        },
        "sorts": SORTS,
    }
