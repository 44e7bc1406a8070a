"""Sign-in sessions and CSRF for the console.

A session is a ``console_sessions`` row (``console.sessions``); the cookie holds its random
token and the CSRF token, signed (itsdangerous, a key derived from ``ENCOMPASS_SECRET_KEY``)
and re-issued on every request. Every request, page or API, finds the row and refuses the
session once it has ended (sign-out, "sign out everywhere", a password change, a disabled
account), idled past ``ENCOMPASS_CONSOLE_SESSION_IDLE_MIN`` or passed its absolute expiry
(``ENCOMPASS_CONSOLE_SESSION_MAX_HOURS``). The account and its role are read from the
database on every request too, and an account that needs a second factor is let in only by
a session that passed one. HttpOnly, SameSite=Strict, and Secure (with the ``__Host-``
prefix) unless the console is plain http on loopback.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from console import mfa
from console import sessions as console_sessions
from console.accounts import Role
from foundations.council_scope import NOTHING, Scope, scope_for
from foundations.councils import councils_for
from foundations.models import ConsoleSession, ConsoleUser
from foundations.purpose_keys import Purpose, purpose_key
from foundations.settings import Settings, is_loopback


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    csrf: str
    token: str = field(default="", repr=False, compare=False)  # the session's, for the cookie
    # Whose notifications this account sees and acts on (foundations/council_scope.py):
    # nothing unless given, so that a Principal made anywhere else fails closed.
    scope: Scope = NOTHING

    @property
    def actor(self) -> str:
        return f"console:{self.username}"

    @property
    def can_review(self) -> bool:
        return self.role in (Role.REVIEWER, Role.ADMIN)

    @property
    def can_audit(self) -> bool:
        return self.role in (Role.AUDITOR, Role.ADMIN)


class NotSignedIn(Exception):
    """No valid session: pages redirect to sign in, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this."""


class BadCsrf(Exception):
    """A form or API call without this session's CSRF token."""


def cookie_secure(settings: Settings) -> bool:
    if settings.console_cookie_secure is not None:
        return settings.console_cookie_secure
    url = urlsplit(settings.public_url)
    return not (url.scheme == "http" and is_loopback(url.hostname or ""))


@dataclass(frozen=True)
class Current:
    """A live session as found from its cookie, whatever its level."""

    row: ConsoleSession
    user: ConsoleUser
    token: str
    csrf: str


class SessionCookies:
    def __init__(self, secret: bytes, settings: Settings) -> None:
        key = purpose_key(secret, Purpose.CONSOLE_SESSION)
        self._serializer = URLSafeTimedSerializer(key, salt="encompass-console-session")
        self.settings = settings
        self.idle_s = settings.console_session_idle_min * 60
        self.secure = cookie_secure(settings)
        self.name = "__Host-encompass" if self.secure else "encompass_session"

    def issue(self, response: Response, token: str, csrf: str | None = None) -> str:
        """Set the cookie for the session ``token``; returns its CSRF token."""
        csrf = csrf or secrets.token_urlsafe(32)
        value = self._serializer.dumps({"s": token, "c": csrf})
        response.set_cookie(
            self.name,
            value,
            max_age=self.idle_s,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )
        return csrf

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.name, path="/", secure=self.secure, httponly=True, samesite="strict"
        )

    def read(self, request: Request) -> dict[str, Any] | None:
        raw = request.cookies.get(self.name)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.idle_s)
        except BadSignature:  # also SignatureExpired: idle too long
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("s"), str)
            or not isinstance(data.get("c"), str)
        ):
            return None  # also every cookie from before sessions were rows
        return data

    def current(self, request: Request, session: Session, now: datetime) -> Current | None:
        """The live session of this request at any level (full, or waiting for its second
        factor), with its active account; None otherwise."""
        data = self.read(request)
        if data is None:
            return None
        row = console_sessions.find(session, self.settings, data["s"], now=now)
        if row is None:
            return None
        user = session.get(ConsoleUser, row.username)
        if user is None or not user.active:
            return None
        return Current(row, user, data["s"], data["c"])

    def principal(self, request: Request, session: Session, now: datetime) -> Principal:
        """The signed-in person, from a full session only; else ``NotSignedIn``."""
        found = self.current(request, session, now)
        if found is None or found.row.level != console_sessions.Level.FULL:
            raise NotSignedIn
        if found.row.mfa is None and mfa.required(self.settings, found.user):
            raise NotSignedIn  # e.g. MFA was switched on for reviewers since this sign-in
        user = found.user
        scope = scope_for(councils_for(self.settings), user.councils)
        who = Principal(user.username, Role(user.role), found.csrf, found.token, scope)
        request.state.principal = who  # the middleware slides the idle timeout
        return who


def check_csrf(who: Principal, token: str | None) -> None:
    if not token or not hmac.compare_digest(token.encode(), who.csrf.encode()):
        raise BadCsrf


def require(who: Principal, *, review: bool = False, audit: bool = False) -> Principal:
    if (review and not who.can_review) or (audit and not who.can_audit):
        raise Forbidden
    return who
