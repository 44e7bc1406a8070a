"""Issue 13, defect 1: nothing a police record, the school directory, a reviewer or a URL
supplies may become HTML on a console page.

Injection payloads (``<script>``, a ``<meta http-equiv=refresh>`` that would send the
reviewer to another site, forged forms, ``javascript:`` links, ``onerror`` handlers,
``{{7*7}}``) sit in every incident field that reaches a page and in every reflected
parameter (``tests/security/hostile.py``). In Debian's chromium no injected element
exists in the DOM, each payload is shown as the text it is, and no page navigates away.
The same pages through FastAPI's TestClient catch a regression in seconds.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broker.database import make_engine, session_factory, transaction, upgrade
from console.app import console_templates, create_app
from consumers import review
from consumers.render import EMAIL_ENV, render_email
from schemas.notification import SchoolNotification
from tests.conftest import TEST_KEYRING, unavailable
from tests.console_signin import APPS, finish
from tests.security import hostile
from tests.security.hostile import Hostile, Visit

CHROMIUM = Path(os.environ.get("ENCOMPASS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def hostile_sessions(sqlite_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url, TEST_KEYRING)
    yield session_factory(engine)
    engine.dispose()


def test_every_console_template_is_escaped_whatever_its_name() -> None:
    env = console_templates().env
    names = env.list_templates()
    assert "notification.html.j2" in names and "login.html.j2" in names
    unescaped = [n for n in names if not (env.autoescape(n) if callable(env.autoescape)
                                         else env.autoescape)]  # fmt: skip
    assert unescaped == []


def test_every_school_email_html_template_is_escaped() -> None:
    html_templates = [n for n in EMAIL_ENV.list_templates() if n.endswith(".html.j2")]
    assert {"notification.html.j2", "alert.html.j2", "reminder.html.j2"} <= set(html_templates)
    autoescape = EMAIL_ENV.autoescape
    assert callable(autoescape) and all(autoescape(n) for n in html_templates)


def _sign_in(client: TestClient, username: str | None) -> None:
    client.cookies.clear()
    if username is None:
        return
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    form = {"username": username, "password": hostile.PASSWORD, "csrf_token": token.group(1)}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 303
    finish(client, response, username)  # the auditor: the authenticator's code too


def test_hostile_text_is_escaped_on_every_page(
    hostile_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = hostile.settings_for(tmp_path, "https://console.example")
    seeded = hostile.seed(hostile_sessions, settings, tmp_path / "directory")
    app = create_app(settings, hostile_sessions)
    with TestClient(app, base_url="https://testserver", follow_redirects=True) as client:
        signed_in_as: object = ""
        for visit in hostile.visits(seeded):
            if visit.who != signed_in_as:
                _sign_in(client, visit.who)
                signed_in_as = visit.who
            response = client.get(visit.path)
            assert response.status_code < 500, visit.path
            assert hostile.injected(response.text) == [], visit.path
            shown = html.unescape(response.text)
            for text in (*visit.texts, *(value for _, value in visit.inputs)):
                assert text in shown, (visit.path, text)
        # A failed sign-in shows the form again with the hostile next= still inert.
        client.cookies.clear()
        page = client.get("/login", params={"next": "/" + hostile.META}).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = {"username": hostile.SCRIPT, "password": hostile.IMG,
                "next": "/" + hostile.META, "csrf_token": token.group(1)}  # fmt: skip
        refused = client.post("/login", data=form)
        assert refused.status_code == 401 and hostile.injected(refused.text) == []
        assert "/" + hostile.META in html.unescape(refused.text)


def test_the_school_email_escapes_the_hostile_incident(
    hostile_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = hostile.settings_for(tmp_path, "https://console.example")
    seeded = hostile.seed(hostile_sessions, settings, tmp_path / "directory")
    with transaction(hostile_sessions) as session:
        content = review.get(session, seeded.held).content
    assert content is not None
    rendered = render_email(SchoolNotification.model_validate(content))
    assert hostile.injected(rendered.html) == []
    shown = html.unescape(rendered.html)
    for text in (hostile.HOSTILE_SCHOOL, hostile.PUPIL_GIVEN, hostile.PUPIL_FAMILY,
                 hostile.REF_META, hostile.TEXTAREA):  # fmt: skip
        assert text in shown
    assert hostile.REF_META in rendered.text  # plain text stays the text it is


# --- In the browser -----------------------------------------------------------------------

_NO_INJECTION = """() => ({
  meta: document.querySelectorAll("meta[http-equiv]").length,
  evilForms: document.querySelectorAll("form[action*=evil]").length,
  scriptLinks: [...document.querySelectorAll("[href],[src],[action],[formaction]")].filter(
    (e) => ["href", "src", "action", "formaction"].some(
      (a) => (e.getAttribute(a) || "").trim().toLowerCase().startsWith("javascript:"))).length,
  handlers: [...document.querySelectorAll("*")].filter(
    (e) => [...e.attributes].some((a) => a.name.startsWith("on"))).length,
  inlineScripts: [...document.scripts].filter((s) => !s.src.endsWith("/static/console.js")).length,
  images: document.images.length,
  bold: document.querySelectorAll("b, #evil-bold").length,
  pwned: window.pwned === undefined ? null : String(window.pwned),
})"""
CLEAN = {"meta": 0, "evilForms": 0, "scriptLinks": 0, "handlers": 0, "inlineScripts": 0,
         "images": 0, "bold": 0, "pwned": None}  # fmt: skip


async def _sign_in_browser(page: Any, base: str, username: str | None) -> None:
    await page.context.clear_cookies()
    if username is None:
        return
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", hostile.PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: urlparse(url).path != "/login")
    if "/login/mfa" in page.url:  # the auditor: the authenticator's code too
        await page.fill("#code", APPS[username].code())
        await page.click("button:has-text('Continue')")
        await page.wait_for_url(lambda url: "/login" not in url)


async def _check(page: Any, base: str, visit: Visit, evil_hits: list[str]) -> None:
    where = visit.path
    await page.goto(base + visit.path)
    await page.wait_for_load_state("load")
    await page.wait_for_timeout(300)  # a zero-second meta refresh would have fired
    assert evil_hits == [], (where, evil_hits)
    assert page.url.startswith(base + "/"), (where, page.url)
    assert await page.evaluate(_NO_INJECTION) == CLEAN, where
    assert await page.locator("meta[http-equiv=refresh]").count() == 0, where
    assert await page.locator("form[action*=evil]").count() == 0, where
    text = await page.inner_text("body")
    for expected in visit.texts:
        assert expected in text, (where, expected)
    for selector, value in visit.inputs:
        assert await page.locator(selector).input_value() == value, (where, selector)


@pytest.mark.slow
async def test_no_injected_element_reaches_the_dom_in_chromium(
    hostile_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    from console.server import ConsoleServer
    from tests.smtp_server import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = hostile.settings_for(tmp_path, base)
    seeded: Hostile = hostile.seed(hostile_sessions, settings, tmp_path / "directory")
    server = ConsoleServer(create_app(settings, hostile_sessions), "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            context = await browser.new_context()
            evil_hits: list[str] = []

            async def to_evil(route: Any) -> None:
                evil_hits.append(route.request.url)
                await route.fulfill(status=200, content_type="text/html", body="evil")

            await context.route(re.compile(r"^https?://evil\.example"), to_evil)
            page = await context.new_page()
            signed_in_as: object = ""
            for visit in hostile.visits(seeded):
                if visit.who != signed_in_as:
                    await _sign_in_browser(page, base, visit.who)
                    signed_in_as = visit.who
                await _check(page, base, visit, evil_hits)

            # The signed-out reviewer of the issue: sign-in with next= carrying a refresh,
            # a wrong password, and the form comes back still inert.
            await _sign_in_browser(page, base, None)
            login = Visit(None, "/login?next=" + _quoted("/" + hostile.META), (),
                          (("input[name=next]", "/" + hostile.META),))  # fmt: skip
            await _check(page, base, login, evil_hits)
            await page.fill("#username", hostile.SCRIPT)
            await page.fill("#password", hostile.IMG)
            await page.click("button[type=submit]")
            await page.wait_for_selector(".govuk-error-summary")
            await page.wait_for_timeout(300)
            assert evil_hits == [] and page.url.startswith(base)
            assert await page.evaluate(_NO_INJECTION) == CLEAN
            assert await page.locator("input[name=next]").input_value() == "/" + hostile.META
            await browser.close()
    finally:
        server.request_stop()
        await serving


def _quoted(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
