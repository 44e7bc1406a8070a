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

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, defer

from console.queue_query import (
    CLAIM_CHOICES,
    DUE_WORDS,
    RISKS,
    SORTS,
    STATUS_CHOICES,
    WHY,
    Query,
    conditions,
    is_late,
    order_by,
    school_urn,
    why_rank,
)
from console.views import time_left
from consumers import held_account, review, routes
from consumers.render import london_when
from consumers.wording import actor_words, risk_words, status_words, why_words
from foundations.clock import LONDON
from foundations.council_scope import Scope
from foundations.councils import councils_for
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


def counts(session: Session, now: datetime, scope: Scope) -> dict[str, int]:
    """How many wait, by status and by why, and how many are late: for the whole queue (of
    the reviewer's councils)."""
    unsent = and_(Notification.status.in_([s.value for s in UNSENT_STATUSES]), scope.condition())
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
    councils = councils_for(settings)
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
                # A school beyond the deployment's councils, or an officer (consumers/routes.py).
                "route": routes.marker(councils, n) or "",
            }
        )
    return rows


def short_when(moment: datetime) -> str:
    """``Mon 23 Nov 08:30``, in Europe/London time: a narrow column's due time."""
    return f"{moment.astimezone(LONDON):%a %d %b %H:%M}"


def held_rows(
    session: Session, now: datetime, scope: Scope, *, every: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """Officers' accounts waiting for a person, whatever became of their notification (most
    are approved or sent already, with the structured account): the most urgent
    ``HELD_SHOWN``, or ``every`` one, and how many there are."""
    held = and_(Notification.account_status == AccountStatus.HELD, scope.condition())
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
    session: Session, settings: Settings, now: datetime, q: Query, *, actor: str, scope: Scope
) -> dict[str, Any]:
    """Everything the queue page shows, of the reviewer's councils."""
    where = conditions(q, now, actor, scope)
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
        "counts": counts(session, now, scope),
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
