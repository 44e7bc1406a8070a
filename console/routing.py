"""What every console route shares, declared once as FastAPI dependencies.

- ``Ctx``: the ``Console`` (settings, database, templates, cookies, clock), kept on the app;
- ``Db``: one transaction for the request, committed when the handler returns (before the
  response is sent) and rolled back when it raises;
- ``SignedIn``, ``Reviewer``, ``Auditor``: the person signed in (else ``NotSignedIn``) with
  the role the route needs (else ``Forbidden``);
- ``form_csrf`` and ``header_csrf``: the session's CSRF token on every unsafe request, in the
  form's ``csrf_token`` field or the API's ``X-CSRF-Token`` header (else ``BadCsrf``).

A router lists the role and the CSRF check in its ``dependencies`` and every route in it is
guarded; the exceptions become responses in one place each (``console.app`` for the pages,
``console.api`` for the API). ``claimed`` (claim, act, release) is the reviewer's unit of
work that the pages and the API share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from console.auth import NotSignedIn, Principal, SessionCookies, check_csrf, require
from console.signin import safe_next
from console.signin_csrf import SignInCsrf
from consumers import review
from consumers.acknowledge import AckLinks
from foundations.database import transaction
from foundations.models import NotificationStatus
from foundations.settings import Settings


@dataclass
class Console:
    settings: Settings
    sessions: sessionmaker[Session]
    templates: Jinja2Templates
    cookies: SessionCookies
    clock: Callable[[], datetime]
    signin: SignInCsrf
    links: AckLinks

    def who(self, request: Request, session: Session) -> Principal:
        return self.cookies.principal(request, session, self.clock())

    def page(self, request: Request, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("who", getattr(request.state, "principal", None))
        return self.templates.TemplateResponse(request, name, values, status_code=status)

    def sign_in_page(
        self, request: Request, *, status: int = 200, next: str = "/", error: str = ""
    ) -> HTMLResponse:
        """The sign-in form, with its own CSRF token (there is no session yet)."""
        nonce, token = self.signin.issue(request)
        response = self.page(
            request, "login.html.j2", status=status, next=safe_next(next), error=error,
            who=None, oidc=bool(self.settings.oidc_issuer), csrf_token=token,
        )  # fmt: skip
        self.signin.set_cookie(response, nonce)
        return response


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def console(request: Request) -> Console:
    """The console of the app serving this request (``console.app`` and the mounted API)."""
    found: Console = request.app.state.console
    return found


Ctx = Annotated[Console, Depends(console)]


def _transaction(c: Ctx) -> Iterator[Session]:
    with transaction(c.sessions) as session:
        yield session


# scope="function": committed before the response goes out, so the page a redirect leads to
# sees it; rolled back when the handler raises (a refused action leaves nothing behind).
Db = Annotated[Session, Depends(_transaction, scope="function")]


def signed_in(request: Request, c: Ctx, db: Db) -> Principal:
    return c.who(request, db)


SignedIn = Annotated[Principal, Depends(signed_in)]


def reviewer(who: SignedIn) -> Principal:
    return require(who, review=True)


def auditor(who: SignedIn) -> Principal:
    return require(who, audit=True)


Reviewer = Annotated[Principal, Depends(reviewer)]
Auditor = Annotated[Principal, Depends(auditor)]


def form_csrf(who: SignedIn, csrf_token: str = Form("")) -> None:
    """A form's ``csrf_token`` field is this session's (after the role, if any: list the
    role first in the router's dependencies)."""
    check_csrf(who, csrf_token)


def header_csrf(who: SignedIn, x_csrf_token: str | None = Header(None)) -> None:
    """The API's ``X-CSRF-Token`` header is this session's."""
    check_csrf(who, x_csrf_token)


def maybe_signed_in(request: Request, c: Ctx, db: Db) -> Principal | None:
    try:
        return c.who(request, db)
    except NotSignedIn:
        return None


MaybeSignedIn = Annotated[Principal | None, Depends(maybe_signed_in)]


@contextmanager
def claimed(db: Session, settings: Settings, nid: str, who: Principal) -> Iterator[None]:
    """Claim, act, release: the claim is taken (or renewed) before the action in the block,
    and released after it once the notification needs no more review (approved). A refusal
    (``ReviewError``) leaves the claim to the transaction, which rolls it back."""
    review.claim(db, settings, nid, actor=who.actor, scope=who.scope)
    yield
    if review.get(db, nid, who.scope).status == NotificationStatus.APPROVED:
        review.release_claim(db, nid, actor=who.actor, scope=who.scope)
