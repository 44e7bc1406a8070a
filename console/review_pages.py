"""First Response's pages: the queue, a notification and its actions, the sent list and
the (demo) mail folder. Every action goes through ``consumers.review`` (and
``consumers.held_account``), the same functions the CLI and the API use.

Every route here is for a reviewer (``Reviewer``); every form also carries the session's
CSRF token (``form_csrf``), and runs in the request's one transaction (``Db``). An action
that is refused (``ReviewError``, ``AccountError``) is rolled back and the reviewer comes
back to the notification with the reason; a notification that does not exist is the 404
page (``NotFound``): both in ``console.app``.
"""

from __future__ import annotations

from datetime import date
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from console import queue_query, queue_view, views
from console.auth import Principal
from console.routing import Ctx, Db, Reviewer, claimed, form_csrf, reviewer, see_other
from consumers import held_account, review, review_lookups
from foundations.models import AccountStatus, Notification, NotificationStatus

pages = APIRouter(dependencies=[Depends(reviewer)])
forms = APIRouter(dependencies=[Depends(reviewer), Depends(form_csrf)])  # role, then token

NO_IDS = Form([])  # the bulk form with nothing ticked


def to_queue(notice: str) -> RedirectResponse:
    return see_other("/queue?notice=" + quote(notice))


def to_notification(nid: str) -> RedirectResponse:
    return see_other(f"/notifications/{quote(nid)}")


@pages.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, c: Ctx, db: Db, who: Reviewer, held: str = "") -> HTMLResponse:
    """The queue, filtered, sorted and a page at a time (``console.queue_view``)."""
    q = queue_query.Query.of(request.query_params)
    now = c.clock()
    held_total, held_rows = queue_view.held_rows(db, now, who.scope, every=held == "all")
    return c.page(
        request, "queue.html.j2", who=who, held=held_rows, held_total=held_total,
        notice=request.query_params.get("notice", ""),
        **queue_view.queue(db, c.settings, now, q, actor=who.actor, scope=who.scope),
    )  # fmt: skip


@forms.post("/queue/approve")
def bulk(c: Ctx, db: Db, who: Reviewer, ids: list[str] = NO_IDS, back: str = Form("")) -> Response:
    done, refused = review.bulk_approve(db, c.settings, ids, actor=who.actor, scope=who.scope)
    notice = f"{len(done)} approved" + (f", {len(refused)} left for review" if refused else "")
    # Back to the queue as it was filtered and sorted (rebuilt from what it knows, so the
    # field can only ever lead to the queue), on its first page.
    where = queue_query.Query.of(dict(parse_qsl(back.partition("?")[2]))).link(page=1)
    return see_other(where + ("&" if "?" in where else "?") + "notice=" + quote(notice))


def pupil_search(
    db: Session, n: Notification, who: Principal, upn: str, dob: str, family: str
) -> tuple[dict[str, Any], str]:
    """The notification page's search for the child's pupil record (audited by
    ``review_lookups.search_pupils``), and an error to show, if any."""
    found, error = [], ""
    if "\x00" in upn + dob + family:
        upn, dob, family, error = "", "", "", "That search cannot be run."
    if upn or dob:
        try:
            born = date.fromisoformat(dob) if dob else None
        except ValueError:
            born, error = None, "Enter the date of birth as YYYY-MM-DD."
        found = [
            {"upn": p.upn, "urn": p.urn, "school": s.name, "dob": p.date_of_birth,
             "name": f"{p.given_names} {p.family_name}"}
            for p, s in review_lookups.search_pupils(
                db, n, actor=who.actor, upn=upn or None, date_of_birth=born,
                family_name=family or None,
            )
        ]  # fmt: skip
    search = {"upn": upn, "dob": dob, "family": family, "results": found,
              "searched": bool(upn or dob)}  # fmt: skip
    return search, error


@pages.get("/notifications/{nid}", response_class=HTMLResponse)
def notification_page(
    request: Request, c: Ctx, db: Db, who: Reviewer, nid: str, upn: str = "", dob: str = "",
    family: str = "", error: str = "",
) -> HTMLResponse:  # fmt: skip
    n = review.get(db, nid, who.scope)
    review_lookups.record_view(db, n, actor=who.actor)
    search, refused = pupil_search(db, n, who, upn, dob, family)
    return c.page(
        request, "notification.html.j2", who=who, search=search, error=refused or error,
        **views.detail(db, c.settings, n, c.clock()),
    )  # fmt: skip


@forms.post("/notifications/{nid}/claim")
def claim(c: Ctx, db: Db, who: Reviewer, nid: str) -> Response:
    review.claim(db, c.settings, nid, actor=who.actor, scope=who.scope)
    return to_notification(nid)


@forms.post("/notifications/{nid}/approve")
def approve(
    c: Ctx, db: Db, who: Reviewer, nid: str, upn: str = Form(""), urn: str = Form("")
) -> Response:
    with claimed(db, c.settings, nid, who):
        n = review.approve(
            db, c.settings, nid, actor=who.actor, upn=upn or None, urn=urn or None, scope=who.scope
        )
    if n.status != NotificationStatus.APPROVED:
        return to_queue(f"{nid}: first approval recorded; a second reviewer must approve it")
    return to_queue(f"{nid} approved for {n.urn}: it will be sent now")


@forms.post("/notifications/{nid}/choose")
def choose(
    c: Ctx, db: Db, who: Reviewer, nid: str, upn: str = Form(""), urn: str = Form("")
) -> Response:
    with claimed(db, c.settings, nid, who):
        review.rematch(
            db, c.settings, nid, actor=who.actor, upn=upn, urn=urn or None, scope=who.scope
        )
    return to_notification(nid)


@forms.post("/notifications/{nid}/reject")
def reject(c: Ctx, db: Db, who: Reviewer, nid: str, reason: str = Form("")) -> Response:
    with claimed(db, c.settings, nid, who):
        review.reject(db, nid, actor=who.actor, reason=reason, scope=who.scope)
    return to_queue(f"{nid} rejected")


@forms.post("/notifications/{nid}/route")
def route(c: Ctx, db: Db, who: Reviewer, nid: str, to: str = Form("")) -> Response:
    """A child on no roll, to the home council's ehe or cme officer (consumers/routes.py)."""
    with claimed(db, c.settings, nid, who):
        n = review.route_to_officer(db, c.settings, nid, actor=who.actor, to=to, scope=who.scope)
    if n.status != NotificationStatus.APPROVED:
        return to_queue(f"{nid} routed: first approval recorded; a second reviewer must approve it")
    return to_queue(f"{nid} routed to the home council's {to} officer: it will be sent now")


@forms.post("/notifications/{nid}/edit")
def edit(c: Ctx, db: Db, who: Reviewer, nid: str, account: str = Form("")) -> Response:
    with claimed(db, c.settings, nid, who):
        review.edit_account(db, nid, actor=who.actor, account=account, scope=who.scope)
    return to_notification(nid)


# The officer's held account: released or discarded at any status (most are sent), so no
# claim is taken.


@forms.post("/notifications/{nid}/account/release")
def release_account(
    c: Ctx, db: Db, who: Reviewer, nid: str, account: str = Form(""), as_read: str = Form("")
) -> Response:
    n = review.get(db, nid, who.scope)
    held_account.release(db, c.settings, n, actor=who.actor, account=None if as_read else account)
    if n.account_status == AccountStatus.FOLLOW_UP:
        return to_queue(f"{nid}: the officer's account will follow to the school now")
    return to_queue(f"{nid}: the officer's account is in the notification")


@forms.post("/notifications/{nid}/account/discard")
def discard_account(c: Ctx, db: Db, who: Reviewer, nid: str, reason: str = Form("")) -> Response:
    held_account.discard(db, review.get(db, nid, who.scope), actor=who.actor, reason=reason)
    return to_queue(f"{nid}: the officer's account was discarded; the school keeps what it has")


@forms.post("/notifications/{nid}/recall")
def recall(c: Ctx, db: Db, who: Reviewer, nid: str, reason: str = Form("")) -> Response:
    review.recall(db, c.settings, nid, actor=who.actor, reason=reason, scope=who.scope)
    return see_other(f"/sent?notice={quote(nid + ' recalled: the school is asked to delete it')}")


@pages.get("/sent", response_class=HTMLResponse)
def sent_page(request: Request, c: Ctx, db: Db, who: Reviewer) -> HTMLResponse:
    return c.page(request, "sent.html.j2", who=who, rows=views.sent_rows(db, c.clock(), who.scope),
                  notice=request.query_params.get("notice", ""))  # fmt: skip


@pages.get("/mail", response_class=HTMLResponse)
def mail_page(request: Request, c: Ctx, who: Reviewer, name: str = "") -> HTMLResponse:
    folder = c.settings.data_dir / "demo-mail"
    # The demo's mail folder holds every council's e-mails: shown only where an account
    # sees every notification (a single-council deployment).
    every = who.scope.everything and folder.is_dir()
    files = sorted(folder.glob("*.eml"), reverse=True)[:200] if every else []
    messages, shown = [], None
    for path in files:
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        item = {"name": path.name, "subject": parsed["subject"], "to": parsed["to"],
                "date": parsed["date"]}  # fmt: skip
        messages.append(item)
        if path.name == name:
            body = parsed.get_body(("plain",))
            shown = {**item, "text": body.get_content() if body else ""}
    return c.page(request, "mail.html.j2", who=who, messages=messages, shown=shown,
                  demo=folder.is_dir())  # fmt: skip
