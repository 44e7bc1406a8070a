"""The console's web app: ``create_app(settings, sessions)``.

Public: the acknowledgement pages (``console.ack_pages``). Signed in: First Response's
pages (``console.review_pages``), the auditor's (``console.audit_pages``), signing in and
the account (``console.signin_pages``, ``console.account_pages``, ``console.oidc``) and the
JSON API under ``/api/`` (``console.api``). Each is an ``APIRouter`` whose dependencies
(``console.routing``) check the session, the role and the CSRF token; what they refuse
becomes a response here, in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.orm import Session, sessionmaker

from console import (
    account_pages,
    ack_pages,
    api,
    audit_pages,
    health_pages,
    oidc,
    review_pages,
    signin_pages,
)
from console.auth import BadCsrf, Forbidden, NotSignedIn, SessionCookies
from console.routing import Console, console, see_other
from console.signin_csrf import SignInCsrf
from consumers.acknowledge import AckLinks, BadLink
from consumers.held_account import AccountError
from consumers.review import NotFound, ReviewError
from foundations.clock import utcnow
from foundations.settings import Settings

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token must not leak to another site
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
# Sent only when the cookies are Secure, i.e. the console is served over https.
HSTS = "max-age=31536000; includeSubDomains"


def console_templates() -> Jinja2Templates:
    """Every console template is HTML, whatever its name (``*.html.j2``): all are escaped.

    Starlette's own environment escapes only templates named ``.html``, ``.htm`` or
    ``.xml``, which left every console page rendering police and directory data as live
    HTML. Markup built in code must be ``markupsafe.Markup`` made from escaped parts.
    """
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    return Jinja2Templates(env=env)


def create_app(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    links: AckLinks | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """The console, with its database sessions and signing key passed in."""
    signer = links or AckLinks.from_settings(settings)
    app = FastAPI(
        title="Operation Encompass console", docs_url=None, redoc_url=None, openapi_url=None
    )
    cookies = SessionCookies(signer.secret, settings)
    signin_csrf = SignInCsrf(signer.secret, secure=cookies.secure)
    c = Console(settings, sessions, console_templates(), cookies, clock, signin_csrf, signer)
    app.state.console = c
    _security_headers(app, cookies)
    _refusals(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (signin_pages.router, review_pages.pages, review_pages.forms,
                   audit_pages.router, account_pages.router):  # fmt: skip
        app.include_router(router)
    app.include_router(health_pages.router)
    oidc.install(app, c, signer.secret)
    api_app = api.create_api(c)
    app.mount("/api", api_app)
    app.state.api_openapi = api_app.openapi  # the internal listener serves it too
    app.include_router(ack_pages.router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _security_headers(app: FastAPI, cookies: SessionCookies) -> None:
    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        who = getattr(request.state, "principal", None)
        if who is not None and "set-cookie" not in response.headers:
            cookies.issue(response, who.token, who.csrf)  # slides the idle timeout
        if cookies.secure:
            response.headers["Strict-Transport-Security"] = HSTS
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=3600"
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response
        response.headers.update(SECURITY_HEADERS)  # no-store: pages carry personal data
        return response


def not_signed_in(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def forbidden(request: Request, exc: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": "your role does not allow this"}, status_code=403)
    templates = console(request).templates
    return templates.TemplateResponse(request, "forbidden.html.j2", {}, status_code=403)


def bad_csrf(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": "missing or wrong CSRF token"}, status_code=403)


def refused(request: Request, exc: Exception) -> Response:
    """A reviewer's action refused (rolled back): back to the notification, with why."""
    nid = request.path_params.get("nid", "")
    return see_other(f"/notifications/{quote(nid)}?error={quote(str(exc))}")


def not_found(request: Request, exc: Exception) -> Response:
    """Opening a notification that does not exist: the 404 page. Acting on one is refused
    like any other action."""
    if request.method != "GET":
        return refused(request, exc)
    return console(request).page(request, "not_found.html.j2", status=404)


def _refusals(app: FastAPI) -> None:
    """The pages' answers to what the routes' dependencies and actions refuse (the API,
    mounted at ``/api``, has its own: ``console.api``)."""
    for kind, handler in (
        (NotSignedIn, not_signed_in),
        (Forbidden, forbidden),
        (BadCsrf, bad_csrf),
        (NotFound, not_found),
        (ReviewError, refused),
        (AccountError, refused),
        (BadLink, ack_pages.bad_link),
    ):
        app.add_exception_handler(kind, handler)
