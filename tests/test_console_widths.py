"""Every console page fits the screen (issue 15, item 6): in Debian's chromium driven by
Playwright, each page with something of every kind on it (tests/console_pages.py) at 1,280
and 800 pixels wide has no horizontal page overflow (wide tables scroll inside their own
region, long values wrap), and axe-core finds no serious or critical violation at either
width. Then a reviewer approves a notification with the keyboard only (Tab and Enter), from
the queue to the approved notification.

The console is served by uvicorn in this process over the seeded SQLite database; no Kafka.
``ENCOMPASS_SCREENSHOTS=1`` writes each page at each width to docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from console.app import create_app
from console.server import ConsoleServer
from foundations.database import make_engine, session_factory, transaction, upgrade
from foundations.models import Notification, NotificationStatus
from tests.conftest import TEST_KEYRING, unavailable
from tests.console_pages import PASSWORD, Seeded, seed, settings_for
from tests.console_signin import APPS
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

WIDTHS = (1280, 800)
HEIGHT = 900

pytestmark = pytest.mark.slow


class Served:
    def __init__(self, base: str, seeded: Seeded, sessions: Any) -> None:
        self.base, self.seeded, self.sessions = base, seeded, sessions


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    url = f"sqlite:///{tmp_path / 'widths.db'}"
    upgrade(url)
    engine = make_engine(url, TEST_KEYRING)
    sessions = session_factory(engine)
    seeded = seed(sessions, tmp_path)
    server = ConsoleServer(create_app(settings_for(tmp_path), sessions), "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    try:
        yield Served(server.url, seeded, sessions)
    finally:
        server.request_stop()
        await task
        engine.dispose()


async def sign_in(page: Any, base: str, username: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    if username in APPS:  # auditors and admins: the second factor
        await page.wait_for_url(f"{base}/login/mfa**")
        await page.fill("#code", APPS[username].code())
        await page.click("button:has-text('Continue')")
    await page.wait_for_url(lambda url: "/login" not in url)


async def overflow(page: Any) -> list[str]:
    """How far the page is wider than the window, and the elements that stick out of it
    (an element inside a scrolling region does not count: the region scrolls; but at
    1,280 pixels no region needs to, so that nothing, the "To" column or the content hash,
    is out of sight)."""
    return list(
        await page.evaluate(
            """() => {
            const width = document.documentElement.clientWidth;
            const out = [];
            if (document.documentElement.scrollWidth > width) {
              out.push(`page ${document.documentElement.scrollWidth}px > ${width}px`);
            }
            for (const el of document.querySelectorAll("main *")) {
              if (el.closest(".console-scroll")) continue;
              const box = el.getBoundingClientRect();
              if (box.width && box.right > width + 1) {
                const name = `${el.tagName.toLowerCase()}.${el.className}`;
                out.push(`${name} ends at ${Math.round(box.right)}px`);
              }
            }
            if (width >= 1280) {  // at desktop width even a table's region need not scroll
              for (const region of document.querySelectorAll(".console-scroll")) {
                if (region.scrollWidth > region.clientWidth + 1) {
                  const name = region.getAttribute("aria-label");
                  out.push(`${name} scrolls: ${region.scrollWidth}px in ${region.clientWidth}px`);
                }
              }
            }
            return out.slice(0, 5);
        }"""
        )
    )


async def check(page: Any, name: str, problems: dict[str, list[str]]) -> None:
    """At each width: no overflow, axe-core clean, and a screenshot when asked."""
    from axe_playwright_python.async_playwright import Axe

    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": HEIGHT})
        found = await overflow(page)
        results = await Axe().run(page)
        found += [
            f"axe {v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        if found:
            problems[f"{name} at {width}px"] = found
        if os.environ.get("ENCOMPASS_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
    await page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})


def _browser_or_skip() -> Any:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    return async_playwright


async def test_every_page_fits_1280_and_800_pixels_and_passes_axe(served: Served) -> None:
    async_playwright = _browser_or_skip()
    base, ids = served.base, served.seeded.ids
    problems: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": WIDTHS[0], "height": HEIGHT})
        page = await context.new_page()
        await page.goto(f"{base}/login")
        await check(page, "login", problems)
        await page.goto(f"{base}/ack/{served.seeded.ack_token}")
        await check(page, "acknowledge", problems)
        await page.goto(f"{base}/ack/not-a-token")
        await check(page, "acknowledge-bad-link", problems)

        await sign_in(page, base, "rita")
        reviewer_pages = {
            "notification": f"/notifications/{ids['twins']}",
            "notification-close-match": f"/notifications/{ids['close']}",
            "notification-not-found": f"/notifications/{ids['not_found']}",
            "held-account": f"/notifications/{ids['held']}",
            "notification-late": f"/notifications/{ids['late']}",
            "notification-sent": f"/notifications/{ids['sent']}",
            "notification-follow-up": f"/notifications/{ids['follow_up']}",
            "recall": f"/notifications/{ids['recalled']}",
            "notification-failed": f"/notifications/{ids['failed']}",
            "sent": "/sent",
            "mail": "/mail",
            "account": "/account",
            "page-not-found": "/notifications/N-none",
            "forbidden": "/audit",
        }
        for name, path in reviewer_pages.items():
            await page.goto(base + path)
            await check(page, name, problems)
        await page.goto(f"{base}/mail")
        await page.click("main ul a >> nth=0")
        await page.wait_for_selector(".console-preview")
        await check(page, "mail-message", problems)

        await page.click("button:has-text('Sign out')")
        await sign_in(page, base, "aud")
        for name, path in {"audit": "/audit?school=100001", "audit-empty": "/audit"}.items():
            await page.goto(base + path)
            await check(page, name, problems)
        await page.click("button:has-text('Sign out')")
        await sign_in(page, base, "dana")  # an administrator: the accounts page (issue 17)
        await page.goto(f"{base}/accounts")
        await check(page, "accounts", problems)
        await browser.close()
    assert problems == {}


async def test_the_queue_fits_1280_and_800_pixels_and_passes_axe(served: Served) -> None:
    async_playwright = _browser_or_skip()
    problems: dict[str, list[str]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = await (
            await browser.new_context(viewport={"width": WIDTHS[0], "height": HEIGHT})
        ).new_page()
        await sign_in(page, served.base, "rita")
        await page.goto(f"{served.base}/queue")
        await check(page, "queue", problems)
        await browser.close()
    assert problems == {}


async def test_a_reviewer_approves_with_the_keyboard_only(served: Served) -> None:
    async_playwright = _browser_or_skip()
    base, nid = served.base, served.seeded.ids["waiting"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = await (
            await browser.new_context(viewport={"width": WIDTHS[0], "height": HEIGHT})
        ).new_page()
        await page.goto(f"{base}/login")
        await tab_to(page, "#username")
        await page.keyboard.type("rita")
        await page.keyboard.press("Tab")
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/queue")

        await tab_to(page, f"a[href='/notifications/{nid}']")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/notifications/{nid}")
        await tab_to(page, "button:has-text('Approve and send')")
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/queue?**")
        assert "approved" in await page.inner_text(".govuk-notification-banner")
        await tab_to(page, f"a[href='/notifications/{nid}']")  # it waits to be sent
        await page.keyboard.press("Enter")
        await page.wait_for_url(f"{base}/notifications/{nid}")
        assert "Approved, waiting to be sent" in await page.inner_text("#status")
        await browser.close()
    with transaction(served.sessions) as s:
        n = s.get(Notification, nid)
        assert n is not None and n.status == NotificationStatus.APPROVED
        assert n.decided_by == "console:rita"


async def tab_to(page: Any, selector: str, most: int = 200) -> None:
    """Press Tab until ``selector`` has the focus, as a keyboard user would."""
    target = page.locator(selector).first
    for _ in range(most):
        await page.keyboard.press("Tab")
        if await target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{selector} was never reached with Tab")
