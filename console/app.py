"""The console's web app: ``create_app(settings, sessions)``.

Public: the acknowledgement pages. A GET of a link shows a page without personal data (the
reference only) and a button; only the POST of that button records anything. Signed in:
First Response's pages (``console.pages``) and the JSON API under ``/api/``
(``console.api``), with sessions and CSRF from ``console.auth``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy.orm import Session, sessionmaker

from console import api, oidc, pages, signin
from console.auth import BadCsrf, Forbidden, NotSignedIn, SessionCookies
from console.signin_csrf import SignInCsrf
from consumers.acknowledge import (
    AckClaim,
    AckLinks,
    AckOutcome,
    AckResult,
    BadLink,
    LinkProblem,
    ack_state,
    acknowledge,
)
from consumers.render import london_when
from foundations.clock import utcnow
from foundations.database import transaction
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
    templates = console_templates()
    app = FastAPI(
        title="Operation Encompass console", docs_url=None, redoc_url=None, openapi_url=None
    )
    contact = {
        "first_response_name": settings.first_response_name,
        "first_response_phone": settings.first_response_phone,
    }

    cookies = SessionCookies(signer.secret, settings)
    signin_csrf = SignInCsrf(signer.secret, secure=cookies.secure)

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

    @app.exception_handler(NotSignedIn)
    def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "your role does not allow this"}, status_code=403)
        return templates.TemplateResponse(request, "forbidden.html.j2", {}, status_code=403)

    @app.exception_handler(BadCsrf)
    def bad_csrf(request: Request, exc: BadCsrf) -> Response:
        return JSONResponse({"detail": "missing or wrong CSRF token"}, status_code=403)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    console = pages.Console(settings, sessions, templates, cookies, clock, signin_csrf)
    pages.register(app, console)
    signin.register(app, console)
    oidc.install(app, console, signer.secret)
    api_app = api.create_api(console)
    app.mount("/api", api_app)
    app.state.api_openapi = api_app.openapi  # the internal listener serves it too

    def bad_link(request: Request, problem: LinkProblem) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "bad_link.html.j2",
            {"problem": problem.value, "ttl_days": settings.ack_link_ttl_days, **contact},
            status_code=410 if problem is LinkProblem.EXPIRED else 400,
        )

    def page(request: Request, result: AckResult) -> HTMLResponse:
        when = london_when(result.acknowledged_at) if result.acknowledged_at else ""
        status = 404 if result.outcome is AckOutcome.UNAVAILABLE else 200
        return templates.TemplateResponse(
            request,
            "ack.html.j2",
            {"outcome": result.outcome.value, "reference": result.reference, "when": when,
             **contact},
            status_code=status,
        )  # fmt: skip

    def read(token: str) -> AckClaim:
        return signer.read(token, clock())

    @app.get("/ack/{token}", response_class=HTMLResponse)
    def ack_page(request: Request, token: str) -> HTMLResponse:
        """Shows the button; records nothing (mail scanners open every link)."""
        try:
            claim = read(token)
        except BadLink as why:
            return bad_link(request, why.problem)
        with transaction(sessions) as session:
            return page(request, ack_state(session, claim))

    @app.post("/ack/{token}", response_class=HTMLResponse)
    def ack_submit(request: Request, token: str) -> HTMLResponse:
        """Records the acknowledgement, once, with its audit row."""
        try:
            claim = read(token)
        except BadLink as why:
            return bad_link(request, why.problem)
        with transaction(sessions) as session:
            return page(request, acknowledge(session, claim, clock()))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
