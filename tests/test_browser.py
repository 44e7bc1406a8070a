"""The console in a real browser: Debian's chromium driven by Playwright, against the
console served by a running EncompassService (the real Kafka-protocol broker, the real SMTP
server with STARTTLS and AUTH). A reviewer signs in, sees the pending notification for a
twin, chooses the right twin, approves, and the e-mail reaches the SMTP server; an auditor
then finds the record. axe-core checks every page: no serious or critical violations.

``ENCOMPASS_SCREENSHOTS=1`` writes each page to docs/screenshots/ for the README.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from broker.app import EncompassService
from console import mfa
from console.accounts import add_user
from foundations.database import transaction
from foundations.models import Notification
from foundations.settings import ReviewPolicy
from school_directory import imports
from tests.conftest import unavailable
from tests.console_signin import Authenticator
from tests.factories import TWIN_B_UPN, child, incident, isolated_settings, write_directory
from tests.smtp_server import PASSWORD, USERNAME, RecordingSmtpServer, free_port, make_test_ca

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
SCREENSHOTS = Path(__file__).parents[1] / "docs" / "screenshots"
SECRET = "a long enough password"


async def accessible(page: Any, name: str) -> None:
    """axe-core on the page as it is; and, when asked, a screenshot for the README."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert serious == [], f"{name}: {serious}"
    if os.environ.get("ENCOMPASS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def sign_in(page: Any, base: str, username: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", SECRET)
    await page.click("button[type=submit]")


@pytest.mark.kafka
@pytest.mark.slow
async def test_a_reviewer_corrects_a_match_in_the_browser_and_an_auditor_finds_it(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")

    pki = make_test_ca(tmp_path / "pki")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with RecordingSmtpServer(tls="starttls", pki=pki) as smtp:
        settings = isolated_settings(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'browser.db'}",
            smtp_host="localhost",
            smtp_port=smtp.port,
            smtp_username=USERNAME,
            smtp_password=PASSWORD,
            smtp_ca_file=pki.ca_cert,
            review_policy=ReviewPolicy.ALL,
            http_port=port,
            public_url=base,
            escalation_poll_s=0.5,
        )
        service = EncompassService(settings, bootstrap=kafka_bootstrap)
        files = write_directory(tmp_path / "directory")
        with transaction(service.sessions) as session:
            imports.import_schools(session, files["schools"])
            imports.import_contacts(session, files["contacts"])
            imports.import_pupils(session, files["pupils"])
            add_user(session, "rita", "reviewer", SECRET, actor="test")
            auditor = add_user(session, "aud", "auditor", SECRET, actor="test")
            # Auditors sign in with a second factor: this one's app is already set up.
            authenticator = Authenticator(mfa.new_secret())
            auditor.totp_secret = authenticator.secret
        await service.start()
        try:
            twins = incident(
                incident_id="44-20261121-000777",
                persons=[*incident()["persons"][:2], child("c1", "Leo", "Twin", "2017-05-05")],
            )
            await service.broker.publish(
                json.dumps(twins).encode(), topic=settings.incidents_topic, key=b"k"
            )
            nid = await _held(service)

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
                )
                page = await (
                    await browser.new_context(viewport={"width": 1280, "height": 900})
                ).new_page()
                await page.goto(f"{base}/queue")
                assert "/login" in page.url
                await accessible(page, "login")
                await sign_in(page, base, "rita")
                await page.wait_for_url(f"{base}/queue")
                assert await page.locator(f"a:has-text('{nid}')").count() == 1
                await accessible(page, "queue")

                await page.click(f"a:has-text('{nid}')")
                await page.wait_for_selector("h2:has-text('Candidates')")
                await accessible(page, "notification")
                await page.click(f"button[aria-label='Choose {TWIN_B_UPN} at 100002']")
                await page.wait_for_selector("text=Subject:")
                assert "St Mary" in await page.inner_text(
                    "main"
                ) or "100002" in await page.inner_text("main")
                await page.click("button:has-text('Approve and send')")
                await page.wait_for_url(f"{base}/queue?**")
                assert "approved" in await page.inner_text(".govuk-notification-banner")

                # Past its deadline, so First Response's duty inbox hears of it too.
                received = await _mail(smtp, lambda m: "100002" in " ".join(m.rcpt_tos))
                assert "withdrawn" not in str(received.message["subject"])
                await page.goto(f"{base}/sent")
                assert nid in await page.inner_text("main")
                await accessible(page, "sent")

                # Sent in error after all: recall it, and the school is asked to delete it.
                await page.click(f"a:has-text('{nid}')")
                await accessible(page, "recall")
                await page.fill("#recall-reason", "sent to the wrong school")
                await page.click("button:has-text('Recall this notification')")
                await page.wait_for_url(f"{base}/sent?**")
                assert "Recalled" in await page.inner_text("main")
                retraction = await _mail(smtp, lambda m: "withdrawn" in str(m.message["subject"]))
                assert retraction.rcpt_tos == received.rcpt_tos
                assert "Leo" not in retraction.message.as_string()
                await page.goto(f"{base}/mail")
                await accessible(page, "mail")

                await page.click("button:has-text('Sign out')")
                await sign_in(page, base, "aud")
                await page.wait_for_url(f"{base}/login/mfa**")
                await page.fill("#code", authenticator.code())
                await page.click("button:has-text('Continue')")
                await page.wait_for_url(f"{base}/audit")
                await page.fill("#a-school", "100002")
                await page.click("button:has-text('Search')")
                await page.wait_for_selector("h2:has-text('What was shared')")
                text = await page.inner_text("main")
                assert nid in text and "rita (console)" in text and "intact" in text
                await accessible(page, "audit")
                await page.goto(f"{base}/queue")
                assert "cannot see this page" in await page.inner_text("main")
                await browser.close()
        finally:
            await service.stop()


async def _mail(smtp: RecordingSmtpServer, wanted: Any, timeout: float = 30) -> Any:
    """The first message the SMTP server received that ``wanted`` accepts."""
    import asyncio

    for _ in range(int(timeout * 5)):
        found = [m for m in smtp.messages if wanted(m)]
        if found:
            return found[0]
        await asyncio.sleep(0.2)
    raise AssertionError("the expected e-mail never arrived")


async def _held(service: EncompassService) -> str:
    import asyncio

    for _ in range(150):
        with transaction(service.sessions) as session:
            found = session.execute(select(Notification.id)).scalars().first()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError("the incident never reached the review queue")
