"""Opening and ending console sessions, for the sign-in pages, the API and OIDC alike.

After the password (or the OIDC provider) a session is opened at the level the account
needs: ``full`` straight away when no second factor is due; ``mfa`` (the code is asked at
``/login/mfa``); or ``enrol`` when the account must set one up first (``/mfa/enrol``). A
session that was waiting is replaced by a new one (a new token) once the second factor is
done, and ``signed_in`` is audited then, with how. The pages are in
``console.signin_pages`` and ``console.account_pages``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from console import mfa
from console import sessions as console_sessions
from console.auth import BadCsrf, Current, NotSignedIn
from console.sessions import Ended, Level
from foundations.database import transaction
from foundations.models import ConsoleUser
from foundations.settings import Settings


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


def check_waiting(found: Current, token: str) -> None:
    """The CSRF token of a session at any level (one still waiting for its second factor
    has no ``Principal`` yet)."""
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
        check_waiting(found, csrf_token)
        row = session.get(type(found.row), found.row.id)
        if row is not None:
            console_sessions.end(session, row, why=Ended.SIGNED_OUT, now=now)
        record(session, AuditAction.SIGNED_OUT, actor=f"console:{found.user.username}",
               details={"user": found.user.username})  # fmt: skip
    request.state.principal = None
