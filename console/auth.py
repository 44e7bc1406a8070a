"""Sign-in sessions and CSRF for the console.

A session is a signed cookie (itsdangerous, a key derived from ``ENCOMPASS_SECRET_KEY``)
holding the username and a CSRF token; it is re-issued on every request and refused once
idle for ``ENCOMPASS_CONSOLE_SESSION_IDLE_MIN``. The account and its role are read from the
database on every request, so a disabled account is out at once. HttpOnly, SameSite=Strict,
and Secure (with the ``__Host-`` prefix) unless the console is plain http on loopback.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from broker.settings import Settings, is_loopback
from broker.store import ConsoleUser
from console.accounts import Role


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role
    csrf: str

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


class SessionCookies:
    def __init__(self, secret: bytes, settings: Settings) -> None:
        key = hmac.new(secret, b"encompass console session", hashlib.sha256).digest()
        self._serializer = URLSafeTimedSerializer(key, salt="encompass-console-session")
        self.idle_s = settings.console_session_idle_min * 60
        self.secure = cookie_secure(settings)
        self.name = "__Host-encompass" if self.secure else "encompass_session"

    def issue(self, response: Response, username: str, csrf: str | None = None) -> str:
        csrf = csrf or secrets.token_urlsafe(32)
        value = self._serializer.dumps({"u": username, "c": csrf})
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
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            return None
        return data

    def principal(self, request: Request, session: Session) -> Principal:
        data = self.read(request)
        if data is None:
            raise NotSignedIn
        user = session.get(ConsoleUser, data["u"])
        if user is None or not user.active:
            raise NotSignedIn
        who = Principal(user.username, Role(user.role), str(data["c"]))
        request.state.principal = who  # the middleware slides the idle timeout
        return who


def check_csrf(who: Principal, token: str | None) -> None:
    if not token or not hmac.compare_digest(token.encode(), who.csrf.encode()):
        raise BadCsrf


def require(who: Principal, *, review: bool = False, audit: bool = False) -> Principal:
    if (review and not who.can_review) or (audit and not who.can_audit):
        raise Forbidden
    return who
