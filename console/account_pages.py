"""The account page and setting up a second factor.

``/mfa/enrol`` serves both an account that must set one up before its session is full (the
session waits at the ``enrol`` level) and a signed-in person who chooses to; a wrong code
is throttled like any other second factor. ``/account`` shows the second factor and the
open sessions, and signs out everywhere. ``/accounts``, for administrators, lists every
account and sets the councils whose notifications each sees (docs/councils.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from audit.ledger import AuditAction, record
from console import mfa, signin, throttle
from console import sessions as console_sessions
from console.accounts import AccountError, Role, list_users, set_councils
from console.accounts import sign_out_everywhere as end_everywhere
from console.auth import Current, Forbidden, Principal
from console.routing import Ctx, Db, SignedIn, form_csrf, see_other
from console.sessions import Level
from console.signin import safe_next
from console.signin_pages import waiting
from console.throttle import Throttled, client_address
from foundations.councils import councils_for
from foundations.database import transaction
from foundations.models import ConsoleUser

router = APIRouter()

# The enrolment page's errors by key: no text from the address is ever shown.
_ENROL_ERRORS = {
    "wrong": "That code is not right. Enter the code your app shows now.",
    "throttled": "Too many attempts. Wait {wait} and try again.",
}


def _enrolling(request: Request, c: Ctx) -> Current | None:
    """The session setting up a second factor: one waiting to (``enrol``), or a full one
    whose account has none yet."""
    with transaction(c.sessions) as session:
        found = waiting(c, request, session, Level.ENROL, Level.FULL)
        if found is None or found.user.totp_secret is not None:
            return None
        if found.row.level == Level.FULL:  # a signed-in person setting it up by choice
            c.who(request, session)
        return found


Enrolling = Annotated[Current | None, Depends(_enrolling)]


@router.get("/mfa/enrol", response_class=HTMLResponse)
def enrol_page(
    request: Request, c: Ctx, found: Enrolling, next: str = "/", error: str = "", wait: int = 0
) -> Response:
    if found is None:
        return see_other("/")
    with transaction(c.sessions) as session:
        row = session.get(type(found.row), found.row.id)
        assert row is not None
        if row.enrol_secret is None:
            row.enrol_secret = mfa.new_secret()
        secret = row.enrol_secret
    return c.page(
        request, "mfa_enrol.html.j2", who=getattr(request.state, "principal", None),
        uri=mfa.otpauth_uri(secret, found.user.username), key=mfa.grouped(secret),
        next=safe_next(next), csrf=found.csrf, required=mfa.required(c.settings, found.user),
        error=_ENROL_ERRORS.get(error, "").format(wait=Throttled(wait).in_words),
    )  # fmt: skip


@router.get("/mfa/enrol/qr.svg", include_in_schema=False)
def enrol_qr(found: Enrolling) -> Response:
    secret = found.row.enrol_secret if found is not None else None
    if found is None or secret is None:
        return Response(status_code=404)
    svg = mfa.qr_svg(mfa.otpauth_uri(secret, found.user.username))
    return Response(svg, media_type="image/svg+xml")


def _enrol(
    c: Ctx, found: Current, code: str, keys: list[throttle.Key], now: datetime
) -> tuple[list[str] | None, str | None]:
    """The recovery codes if ``code`` is right (None if not), and the token of the full
    session that replaces one that was waiting (None when the session was full already)."""
    username = found.user.username
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
            return None, None
        throttle.succeeded(session, keys, now=now)
        assert row is not None
        if row.level == Level.FULL:
            row.mfa, row.enrol_secret = mfa.Factor.TOTP.value, None
            return codes, None
        return codes, signin.step_up(session, c.settings, found, mfa.Factor.TOTP, now=now)


@router.post("/mfa/enrol", response_class=HTMLResponse)
def enrol_submit(
    request: Request, c: Ctx, found: Enrolling, code: str = Form(""), next: str = Form("/"),
    csrf_token: str = Form(""),
) -> Response:  # fmt: skip
    now = c.clock()
    if found is None:
        return see_other("/login")
    signin.check_waiting(found, csrf_token)
    again = f"/mfa/enrol?next={quote(safe_next(next))}"
    keys = [throttle.Key(throttle.Kind.SECOND_FACTOR, found.user.username),
            throttle.Key(throttle.Kind.ADDRESS, client_address(request, c.settings))]  # fmt: skip
    try:  # a wrong code here is throttled like any other second factor
        with transaction(c.sessions) as session:
            throttle.charge(session, c.settings, keys, now=now)
    except Throttled as wait:
        return see_other(f"{again}&error=throttled&wait={wait.wait_s}")
    codes, token = _enrol(c, found, code, keys, now)
    if codes is None:
        return see_other(f"{again}&error=wrong")
    request.state.principal = None  # the cookie is set here, not by the middleware
    response = c.page(request, "mfa_codes.html.j2", who=None, codes=codes,
                      next=safe_next(next))  # fmt: skip
    c.cookies.issue(response, token or found.token, found.csrf if token is None else None)
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, c: Ctx, db: Db, who: SignedIn) -> HTMLResponse:
    user = db.get(ConsoleUser, who.username)
    assert user is not None
    values: dict[str, Any] = {
        "mfa_on": user.totp_secret is not None,
        "mfa_required": mfa.required(c.settings, user),
        "codes_left": mfa.recovery_codes_left(db, who.username),
        "open_sessions": console_sessions.open_count(db, who.username, now=c.clock()),
        "oidc": user.oidc_subject is not None,
        "councils": _council_names(c, user.councils),
    }
    return c.page(request, "account.html.j2", who=who, **values)


def _council_names(c: Ctx, stored: str) -> str | None:
    """An account's councils in words; None in a single-council deployment (not used)."""
    deployment = councils_for(c.settings)
    if not deployment.scoped:
        return None
    codes = [code for code in stored.split(",") if code]
    if not codes:
        return "None: you see no notifications until an administrator gives you a council"
    return ", ".join(
        deployment.members[code].label if code in deployment.members else f"{code} (not served)"
        for code in codes
    )


def _admin(who: SignedIn) -> Principal:
    if who.role != Role.ADMIN:
        raise Forbidden
    return who


Admin = Annotated[Principal, Depends(_admin)]
NO_COUNCILS = Form([])  # the form with nothing ticked: the account sees nothing


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request, c: Ctx, db: Db, who: Admin, notice: str = "", error: str = ""
) -> HTMLResponse:
    """Every account, and (several councils) the councils each sees."""
    deployment = councils_for(c.settings)
    return c.page(
        request, "accounts.html.j2", who=who, accounts=list_users(db, now=c.clock()),
        scoped=deployment.scoped, members=sorted(deployment.members.values(),
                                                 key=lambda m: m.la_code or ""),
        notice=notice[:200], error=error[:200],
    )  # fmt: skip


@router.post("/accounts/{username}/councils", dependencies=[Depends(_admin), Depends(form_csrf)])
def accounts_set_councils(
    c: Ctx, db: Db, who: Admin, username: str, councils: list[str] = NO_COUNCILS
) -> Response:
    """Set an account's councils: the member councils ticked (none: it sees nothing)."""
    deployment = councils_for(c.settings)
    chosen = [code for code in councils if code in deployment.members]
    try:
        set_councils(db, username, ",".join(chosen), actor=who.actor)
    except AccountError as exc:
        return see_other(f"/accounts?error={quote(str(exc))}")
    said = ", ".join(chosen) or "none"
    return see_other(f"/accounts?notice={quote(f'{username}: councils {said}')}")


@router.post("/account/signout-all", dependencies=[Depends(form_csrf)])
def sign_out_everywhere(request: Request, c: Ctx, db: Db, who: SignedIn) -> Response:
    end_everywhere(db, who.username, actor=who.actor, now=c.clock())
    request.state.principal = None
    response = see_other("/login")
    c.cookies.clear(response)
    return response
