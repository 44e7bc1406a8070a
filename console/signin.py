"""Finishing a sign-in, the second factor and the account page.

After the password (or the OIDC provider) a session is opened at the level the account
needs: ``full`` straight away when no second factor is due; ``mfa`` (the code is asked at
``/login/mfa``); or ``enrol`` when the account must set one up first (``/mfa/enrol``). A
session that was waiting is replaced by a new one (a new token) once the second factor is
done, and ``signed_in`` is audited then, with how. ``/account`` shows the second factor
and the open sessions, and signs out everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from broker.database import transaction
from broker.settings import Settings
from broker.store import ConsoleUser
from console import mfa, throttle
from console import sessions as console_sessions
from console.auth import BadCsrf, Current, NotSignedIn, check_csrf
from console.sessions import Ended, Level
from console.throttle import Throttled, client_address

if TYPE_CHECKING:
    from console.pages import Console


def safe_next(target: str) -> str:
    """Only a path on this site: never ``//host`` or ``/\\host`` (an open redirect)."""
    ok = target.startswith("/") and not target.startswith(("//", "/\\")) and "\n" not in target
    return target if ok else "/"


def open_session(
    session: Session,
    settings: Settings,
    user: ConsoleUser,
    *,
    now: datetime,
    via: str,
    factor: mfa.Factor | None = None,
    next_url: str = "/",
) -> tuple[str, str]:
    """Open the session ``user`` may have now; returns (token, where to go next)."""
    if factor is None and mfa.required(settings, user):
        level = Level.MFA if user.totp_secret is not None else Level.ENROL
        token = console_sessions.start(session, settings, user.username, level=level, now=now)
        page = "/login/mfa" if level is Level.MFA else "/mfa/enrol"
        return token, f"{page}?next={quote(safe_next(next_url))}"
    token = console_sessions.start(
        session, settings, user.username, level=Level.FULL, now=now,
        mfa=factor.value if factor else None,
    )  # fmt: skip
    details = {"role": user.role, "via": via, "second_factor": factor.value if factor else None}
    record(session, AuditAction.SIGNED_IN, actor=f"console:{user.username}", details=details)
    return token, safe_next(next_url)


def step_up(
    session: Session,
    settings: Settings,
    waiting: Current,
    factor: mfa.Factor,
    *,
    now: datetime,
    via: str = "password",
) -> str:
    """The waiting session is replaced by a full one (a new token); returns the token."""
    row = session.get(type(waiting.row), waiting.row.id)
    if row is not None:
        console_sessions.end(session, row, why=Ended.STEPPED_UP, now=now)
    user = session.get(ConsoleUser, waiting.user.username)
    assert user is not None
    token, _ = open_session(session, settings, user, now=now, via=via, factor=factor)
    return token


# The enrolment page's errors by key: no text from the address is ever shown.
_ENROL_ERRORS = {
    "wrong": "That code is not right. Enter the code your app shows now.",
    "throttled": "Too many attempts. Wait {wait} and try again.",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def register(app: FastAPI, c: Console) -> None:
    settings = c.settings

    def waiting(request: Request, session: Session, *levels: Level) -> Current | None:
        found = c.cookies.current(request, session, c.clock())
        if found is None or found.row.level not in {lv.value for lv in levels}:
            return None
        return found

    def code_page(request: Request, next_url: str, error: str = "", status: int = 200,
                  csrf: str = "") -> HTMLResponse:  # fmt: skip
        return c.page(request, "mfa.html.j2", status=status, who=None, error=error,
                      next=safe_next(next_url), csrf=csrf)  # fmt: skip

    @app.get("/login/mfa", response_class=HTMLResponse)
    def mfa_page(request: Request, next: str = "/") -> Response:
        with transaction(c.sessions) as session:
            found = waiting(request, session, Level.MFA)
        if found is None:
            return _see_other("/login")
        return code_page(request, next, csrf=found.csrf)

    @app.post("/login/mfa", response_class=HTMLResponse)
    def mfa_submit(
        request: Request, code: str = Form(""), next: str = Form("/"),
        csrf_token: str = Form(""),
    ) -> Response:  # fmt: skip
        now = c.clock()
        with transaction(c.sessions) as session:
            found = waiting(request, session, Level.MFA)
        if found is None:
            return _see_other("/login")
        _check(found, csrf_token)
        try:
            factor = mfa.check(c.sessions, settings, found.user.username, code,
                               address=client_address(request, settings), now=now)  # fmt: skip
        except Throttled as wait:
            error = f"Too many attempts. Wait {wait.in_words} and try again."
            page = code_page(request, next, status=429, csrf=found.csrf, error=error)
            page.headers["Retry-After"] = str(wait.wait_s)
            return page
        if factor is None:
            return code_page(request, next, status=401, csrf=found.csrf,
                             error="That code is not right, or was used already.")  # fmt: skip
        with transaction(c.sessions) as session:
            token = step_up(session, settings, found, factor, now=now)
        response = _see_other(safe_next(next))
        c.cookies.issue(response, token)
        return response

    def enrolling(request: Request, session: Session) -> Current | None:
        found = waiting(request, session, Level.ENROL, Level.FULL)
        if found is None or found.user.totp_secret is not None:
            return None
        if found.row.level == Level.FULL:  # a signed-in person setting it up by choice
            c.who(request, session)
        return found

    @app.get("/mfa/enrol", response_class=HTMLResponse)
    def enrol_page(request: Request, next: str = "/", error: str = "", wait: int = 0) -> Response:
        with transaction(c.sessions) as session:
            found = enrolling(request, session)
            if found is None:
                return _see_other("/")
            row = session.get(type(found.row), found.row.id)
            assert row is not None
            if row.enrol_secret is None:
                row.enrol_secret = mfa.new_secret()
            secret = row.enrol_secret
        return c.page(
            request, "mfa_enrol.html.j2", who=getattr(request.state, "principal", None),
            uri=mfa.otpauth_uri(secret, found.user.username), key=mfa.grouped(secret),
            next=safe_next(next), csrf=found.csrf, required=mfa.required(settings, found.user),
            error=_ENROL_ERRORS.get(error, "").format(wait=Throttled(wait).in_words),
        )  # fmt: skip

    @app.get("/mfa/enrol/qr.svg", include_in_schema=False)
    def enrol_qr(request: Request) -> Response:
        with transaction(c.sessions) as session:
            found = enrolling(request, session)
            secret = found.row.enrol_secret if found is not None else None
        if found is None or secret is None:
            return Response(status_code=404)
        svg = mfa.qr_svg(mfa.otpauth_uri(secret, found.user.username))
        return Response(svg, media_type="image/svg+xml")

    @app.post("/mfa/enrol", response_class=HTMLResponse)
    def enrol_submit(
        request: Request, code: str = Form(""), next: str = Form("/"),
        csrf_token: str = Form(""),
    ) -> Response:  # fmt: skip
        now = c.clock()
        with transaction(c.sessions) as session:
            found = enrolling(request, session)
        if found is None:
            return _see_other("/login")
        _check(found, csrf_token)
        username = found.user.username
        address = client_address(request, settings)
        keys = [throttle.Key(throttle.Kind.SECOND_FACTOR, username),
                throttle.Key(throttle.Kind.ADDRESS, address)]  # fmt: skip
        try:  # a wrong code here is throttled like any other second factor
            with transaction(c.sessions) as session:
                throttle.charge(session, settings, keys, now=now)
        except Throttled as wait:
            return _see_other(
                f"/mfa/enrol?next={quote(safe_next(next))}&error=throttled&wait={wait.wait_s}"
            )
        with transaction(c.sessions) as session:
            row = session.get(type(found.row), found.row.id)
            secret = row.enrol_secret if row is not None else None
            codes = (
                mfa.enrol(session, username, secret, code, now=now, actor=f"console:{username}")
                if secret
                else None
            )
            if codes is None:
                record(session, AuditAction.SIGN_IN_FAILED, actor=f"console:{username}",
                       details={"known_account": True, "second_factor": True,
                                "enrolment": True})  # fmt: skip
            else:
                throttle.succeeded(session, keys, now=now)
                assert row is not None
                if row.level == Level.FULL:
                    row.mfa, row.enrol_secret, token = mfa.Factor.TOTP.value, None, None
                else:
                    token = step_up(session, settings, found, mfa.Factor.TOTP, now=now)
        if codes is None:
            return _see_other(f"/mfa/enrol?next={quote(safe_next(next))}&error=wrong")
        request.state.principal = None  # the cookie is set here, not by the middleware
        response = c.page(request, "mfa_codes.html.j2", who=None, codes=codes,
                          next=safe_next(next))  # fmt: skip
        c.cookies.issue(response, token or found.token, found.csrf if token is None else None)
        return response

    @app.get("/account", response_class=HTMLResponse)
    def account_page(request: Request) -> HTMLResponse:
        now = c.clock()
        with transaction(c.sessions) as session:
            who = c.who(request, session)
            user = session.get(ConsoleUser, who.username)
            assert user is not None
            values: dict[str, Any] = {
                "mfa_on": user.totp_secret is not None,
                "mfa_required": mfa.required(settings, user),
                "codes_left": mfa.recovery_codes_left(session, who.username),
                "open_sessions": console_sessions.open_count(session, who.username, now=now),
                "oidc": user.oidc_subject is not None,
            }
        return c.page(request, "account.html.j2", who=who, **values)

    @app.post("/account/signout-all")
    def sign_out_everywhere(request: Request, csrf_token: str = Form("")) -> Response:
        from console.accounts import sign_out_everywhere as end_everywhere

        with transaction(c.sessions) as session:
            who = c.who(request, session)
            check_csrf(who, csrf_token)
            end_everywhere(session, who.username, actor=who.actor, now=c.clock())
        request.state.principal = None
        response = _see_other("/login")
        c.cookies.clear(response)
        return response


def _check(found: Current, token: str) -> None:
    import hmac

    if not token or not hmac.compare_digest(token.encode(), found.csrf.encode()):
        raise BadCsrf


def sign_out(
    request: Request,
    cookies: Any,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    csrf_token: str,
) -> None:
    """End this request's session server-side (the cookie is cleared by the caller)."""
    now = clock()
    with transaction(sessions) as session:
        found = cookies.current(request, session, now)
        if found is None:
            raise NotSignedIn
        _check(found, csrf_token)
        row = session.get(type(found.row), found.row.id)
        if row is not None:
            console_sessions.end(session, row, why=Ended.SIGNED_OUT, now=now)
        record(session, AuditAction.SIGNED_OUT, actor=f"console:{found.user.username}",
               details={"user": found.user.username})  # fmt: skip
    request.state.principal = None
