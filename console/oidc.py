"""OpenID Connect sign-in (authlib), for councils that have an identity provider.

Off unless ``ENCOMPASS_OIDC_ISSUER`` is set. The provider's role claim
(``ENCOMPASS_OIDC_ROLE_CLAIM``, a string or a list) must name one of the console's roles.
The account is the one bound to the ID token's issuer and subject (``iss``, ``sub``): a
``preferred_username`` is only a label, which a provider may give to someone else later,
so it never chooses the account. A new account is kept in ``console_users`` without a
password, named ``oidc:<preferred_username>`` (with a short suffix from the subject when
that name is taken), so an administrator can list and disable it like any other. After
the provider's redirect the console's own session is opened exactly as for a local
sign-in, second factor included: unless the ID token's ``amr`` says the provider asked for
one (``mfa``), an account that needs it is asked for the console's own.

In a deployment of several councils (docs/councils.md), ``ENCOMPASS_OIDC_COUNCILS_CLAIM``
names the claim that lists the account's councils, read on every sign-in like the role; a
token without it gives none, and an account with none sees nothing. Unset, an
administrator sets an OIDC account's councils as for a local one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from audit.ledger import AuditAction, record
from console import signin
from console.accounts import Role
from console.mfa import Factor
from console.routing import Console, Ctx
from foundations.council_scope import stored_la_codes
from foundations.database import transaction
from foundations.models import ConsoleUser
from foundations.purpose_keys import Purpose, purpose_key

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


def councils_from(claim: object) -> str:
    """The councils a provider grants (a list of LA codes, or one string of them comma
    separated), as stored; anything that is not an LA code is dropped, so a missing or
    malformed claim grants nothing (fails closed)."""
    parts = claim if isinstance(claim, list) else str(claim or "").split(",")
    return ",".join(stored_la_codes(",".join(str(p) for p in parts)))


def account_for(session: Session, issuer: str, subject: str) -> ConsoleUser | None:
    found = session.execute(
        select(ConsoleUser).where(
            ConsoleUser.oidc_issuer == issuer, ConsoleUser.oidc_subject == subject
        )
    ).scalar_one_or_none()
    return found


def new_account_name(session: Session, label: str, issuer: str, subject: str) -> str | None:
    """A free username for a new account, or None when an administrator disabled an
    account of that name from before accounts were bound to subjects (it stays out)."""
    name = f"oidc:{label}"[:100]
    held = session.get(ConsoleUser, name)
    if held is None:
        return name
    if held.oidc_subject is None and not held.active:
        return None
    suffix = hashlib.sha256(f"{issuer}\x1f{subject}".encode()).hexdigest()[:8]
    name = f"oidc:{label[:80]}~{suffix}"
    return name if session.get(ConsoleUser, name) is None else None


def provider_did_mfa(claims: dict[str, object]) -> bool:
    """RFC 8176: ``amr`` lists the methods used; ``mfa`` means more than one factor."""
    amr = claims.get("amr")
    return isinstance(amr, list) and "mfa" in amr


router = APIRouter()


def install(app: FastAPI, c: Console, secret: bytes) -> None:
    """The provider's client and the two routes, when ``ENCOMPASS_OIDC_ISSUER`` is set."""
    settings = c.settings
    if not settings.oidc_issuer:
        return
    from authlib.integrations.starlette_client import OAuth

    oauth = OAuth()
    app.state.oidc_client = oauth.register(
        "council",
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value()
        if settings.oidc_client_secret
        else None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email"},
    )
    key = purpose_key(secret, Purpose.OIDC_STATE).hex()
    # Holds only the OIDC state and nonce between the redirect and the callback.
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie="encompass_oidc",
        max_age=600,
        same_site="lax",  # the provider's redirect back is a cross-site navigation
        https_only=c.cookies.secure,
    )
    app.include_router(router)


def _callback_url(c: Console) -> str:
    return c.settings.public_url.rstrip("/") + "/login/oidc/callback"


@router.get("/login/oidc", include_in_schema=False)
async def oidc_start(request: Request, c: Ctx) -> Response:
    response: Response = await request.app.state.oidc_client.authorize_redirect(
        request, _callback_url(c)
    )
    return response


def _open_session(
    c: Console, claims: dict[str, object], issuer: str, subject: str
) -> tuple[str, str] | None:
    """The account bound to ``issuer`` and ``subject`` (made on its first sign-in), its role
    from the provider's claim, and a session for it: (token, where next); None, audited,
    when the provider gives no role or the account is disabled."""
    role = role_from(claims.get(c.settings.oidc_role_claim))
    label = str(claims.get("preferred_username") or subject).strip() or subject
    now: datetime = c.clock()
    with transaction(c.sessions) as session:
        user = account_for(session, issuer, subject)
        username = user.username if user is not None else None
        if user is None and role is not None:
            username = new_account_name(session, label, issuer, subject)
        if role is None or username is None or (user is not None and not user.active):
            record(session, AuditAction.SIGN_IN_FAILED,
                   actor=f"console:{(username or 'oidc:' + label)[:90]}",
                   details={"via": "oidc", "has_role": role is not None,
                            "known_account": user is not None})  # fmt: skip
            return None
        if user is None:
            user = ConsoleUser(username=username, role=role.value, active=True,
                               oidc_issuer=issuer, oidc_subject=subject)  # fmt: skip
            session.add(user)
        user.role, user.password_hash = role.value, None
        if c.settings.oidc_councils_claim:
            user.councils = councils_from(claims.get(c.settings.oidc_councils_claim))
        session.flush()
        factor = Factor.PROVIDER if provider_did_mfa(claims) else None
        return signin.open_session(session, c.settings, user, now=now, via="oidc",
                                   factor=factor)  # fmt: skip


@router.get("/login/oidc/callback", include_in_schema=False)
async def oidc_callback(request: Request, c: Ctx) -> Response:
    from authlib.integrations.starlette_client import OAuthError

    try:
        token = await request.app.state.oidc_client.authorize_access_token(request)
    except OAuthError:
        why = "Signing in with your council account did not work."
        return c.sign_in_page(request, status=401, error=why)
    claims = dict(token.get("userinfo") or {})
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    if not issuer or not subject or len(issuer) > 255 or len(subject) > 255:
        why = "Your council account did not say who you are."
        return c.sign_in_page(request, status=401, error=why)
    opened = _open_session(c, claims, issuer, subject)
    if opened is None:
        why = "Your council account has no role in this console."
        return c.sign_in_page(request, status=403, error=why)
    session_token, target = opened
    # A same-site step: the session cookie is SameSite=Strict, so it is not sent on the
    # rest of a navigation that began at the provider.
    response = HTMLResponse(
        '<!DOCTYPE html><html lang="en"><head><meta http-equiv="refresh" '
        f'content="0;url={target}"><title>Signed in</title></head><body><main><p>'
        f'<a href="{target}">Continue</a></p></main></body></html>'
    )
    c.cookies.issue(response, session_token)
    return response
