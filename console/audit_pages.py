"""The auditor's page: the notifications' records searched by school, pupil, incident and
dates (each search audited, ``report_produced``), and the audit chain's verification.
For auditors and admins (``Auditor``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from audit import incremental, reports
from audit.ledger import AuditAction, record
from console.routing import Auditor, Ctx, Db, auditor
from consumers.wording import late_words
from foundations.clock import LONDON

router = APIRouter(dependencies=[Depends(auditor)])


def report_query(
    school: str, upn: str, incident: str, since: str, until: str
) -> reports.ReportQuery | None:
    """The search as asked; None when a date is not YYYY-MM-DD."""
    try:
        return reports.ReportQuery(
            urn=school or None, upn=upn or None, incident_id=incident or None,
            since=date.fromisoformat(since) if since else None,
            until=date.fromisoformat(until) if until else None,
        )  # fmt: skip
    except ValueError:
        return None


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A report row as the page shows it: the sending time in London, and how late."""
    sent = datetime.fromisoformat(row["sent_at"]).astimezone(LONDON) if row["sent_at"] else None
    minutes = row.get("late_by_minutes")
    late = late_words(timedelta(minutes=minutes)) if minutes is not None else ""
    when = "after its deadline" if sent else "past its deadline, not sent"
    return {**row, "sent": f"{sent:%Y-%m-%d %H:%M}" if sent else "",
            "late": f"{late} {when}" if late else ""}  # fmt: skip


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    c: Ctx,
    db: Db,
    who: Auditor,
    school: str = "",
    upn: str = "",
    incident: str = "",
    since: str = Query("", alias="from"),
    until: str = Query("", alias="to"),
    full: str = "",
) -> HTMLResponse:
    error, rows = "", None
    if "\x00" in school + upn + incident + since + until:
        school, upn, incident, since, until = "", "", "", "", ""
        error = "That search cannot be run."
    query = report_query(school, upn, incident, since, until)
    if query is None:
        error = "Enter dates as YYYY-MM-DD."
    if query is not None and any(query.describe().values()):
        found = reports.notification_rows(db, query, scope=who.scope)
        rows = [shown(r) for r in found]
        details: dict[str, Any] = {"query": query.describe(), "rows": len(rows), "via": "console"}
        if not who.scope.everything:
            details["councils"] = who.scope.describe()
        record(db, AuditAction.REPORT_PRODUCED, actor=who.actor, details=details)
    # Only rows and heads added since the last load; ?full=1 checks everything.
    verification = incremental.check(db, c.settings, full=bool(full))
    return c.page(
        request, "audit.html.j2", who=who, rows=rows, error=error,
        verification=verification,
        form={"school": school, "upn": upn, "incident": incident, "from": since, "to": until},
    )  # fmt: skip
