"""The JSON API under ``/api/``: the reviewer's actions for councils that integrate their
case systems, with an OpenAPI document at ``/api/openapi.json`` for signed-in users (and
at ``/openapi.json`` on the internal listener, broker/internal.py).

Authentication is the console's session: ``GET /api/session`` returns a sign-in CSRF token
(and sets its cookie); ``POST /api/session`` with that token as ``X-CSRF-Token`` and a
username and password (and ``code``, the authenticator's code or a recovery code, for an
account with a second factor) sets the session cookie and returns the session's CSRF token,
which every other POST sends as ``X-CSRF-Token``. The actions are ``consumers.review``'s, as
on the pages and in the CLI.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from console import mfa, signin, views
from console.accounts import Throttled, authenticate
from console.auth import BadCsrf, Forbidden, NotSignedIn, Principal, check_csrf, require
from console.pages import Console
from console.throttle import client_address
from consumers import review, review_lookups
from foundations.database import transaction


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=1000)
    # The second factor, for accounts that have one: a TOTP code or a recovery code.
    code: str | None = Field(default=None, max_length=64)


class SignInToken(BaseModel):
    csrf_token: str


class SessionInfo(BaseModel):
    username: str
    role: str
    csrf_token: str


class Candidate(BaseModel):
    upn: str
    urn: str
    score: float


class QueueItem(BaseModel):
    notification_id: str
    incident_id: str
    person_id: str
    status: str
    deliver_by: str
    urn: str | None
    upn: str | None
    claimed_by: str | None
    release_grade: bool
    candidates: list[Candidate]


class NotificationDetail(QueueItem):
    reason: str
    preview_subject: str | None
    preview_text: str | None


class Approval(BaseModel):
    upn: str | None = Field(default=None, max_length=13)
    urn: str | None = Field(default=None, max_length=16)


class Rematch(BaseModel):
    upn: str = Field(min_length=1, max_length=13)
    urn: str | None = Field(default=None, max_length=16)


class BulkApproval(BaseModel):
    notification_ids: list[str] = Field(min_length=1, max_length=200)


class BulkOutcome(BaseModel):
    approved: list[str]
    refused: dict[str, str]


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AccountEdit(BaseModel):
    account: str = Field(min_length=1, max_length=20_000)


class Outcome(BaseModel):
    notification_id: str
    status: str
    message: str


class Problem(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem},
    409: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem},
}  # fmt: skip


def create_api(c: Console) -> FastAPI:
    api = FastAPI(
        title="Operation Encompass console API",
        version="1",
        openapi_url=None,  # served below, to signed-in users only
        servers=[{"url": "/api"}],  # mounted there by console.app
        docs_url=None,
        redoc_url=None,
    )

    @api.exception_handler(NotSignedIn)
    def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return JSONResponse({"detail": "sign in first"}, status_code=401)

    @api.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> Response:
        return JSONResponse({"detail": "your role does not allow this"}, status_code=403)

    @api.exception_handler(BadCsrf)
    def bad_csrf(request: Request, exc: BadCsrf) -> Response:
        return JSONResponse({"detail": "missing or wrong X-CSRF-Token"}, status_code=403)

    @api.exception_handler(review.ReviewError)
    def refused(request: Request, exc: review.ReviewError) -> Response:
        status = 404 if str(exc).startswith("no notification") else 409
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @api.get("/openapi.json", include_in_schema=False)
    def openapi_document(request: Request) -> dict[str, Any]:
        """The document, for a signed-in user of any role: it stays off the public URL that
        serves the acknowledgement pages (operators have it on the internal listener)."""
        with transaction(c.sessions) as session:
            c.who(request, session)  # NotSignedIn: 401
        return api.openapi()

    def item(n: Any, now: Any) -> dict[str, Any]:
        row = review.as_row(n)
        return {
            **{k: row[k] for k in ("notification_id", "incident_id", "person_id", "status",
                                   "deliver_by", "urn", "upn")},
            "claimed_by": review.claim_holder(n, now),
            "release_grade": review.release_grade(n),
            "candidates": [{k: x[k] for k in ("upn", "urn", "score")} for x in row["candidates"]],
        }  # fmt: skip

    @api.get("/session", response_model=SignInToken)
    def sign_in_token(request: Request) -> Response:
        """The token ``POST /api/session`` needs as ``X-CSRF-Token`` (with this cookie)."""
        nonce, token = c.signin.issue(request)
        response = JSONResponse({"csrf_token": token})
        c.signin.set_cookie(response, nonce)
        return response

    @api.post("/session", response_model=SessionInfo, responses=ERRORS)
    def sign_in(
        request: Request, body: Credentials, x_csrf_token: str | None = Header(None)
    ) -> Response:
        c.signin.check(request, x_csrf_token)  # before any password is checked
        address, now = client_address(request, c.settings), c.clock()

        def too_many(wait: Throttled) -> Response:
            return JSONResponse(
                {"detail": f"too many attempts: wait {wait.wait_s} s"},
                status_code=429,
                headers={"Retry-After": str(wait.wait_s)},
            )

        try:
            user = authenticate(c.sessions, c.settings, body.username, body.password,
                                address=address, now=now)  # fmt: skip
        except Throttled as wait:
            return too_many(wait)
        if user is None:
            return JSONResponse({"detail": "wrong username or password"}, status_code=401)
        factor = None
        if mfa.required(c.settings, user):
            if user.totp_secret is None:
                return JSONResponse({"detail": "this account must set up its second factor: "
                                     "sign in to the console in a browser first"},
                                    status_code=403)  # fmt: skip
            if not body.code:
                return JSONResponse({"detail": "a second factor is needed: send the code "
                                     "from the authenticator app (or a recovery code) as code"},
                                    status_code=401)  # fmt: skip
            try:
                factor = mfa.check(c.sessions, c.settings, user.username, body.code,
                                   address=address, now=now)  # fmt: skip
            except Throttled as wait:
                return too_many(wait)
            if factor is None:
                return JSONResponse({"detail": "the second factor is not right"},
                                    status_code=401)  # fmt: skip
        with transaction(c.sessions) as session:
            token, _ = signin.open_session(session, c.settings, user, now=now, via="api",
                                           factor=factor)  # fmt: skip
        csrf = secrets.token_urlsafe(32)
        response = JSONResponse({"username": user.username, "role": user.role,
                                 "csrf_token": csrf})  # fmt: skip
        c.cookies.issue(response, token, csrf)
        return response

    @api.delete("/session", status_code=204, responses=ERRORS)
    def sign_out(request: Request, x_csrf_token: str | None = Header(None)) -> Response:
        """Sign out: the session ends on the server, not only in this client."""
        signin.sign_out(request, c.cookies, c.sessions, c.clock, x_csrf_token or "")
        response = Response(status_code=204)
        c.cookies.clear(response)
        return response

    def signed_in(request: Request, csrf: str | None, *, write: bool) -> Principal:
        with transaction(c.sessions) as session:
            who = require(c.who(request, session), review=True)
        if write:
            check_csrf(who, csrf)
        return who

    @api.get("/queue", response_model=list[QueueItem], responses=ERRORS)
    def queue(request: Request) -> list[dict[str, Any]]:
        signed_in(request, None, write=False)
        with transaction(c.sessions) as session:
            now = c.clock()
            return [item(n, now) for n in review.queue(session)]

    @api.get("/notifications/{nid}", response_model=NotificationDetail, responses=ERRORS)
    def notification(request: Request, nid: str) -> dict[str, Any]:
        who = signed_in(request, None, write=False)
        with transaction(c.sessions) as session:
            n = review.get(session, nid)
            review_lookups.record_view(session, n, actor=who.actor, what="api")
            shown = views.detail(session, c.settings, n, c.clock())
            preview = shown["preview"]
            return {
                **item(n, c.clock()),
                "reason": n.reason,
                "preview_subject": preview.subject if preview else None,
                "preview_text": preview.text if preview else None,
            }

    def outcome(n: Any, message: str) -> dict[str, Any]:
        return {"notification_id": n.id, "status": n.status, "message": message}

    @api.post("/notifications/{nid}/claim", response_model=Outcome, responses=ERRORS)
    def claim(
        request: Request, nid: str, x_csrf_token: str | None = Header(None)
    ) -> dict[str, Any]:
        who = signed_in(request, x_csrf_token, write=True)
        with transaction(c.sessions) as session:
            n = review.claim(session, c.settings, nid, actor=who.actor)
            return outcome(n, f"claimed by {who.username}")

    @api.post("/notifications/{nid}/approve", response_model=Outcome, responses=ERRORS)
    def approve(
        request: Request, nid: str, body: Approval, x_csrf_token: str | None = Header(None)
    ) -> dict[str, Any]:
        who = signed_in(request, x_csrf_token, write=True)
        with transaction(c.sessions) as session:
            review.claim(session, c.settings, nid, actor=who.actor)
            n = review.approve(session, c.settings, nid, actor=who.actor, upn=body.upn,
                               urn=body.urn)  # fmt: skip
            done = n.status == "approved"
            if done:
                review.release_claim(session, nid, actor=who.actor)
            return outcome(
                n, "approved" if done else "first approval: a second reviewer must approve"
            )

    @api.post("/notifications/{nid}/reject", response_model=Outcome, responses=ERRORS)
    def reject(
        request: Request, nid: str, body: Rejection, x_csrf_token: str | None = Header(None)
    ) -> dict[str, Any]:
        who = signed_in(request, x_csrf_token, write=True)
        with transaction(c.sessions) as session:
            review.claim(session, c.settings, nid, actor=who.actor)
            return outcome(review.reject(session, nid, actor=who.actor, reason=body.reason),
                           "rejected")  # fmt: skip

    @api.post("/notifications/{nid}/account", response_model=Outcome, responses=ERRORS)
    def edit(
        request: Request, nid: str, body: AccountEdit, x_csrf_token: str | None = Header(None)
    ) -> dict[str, Any]:
        who = signed_in(request, x_csrf_token, write=True)
        with transaction(c.sessions) as session:
            review.claim(session, c.settings, nid, actor=who.actor)
            n = review.edit_account(session, nid, actor=who.actor, account=body.account)
            return outcome(n, "account changed")

    @api.post("/notifications/{nid}/rematch", response_model=Outcome, responses=ERRORS)
    def rematch(
        request: Request, nid: str, body: Rematch, x_csrf_token: str | None = Header(None)
    ) -> dict[str, Any]:
        who = signed_in(request, x_csrf_token, write=True)
        with transaction(c.sessions) as session:
            review.claim(session, c.settings, nid, actor=who.actor)
            n = review.rematch(session, c.settings, nid, actor=who.actor, upn=body.upn,
                               urn=body.urn)  # fmt: skip
            return outcome(n, f"now for school {n.urn}: not yet approved")

    @api.post("/queue/approve", response_model=BulkOutcome, responses=ERRORS)
    def bulk(
        request: Request, body: BulkApproval, x_csrf_token: str | None = Header(None)
    ) -> dict[str, Any]:
        """Approve several at once: only release-grade ones; the rest are refused, with why."""
        who = signed_in(request, x_csrf_token, write=True)
        with transaction(c.sessions) as session:
            done, refused = review.bulk_approve(
                session, c.settings, body.notification_ids, actor=who.actor
            )
            return {"approved": [n.id for n in done], "refused": refused}

    @api.post("/notifications/{nid}/recall", response_model=Outcome, responses=ERRORS)
    def recall(
        request: Request, nid: str, body: Rejection, x_csrf_token: str | None = Header(None)
    ) -> dict[str, Any]:
        who = signed_in(request, x_csrf_token, write=True)
        with transaction(c.sessions) as session:
            n = review.recall(session, c.settings, nid, actor=who.actor, reason=body.reason)
            return outcome(n, "recalled: a retraction is on its way to the school")

    return api
