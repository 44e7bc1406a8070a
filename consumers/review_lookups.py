"""What a reviewer looks up and looks at, each audited in the caller's transaction: directory
searches for re-matching a notification (their terms kept encrypted, the audit row holding a
salted hash of them) and views of a notification's details.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from consumers.review import checked_text
from foundations.clock import utcnow
from foundations.models import AuditEvent, DirectorySearch, Notification, Pupil, School


def search_pupils(
    session: Session,
    n: Notification,
    *,
    actor: str,
    upn: str | None = None,
    date_of_birth: date | None = None,
    family_name: str | None = None,
    limit: int = 50,
) -> list[tuple[Pupil, School]]:
    """Re-match: look a child up in the directory by UPN, or by date of birth (and name),
    for notification ``n``. Every search that runs is audited with its terms
    (:func:`record_search`), in the caller's transaction."""
    checked_text(f"{upn or ''}{family_name or ''}", "search")
    query = select(Pupil, School).join(School, School.urn == Pupil.urn)
    if upn:
        query = query.where(Pupil.upn == upn.strip().upper())
    elif date_of_birth:
        query = query.where(Pupil.dob_key == date_of_birth.isoformat())
    else:
        return []
    rows = [(p, sc) for p, sc in session.execute(query.limit(500)).tuples()]
    if family_name:
        wanted = family_name.strip().casefold()
        rows = [(p, sc) for p, sc in rows if wanted in p.family_name.casefold()]
    found = rows[:limit]
    terms = {
        "upn": upn.strip().upper() if upn else None,
        "date_of_birth": None if upn or date_of_birth is None else date_of_birth.isoformat(),
        "family_name": family_name.strip() if family_name else None,
    }
    record_search(session, n, actor=actor, terms=terms, results=len(found))
    return found


def search_terms_sha256(terms: dict[str, Any]) -> str:
    """The commitment the audit row keeps: SHA-256 over the terms and their random salt, so
    that it cannot be reversed by trying every date of birth and name."""
    canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def record_search(
    session: Session, n: Notification, *, actor: str, terms: dict[str, str | None], results: int
) -> DirectorySearch:
    """The terms go to ``directory_searches`` (encrypted, purged with the incident); the
    audit row names the search, what it was by, how many pupils it showed, and the salted
    hash of the terms."""
    salted = {**terms, "salt": secrets.token_hex(16)}
    search = DirectorySearch(
        notification_id=n.id, terms=salted, results=results, actor=actor, at=utcnow()
    )
    session.add(search)
    session.flush()
    by = "upn" if terms.get("upn") else "date_of_birth"
    record(
        session,
        AuditAction.DIRECTORY_SEARCHED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={
            "search_id": search.id,
            "by": by,
            "family_name": terms.get("family_name") is not None,
            "results": results,
            "terms_sha256": search_terms_sha256(salted),
        },
    )
    return search


def searches(session: Session, notification_id: str | None = None) -> list[dict[str, Any]]:
    """Directory searches with their terms, for auditors: each checked against the hash its
    audit row holds (``matches_audit``), so an edited search row shows."""
    query = select(DirectorySearch).order_by(DirectorySearch.id)
    if notification_id is not None:
        query = query.where(DirectorySearch.notification_id == notification_id)
    audited: dict[int, str] = {}
    for details in session.execute(
        select(AuditEvent.details).where(AuditEvent.action == AuditAction.DIRECTORY_SEARCHED.value)
    ).scalars():
        if isinstance(details, dict) and isinstance(details.get("search_id"), int):
            audited[details["search_id"]] = str(details.get("terms_sha256"))
    out = []
    for s in session.execute(query).scalars():
        terms = {k: v for k, v in s.terms.items() if k != "salt"}
        out.append({
            "search_id": s.id, "notification_id": s.notification_id, "actor": s.actor,
            "at": s.at.isoformat(), **terms, "results": s.results,
            "matches_audit": audited.get(s.id) == search_terms_sha256(s.terms),
        })  # fmt: skip
    return out


def record_view(session: Session, n: Notification, *, actor: str, what: str = "details") -> None:
    """Who looked at what: every view of a notification's details leaves an audit row."""
    record(
        session,
        AuditAction.VIEWED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"what": what},
    )
