"""The directory's health, as the console shows it (``/directory/health``): the same report
and gates as ``encompass directory health`` (``school_directory.health``), read when the
page is opened. For auditors and admins (``Auditor``): it is the go-live and assurance
check of whoever answers for the directory; First Response sees a bounced address on the
notification it concerns, and has no need of every school's contacts at once."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from console.routing import Auditor, Ctx, Db, auditor
from school_directory import health

router = APIRouter(dependencies=[Depends(auditor)])


@router.get("/directory/health", response_class=HTMLResponse)
def health_page(request: Request, c: Ctx, db: Db, who: Auditor) -> HTMLResponse:
    thresholds = health.Thresholds.from_settings(c.settings)
    report = health.directory_health(db, thresholds, c.clock())
    gates = health.evaluate(report)
    return c.page(
        request, "health.html.j2", who=who, report=report, gates=gates,
        passed=health.passed(gates), t=thresholds,
    )  # fmt: skip
