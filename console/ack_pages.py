"""The public acknowledgement pages, for the school's DSL who follows the e-mail's link.

A GET of a link shows a page without personal data (the reference only) and a button; only
the POST of that button records anything. The link is read (``Link``) before the database
is touched: a bad or expired one is the bad-link page (``bad_link``, installed by
``console.app``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from console.routing import Console, Ctx, Db, console
from consumers.acknowledge import (
    AckClaim,
    AckOutcome,
    AckResult,
    BadLink,
    LinkProblem,
    ack_state,
    acknowledge,
)
from consumers.render import london_when
from foundations.councils import councils_for
from foundations.models import Notification

router = APIRouter()


def _contact(c: Console, council: str | None = None) -> dict[str, Any]:
    """First Response of the council that owns the notification (docs/councils.md); for a
    link that cannot be read, the lead council's (in a single-council deployment,
    ``ENCOMPASS_FIRST_RESPONSE_*``)."""
    contact = councils_for(c.settings).first_response(council)
    return {"first_response_name": contact.name, "first_response_phone": contact.phone}


def _council(db: Session, claim: AckClaim) -> str | None:
    n = db.get(Notification, claim.notification_id)
    return n.council if n is not None else None


def read_link(c: Ctx, token: str) -> AckClaim:
    return c.links.read(token, c.clock())  # BadLink: the bad-link page


Link = Annotated[AckClaim, Depends(read_link)]


def bad_link(request: Request, why: Exception) -> HTMLResponse:
    assert isinstance(why, BadLink)
    c = console(request)
    return c.templates.TemplateResponse(
        request,
        "bad_link.html.j2",
        {"problem": why.problem.value, "ttl_days": c.settings.ack_link_ttl_days, **_contact(c)},
        status_code=410 if why.problem is LinkProblem.EXPIRED else 400,
    )


def _page(request: Request, c: Console, result: AckResult, council: str | None) -> HTMLResponse:
    when = london_when(result.acknowledged_at) if result.acknowledged_at else ""
    status = 404 if result.outcome is AckOutcome.UNAVAILABLE else 200
    return c.templates.TemplateResponse(
        request,
        "ack.html.j2",
        {"outcome": result.outcome.value, "reference": result.reference, "when": when,
         **_contact(c, council)},
        status_code=status,
    )  # fmt: skip


@router.get("/ack/{token}", response_class=HTMLResponse)
def ack_page(request: Request, claim: Link, c: Ctx, db: Db) -> HTMLResponse:
    """Shows the button; records nothing (mail scanners open every link)."""
    return _page(request, c, ack_state(db, claim), _council(db, claim))


@router.post("/ack/{token}", response_class=HTMLResponse)
def ack_submit(request: Request, claim: Link, c: Ctx, db: Db) -> HTMLResponse:
    """Records the acknowledgement, once, with its audit row."""
    return _page(request, c, acknowledge(db, claim, c.clock()), _council(db, claim))
