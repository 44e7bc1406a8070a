"""OpenID Connect sign-in (authlib), for councils that have an identity provider.

Off unless ``ENCOMPASS_OIDC_ISSUER`` is set. The provider's role claim
(``ENCOMPASS_OIDC_ROLE_CLAIM``, a string or a list) must name one of the console's roles;
the account is kept in ``console_users`` as ``oidc:<preferred_username or sub>`` without a
password, so an administrator can disable it like any other. After the provider's redirect
the console's own session cookie is issued exactly as for a local sign-in.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from audit.ledger import AuditAction, record
from broker.database import transaction
from broker.store import ConsoleUser
from console.accounts import Role
from console.pages import Console

# The strongest role a provider grants wins.
_PRIORITY = (Role.ADMIN, Role.REVIEWER, Role.AUDITOR)


def role_from(claim: object) -> Role | None:
    granted = (
        {claim}
        if isinstance(claim, str)
        else set(claim or ())
        if isinstance(claim, list)
        else set()
    )
    return next((r for r in _PRIORITY if r.value in granted), None)


def install(app: FastAPI, c: Console, secret: bytes) -> None:
    settings = c.settings
    if not settings.oidc_issuer:
        return
    from authlib.integrations.starlette_client import OAuth, OAuthError

    oauth = OAuth()
    client = oauth.register(
        "council",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value()
        if settings.oidc_client_secret
        else None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email"},
    )
    key = hmac.new(secret, b"encompass console oidc state", hashlib.sha256).hexdigest()
    # Holds only the OIDC state and nonce between the redirect and the callback.
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie="encompass_oidc",
        max_age=600,
        same_site="lax",  # the provider's redirect back is a cross-site navigation
        https_only=c.cookies.secure,
    )
    callback_url = settings.public_url.rstrip("/") + "/login/oidc/callback"

    def refused(request: Request, why: str, status: int) -> HTMLResponse:
        return c.sign_in_page(request, status=status, error=why)

    @app.get("/login/oidc", include_in_schema=False)
    async def oidc_start(request: Request) -> Response:
        response: Response = await client.authorize_redirect(request, callback_url)
        return response

    @app.get("/login/oidc/callback", include_in_schema=False)
    async def oidc_callback(request: Request) -> Response:
        try:
            token = await client.authorize_access_token(request)
        except OAuthError:
            return refused(request, "Signing in with your council account did not work.", 401)
        claims = dict(token.get("userinfo") or {})
        role = role_from(claims.get(settings.oidc_role_claim))
        name = str(claims.get("preferred_username") or claims.get("sub") or "")
        if not name:
            return refused(request, "Your council account did not say who you are.", 401)
        username = f"oidc:{name}"[:100]
        with transaction(c.sessions) as session:
            user = session.get(ConsoleUser, username)
            if role is None or (user is not None and not user.active):
                details = {"via": "oidc", "has_role": role is not None}
                record(session, AuditAction.SIGN_IN_FAILED, actor=f"console:{username}",
                       details=details)  # fmt: skip
                allowed = False
            else:
                if user is None:
                    user = ConsoleUser(username=username, role=role.value, active=True)
                    session.add(user)
                user.role, user.password_hash = role.value, None
                record(session, AuditAction.SIGNED_IN, actor=f"console:{username}",
                       details={"role": role.value, "via": "oidc"})  # fmt: skip
                allowed = True
        if not allowed:
            return refused(request, "Your council account has no role in this console.", 403)
        # A same-site step: the session cookie is SameSite=Strict, so it is not sent on the
        # rest of a navigation that began at the provider.
        response = HTMLResponse(
            '<!DOCTYPE html><html lang="en"><head><meta http-equiv="refresh" content="0;url=/">'
            '<title>Signed in</title></head><body><main><p><a href="/">Continue</a></p>'
            "</main></body></html>"
        )
        c.cookies.issue(response, username)
        return response
