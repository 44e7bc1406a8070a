"""CSRF for signing in, before there is a session (OWASP: login CSRF).

The session's CSRF token (``console.auth``) exists only once someone is signed in, so the
sign-in form and ``POST /api/session`` carry a token of their own. The first visit to the
sign-in form (or ``GET /api/session``) sets a short-lived cookie holding a random nonce;
the form's ``csrf_token`` field (the API's ``X-CSRF-Token`` header) carries an HMAC of
that nonce. Another site can neither read the cookie nor compute the token, so it cannot
sign a reviewer's browser in to an account of its choosing. HttpOnly, SameSite=Strict, and
Secure with the ``__Host-`` prefix whenever the session cookie is.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from fastapi import Request, Response

from console.auth import BadCsrf
from foundations.purpose_keys import Purpose, purpose_key

_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


class SignInCsrf:
    def __init__(self, secret: bytes, *, secure: bool, max_age_s: int = 12 * 3600) -> None:
        self._key = purpose_key(secret, Purpose.SIGN_IN_CSRF)
        self.secure = secure
        self.max_age_s = max_age_s
        self.name = "__Host-encompass-signin" if secure else "encompass_signin"

    def _token(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def _nonce(self, request: Request) -> str | None:
        raw = request.cookies.get(self.name, "")
        return raw if _NONCE.fullmatch(raw) else None

    def issue(self, request: Request) -> tuple[str, str]:
        """The nonce for the cookie (the browser's own, if it has one) and its token."""
        nonce = self._nonce(request) or secrets.token_urlsafe(32)
        return nonce, self._token(nonce)

    def set_cookie(self, response: Response, nonce: str) -> None:
        response.set_cookie(
            self.name,
            nonce,
            max_age=self.max_age_s,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.name, path="/", secure=self.secure, httponly=True, samesite="strict"
        )

    def check(self, request: Request, token: str | None) -> None:
        """Refuses (``BadCsrf``) unless ``token`` belongs to this browser's sign-in cookie."""
        nonce = self._nonce(request)
        if nonce is None or not token:
            raise BadCsrf
        if not hmac.compare_digest(token.encode(), self._token(nonce).encode()):
            raise BadCsrf
