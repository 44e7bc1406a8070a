"""The JSON API under ``/api/``: the reviewer's actions for councils that integrate their
case systems, with an OpenAPI document at ``/api/openapi.json`` for signed-in users (and
at ``/openapi.json`` on the internal listener, broker/internal.py).

Authentication is the console's session: ``GET /api/session`` returns a sign-in CSRF token
(and sets its cookie); ``POST /api/session`` with that token as ``X-CSRF-Token`` and a
username and password (and ``code``, the authenticator's code or a recovery code, for an
account with a second factor) sets the session cookie and returns the session's CSRF token,
which every other POST sends as ``X-CSRF-Token``. The actions are ``consumers.review``'s, as
on the pages and in the CLI.

The routes are in three routers: signing in and out (``sessions``), reading (``reading``,
for reviewers) and acting (``acting``, for reviewers with the CSRF header); the refusals
become JSON problems in ``create_api``.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response

from console import mfa, signin
from console.accounts import Throttled, authenticate
from console.api_models import (
    ERRORS,
    AccountEdit,
    Approval,
    BulkApproval,
    BulkOutcome,
    Credentials,
    NotificationDetail,
    Outcome,
    QueueItem,
    Rejection,
    Rematch,
    Routing,
    SessionInfo,
    SignInToken,
)
from console.auth import BadCsrf, Forbidden, NotSignedIn
from console.routing import (
    Console,
    Ctx,
    Db,
    Reviewer,
    SignedIn,
    claimed,
    header_csrf,
    reviewer,
)
from console.throttle import client_address
from consumers import review, review_lookups, review_view
from foundations.database import transaction
from foundations.models import ConsoleUser, Notification, NotificationStatus

sessions = APIRouter()
reading = APIRouter(dependencies=[Depends(reviewer)], responses=ERRORS)
acting = APIRouter(dependencies=[Depends(reviewer), Depends(header_csrf)], responses=ERRORS)

# The refusals, as JSON: (exception, status, detail; None for the exception's own words).
PROBLEMS: list[tuple[type[Exception], int, str | None]] = [
    (NotSignedIn, 401, "sign in first"),
    (Forbidden, 403, "your role does not allow this"),
    (BadCsrf, 403, "missing or wrong X-CSRF-Token"),
    (review.NotFound, 404, None),
    (review.ReviewError, 409, None),
]


def create_api(c: Console) -> FastAPI:
    api = FastAPI(
        title="Operation Encompass console API",
        version="1",
        openapi_url=None,  # served below, to signed-in users only
        servers=[{"url": "/api"}],  # mounted there by console.app
        docs_url=None,
        redoc_url=None,
    )
    api.state.console = c
    for kind, status, detail in PROBLEMS:
        api.add_exception_handler(kind, _problem_handler(status, detail))
    for router in (sessions, reading, acting):
        api.include_router(router)
    return api


def _problem_handler(status: int, detail: str | None) -> Any:
    def handler(request: Request, exc: Exception) -> Response:
        return problem(detail or str(exc), status)

    return handler


def problem(detail: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


@sessions.get("/openapi.json", include_in_schema=False)
def openapi_document(request: Request, who: SignedIn) -> dict[str, Any]:
    """The document, for a signed-in user of any role: it stays off the public URL that
    serves the acknowledgement pages (operators have it on the internal listener)."""
    document: dict[str, Any] = request.app.openapi()
    return document


@sessions.get("/session", response_model=SignInToken)
def sign_in_token(request: Request, c: Ctx) -> Response:
    """The token ``POST /api/session`` needs as ``X-CSRF-Token`` (with this cookie)."""
    nonce, token = c.signin.issue(request)
    response = JSONResponse({"csrf_token": token})
    c.signin.set_cookie(response, nonce)
    return response


def too_many(wait: Throttled) -> JSONResponse:
    return problem(
        f"too many attempts: wait {wait.wait_s} s", 429, {"Retry-After": str(wait.wait_s)}
    )


def second_factor(
    c: Console, user: ConsoleUser, code: str | None, address: str, now: datetime
) -> mfa.Factor | JSONResponse:
    """The second factor of an account that needs one, checked; or the refusal."""
    if user.totp_secret is None:
        return problem("this account must set up its second factor: "
                       "sign in to the console in a browser first", 403)  # fmt: skip
    if not code:
        return problem("a second factor is needed: send the code from the authenticator "
                       "app (or a recovery code) as code", 401)  # fmt: skip
    try:
        factor = mfa.check(c.sessions, c.settings, user.username, code, address=address,
                           now=now)  # fmt: skip
    except Throttled as wait:
        return too_many(wait)
    return factor if factor is not None else problem("the second factor is not right", 401)


@sessions.post("/session", response_model=SessionInfo, responses=ERRORS)
def sign_in(
    request: Request, c: Ctx, body: Credentials, x_csrf_token: str | None = Header(None)
) -> Response:
    c.signin.check(request, x_csrf_token)  # before any password is checked
    address, now = client_address(request, c.settings), c.clock()
    try:
        user = authenticate(c.sessions, c.settings, body.username, body.password,
                            address=address, now=now)  # fmt: skip
    except Throttled as wait:
        return too_many(wait)
    if user is None:
        return problem("wrong username or password", 401)
    factor = (
        second_factor(c, user, body.code, address, now) if mfa.required(c.settings, user) else None
    )
    if isinstance(factor, JSONResponse):
        return factor
    with transaction(c.sessions) as session:
        token, _ = signin.open_session(session, c.settings, user, now=now, via="api",
                                       factor=factor)  # fmt: skip
    csrf = secrets.token_urlsafe(32)
    response = JSONResponse({"username": user.username, "role": user.role,
                             "csrf_token": csrf})  # fmt: skip
    c.cookies.issue(response, token, csrf)
    return response


@sessions.delete("/session", status_code=204, responses=ERRORS)
def sign_out(request: Request, c: Ctx, x_csrf_token: str | None = Header(None)) -> Response:
    """Sign out: the session ends on the server, not only in this client."""
    signin.sign_out(request, c.cookies, c.sessions, c.clock, x_csrf_token or "")
    response = Response(status_code=204)
    c.cookies.clear(response)
    return response


def item(n: Notification, now: datetime) -> dict[str, Any]:
    row = review.as_row(n)
    return {
        **{k: row[k] for k in ("notification_id", "incident_id", "person_id", "status",
                               "deliver_by", "urn", "upn")},
        "claimed_by": review.claim_holder(n, now),
        "release_grade": review.release_grade(n),
        "candidates": [{k: x[k] for k in ("upn", "urn", "score")} for x in row["candidates"]],
    }  # fmt: skip


@reading.get("/queue", response_model=list[QueueItem])
def queue(c: Ctx, db: Db, who: Reviewer) -> list[dict[str, Any]]:
    now = c.clock()
    return [item(n, now) for n in review.queue(db, who.scope)]


@reading.get("/notifications/{nid}", response_model=NotificationDetail)
def notification(c: Ctx, db: Db, who: Reviewer, nid: str) -> dict[str, Any]:
    n = review.get(db, nid, who.scope)
    review_lookups.record_view(db, n, actor=who.actor, what="api")
    preview = review_view.preview(db, c.settings, n)  # as the school will get it
    return {
        **item(n, c.clock()),
        "reason": n.reason,
        "preview_subject": preview.subject if preview else None,
        "preview_text": preview.text if preview else None,
    }


def outcome(n: Notification, message: str) -> dict[str, Any]:
    return {"notification_id": n.id, "status": n.status, "message": message}


@acting.post("/notifications/{nid}/claim", response_model=Outcome)
def claim(c: Ctx, db: Db, who: Reviewer, nid: str) -> dict[str, Any]:
    n = review.claim(db, c.settings, nid, actor=who.actor, scope=who.scope)
    return outcome(n, f"claimed by {who.username}")


@acting.post("/notifications/{nid}/approve", response_model=Outcome)
def approve(c: Ctx, db: Db, who: Reviewer, nid: str, body: Approval) -> dict[str, Any]:
    with claimed(db, c.settings, nid, who):
        n = review.approve(
            db, c.settings, nid, actor=who.actor, upn=body.upn, urn=body.urn, scope=who.scope
        )
    done = n.status == NotificationStatus.APPROVED
    return outcome(n, "approved" if done else "first approval: a second reviewer must approve")


@acting.post("/notifications/{nid}/reject", response_model=Outcome)
def reject(c: Ctx, db: Db, who: Reviewer, nid: str, body: Rejection) -> dict[str, Any]:
    with claimed(db, c.settings, nid, who):
        n = review.reject(db, nid, actor=who.actor, reason=body.reason, scope=who.scope)
    return outcome(n, "rejected")


@acting.post("/notifications/{nid}/account", response_model=Outcome)
def edit(c: Ctx, db: Db, who: Reviewer, nid: str, body: AccountEdit) -> dict[str, Any]:
    with claimed(db, c.settings, nid, who):
        n = review.edit_account(db, nid, actor=who.actor, account=body.account, scope=who.scope)
    return outcome(n, "account changed")


@acting.post("/notifications/{nid}/rematch", response_model=Outcome)
def rematch(c: Ctx, db: Db, who: Reviewer, nid: str, body: Rematch) -> dict[str, Any]:
    with claimed(db, c.settings, nid, who):
        n = review.rematch(
            db, c.settings, nid, actor=who.actor, upn=body.upn, urn=body.urn, scope=who.scope
        )
    return outcome(n, f"now for school {n.urn}: not yet approved")


@acting.post("/notifications/{nid}/route", response_model=Outcome)
def route(c: Ctx, db: Db, who: Reviewer, nid: str, body: Routing) -> dict[str, Any]:
    with claimed(db, c.settings, nid, who):
        n = review.route_to_officer(
            db, c.settings, nid, actor=who.actor, to=body.to, scope=who.scope
        )
    done = n.status == NotificationStatus.APPROVED
    return outcome(n, f"routed to the {body.to} officer" + ("" if done else ": first approval"))


@acting.post("/queue/approve", response_model=BulkOutcome)
def bulk(c: Ctx, db: Db, who: Reviewer, body: BulkApproval) -> dict[str, Any]:
    """Approve several at once: only release-grade ones; the rest are refused, with why."""
    done, refused = review.bulk_approve(
        db, c.settings, body.notification_ids, actor=who.actor, scope=who.scope
    )
    return {"approved": [n.id for n in done], "refused": refused}


@acting.post("/notifications/{nid}/recall", response_model=Outcome)
def recall(c: Ctx, db: Db, who: Reviewer, nid: str, body: Rejection) -> dict[str, Any]:
    n = review.recall(db, c.settings, nid, actor=who.actor, reason=body.reason, scope=who.scope)
    return outcome(n, "recalled: a retraction is on its way to the school")
