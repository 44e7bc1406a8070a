"""Signing in and out of the console's pages: the home redirect, the sign-in form (with
its own CSRF token, ``console.signin_csrf``), the second factor's code at ``/login/mfa``,
and signing out. The sessions themselves are opened and ended by ``console.signin``.

These routes take their transactions one at a time (``transaction``), not the request's
``Db``: a failed attempt is counted and committed before any password or code is checked
(``console.throttle``).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from console import mfa, signin
from console.accounts import Throttled, authenticate
from console.auth import BadCsrf, Current
from console.routing import Ctx, MaybeSignedIn, see_other
from console.sessions import Level
from console.signin import safe_next
from console.throttle import client_address
from foundations.database import transaction

router = APIRouter()


@router.get("/", include_in_schema=False)
def home(who: MaybeSignedIn) -> Response:
    if who is None:
        return see_other("/login")
    return see_other("/queue" if who.can_review else "/audit")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, c: Ctx, next: str = "/") -> HTMLResponse:
    return c.sign_in_page(request, next=next)


def _refused(request: Request, c: Ctx, next: str, wait: Throttled | None) -> HTMLResponse:
    if wait is None:
        return c.sign_in_page(
            request, status=401, next=next, error="The username or password is not right."
        )
    error = f"Too many attempts. Wait {wait.in_words} and try again."
    page = c.sign_in_page(request, status=429, next=next, error=error)
    page.headers["Retry-After"] = str(wait.wait_s)
    return page


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    c: Ctx,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
    csrf_token: str = Form(""),
) -> Response:
    try:
        c.signin.check(request, csrf_token)
    except BadCsrf:  # checked before any password: another site cannot sign anyone in
        error = "The sign-in form had expired or came from another site. Please try again."
        return c.sign_in_page(request, status=403, next=next, error=error)
    now, user, wait = c.clock(), None, None
    try:
        user = authenticate(c.sessions, c.settings, username, password,
                            address=client_address(request, c.settings), now=now)  # fmt: skip
    except Throttled as throttled:
        wait = throttled
    if user is None:
        return _refused(request, c, next, wait)
    with transaction(c.sessions) as session:
        token, target = signin.open_session(
            session, c.settings, user, now=now, via="password", next_url=next
        )
    response = see_other(target)
    c.cookies.issue(response, token)
    return response


@router.post("/logout")
def logout(request: Request, c: Ctx, csrf_token: str = Form("")) -> Response:
    signin.sign_out(request, c.cookies, c.sessions, c.clock, csrf_token)
    response = see_other("/login")
    c.cookies.clear(response)
    return response


def waiting(c: Ctx, request: Request, session: Session, *levels: Level) -> Current | None:
    """This request's session if it is at one of ``levels`` (e.g. waiting for its code)."""
    found = c.cookies.current(request, session, c.clock())
    if found is None or found.row.level not in {lv.value for lv in levels}:
        return None
    return found


def _code_page(
    request: Request, c: Ctx, next_url: str, csrf: str, *, error: str = "", status: int = 200
) -> HTMLResponse:
    return c.page(request, "mfa.html.j2", status=status, who=None, error=error,
                  next=safe_next(next_url), csrf=csrf)  # fmt: skip


@router.get("/login/mfa", response_class=HTMLResponse)
def mfa_page(request: Request, c: Ctx, next: str = "/") -> Response:
    with transaction(c.sessions) as session:
        found = waiting(c, request, session, Level.MFA)
    if found is None:
        return see_other("/login")
    return _code_page(request, c, next, found.csrf)


@router.post("/login/mfa", response_class=HTMLResponse)
def mfa_submit(
    request: Request, c: Ctx, code: str = Form(""), next: str = Form("/"),
    csrf_token: str = Form(""),
) -> Response:  # fmt: skip
    now = c.clock()
    with transaction(c.sessions) as session:
        found = waiting(c, request, session, Level.MFA)
    if found is None:
        return see_other("/login")
    signin.check_waiting(found, csrf_token)
    try:
        factor = mfa.check(c.sessions, c.settings, found.user.username, code,
                           address=client_address(request, c.settings), now=now)  # fmt: skip
    except Throttled as wait:
        error = f"Too many attempts. Wait {wait.in_words} and try again."
        page = _code_page(request, c, next, found.csrf, status=429, error=error)
        page.headers["Retry-After"] = str(wait.wait_s)
        return page
    if factor is None:
        return _code_page(request, c, next, found.csrf, status=401,
                          error="That code is not right, or was used already.")  # fmt: skip
    with transaction(c.sessions) as session:
        token = signin.step_up(session, c.settings, found, factor, now=now)
    response = see_other(safe_next(next))
    c.cookies.issue(response, token)
    return response
