"""Issue 13, defect 6: multi-factor sign-in. TOTP (RFC 6238) with single-use recovery codes,
required for admins and auditors and, when configured, for reviewers. The whole flow in
Debian's chromium: set up after the password, sign out, sign in with a code, sign in with
a recovery code, a wrong code refused. Then, on both databases: the JSON API asks for the
second factor too; a code is never accepted twice; the secret is encrypted at rest and
the recovery codes are kept only as hashes; wrong codes are throttled like passwords."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from console import mfa
from console.accounts import add_user
from console.app import create_app
from console.server import ConsoleServer
from foundations.database import make_engine, session_factory, transaction, upgrade
from foundations.models import AuditEvent
from foundations.settings import Settings
from tests.conftest import TEST_KEYRING, unavailable
from tests.console_signin import (
    APPS,
    Authenticator,
    api_session,
    finish,
    manual_key,
    post_login,
    recovery_codes,
)
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, accessible
from tests.test_console import PASSWORD, csrf_of


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="https://console.example", **changes
    )


def not_a_code(secret: str) -> str:
    """Six digits that no step near now accepts."""
    totp, now = pyotp.TOTP(secret), int(time.time() // 30)
    near = {totp.generate_otp(s) for s in range(now - 2, now + 3)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


# -- the browser ------------------------------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, sessionmaker[Session]]]:
    """The console on a real port, as ``encompass up`` serves it, over SQLite."""
    url = f"sqlite:///{tmp_path / 'mfa.db'}"
    upgrade(url)
    engine = make_engine(url, TEST_KEYRING)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        add_user(session, "aud", "auditor", PASSWORD, actor="test")
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, public_url="http://127.0.0.1")
    server = ConsoleServer(create_app(settings, sessions), "127.0.0.1", 0)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server._server.started:
                break
            await asyncio.sleep(0.05)
        yield server.url, sessions
    finally:
        server.request_stop()
        await task
        engine.dispose()


async def test_setting_up_and_signing_in_with_a_code_and_a_recovery_code_in_the_browser(
    served: tuple[str, sessionmaker[Session]],
) -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        unavailable(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    base, sessions = served

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = await (await browser.new_context()).new_page()

        async def password() -> None:
            await page.goto(f"{base}/login")
            await page.fill("#username", "aud")
            await page.fill("#password", PASSWORD)
            await page.click("button[type=submit]")

        async def code(value: str) -> None:
            await page.fill("#code", value)
            await page.click("button:has-text('Continue')")

        async def sign_out() -> None:
            await page.click("button:has-text('Sign out')")
            await page.wait_for_url(f"{base}/login")

        # An auditor without a second factor is sent to set one up after the password.
        await password()
        await page.wait_for_url(f"{base}/mfa/enrol**")
        key = (await page.inner_text("#manual-key")).replace(" ", "")
        uri = await page.inner_text("#otpauth-uri")
        assert uri.startswith("otpauth://totp/") and f"secret={key}" in uri
        assert "issuer=Operation%20Encompass" in uri
        qr_width = await page.evaluate("document.querySelector('img.console-qr').naturalWidth")
        assert qr_width > 100  # the QR code is drawn
        await accessible(page, "mfa-enrol")
        await page.goto(f"{base}/audit")  # nothing else opens before it is set up
        assert "/login" in page.url
        await page.goto(f"{base}/mfa/enrol")

        app = Authenticator(key)
        await page.fill("#code", not_a_code(key))
        await page.click("button:has-text('Turn on two-step sign-in')")
        await page.wait_for_url(f"{base}/mfa/enrol?**")
        assert "not right" in await page.inner_text("main")
        await page.fill("#code", app.code())
        await page.click("button:has-text('Turn on two-step sign-in')")
        await page.wait_for_selector("#recovery-codes")
        codes = await page.locator("#recovery-codes code").all_inner_texts()
        assert len(codes) == 10 and len(set(codes)) == 10
        await accessible(page, "mfa-recovery-codes")
        await page.click("a:has-text('continue')")
        await page.wait_for_url(f"{base}/audit")
        await sign_out()

        # Signing in again: the password, then the app's code; a wrong code is refused.
        await password()
        await page.wait_for_url(f"{base}/login/mfa**")
        await accessible(page, "mfa-code")
        await code(not_a_code(key))
        assert "not right" in await page.inner_text(".govuk-error-summary")
        assert "/login/mfa" in page.url
        await code(app.code())
        await page.wait_for_url(f"{base}/audit")
        await sign_out()

        # A lost phone: a recovery code signs in, once.
        await password()
        await page.wait_for_url(f"{base}/login/mfa**")
        await code(codes[0])
        await page.wait_for_url(f"{base}/audit")
        await sign_out()
        await password()
        await page.wait_for_url(f"{base}/login/mfa**")
        await code(codes[0])
        assert "used already" in await page.inner_text(".govuk-error-summary")
        await page.goto(f"{base}/audit")
        assert "/login" in page.url
        await browser.close()

    with transaction(sessions) as s:
        signed = s.execute(select(AuditEvent).where(AuditEvent.action == "signed_in")).scalars()
        assert [e.details["second_factor"] for e in signed] == ["totp", "totp", "recovery_code"]


# -- over HTTP, both databases --------------------------------------------------------------


@pytest.fixture
def people(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        add_user(session, "aud", "auditor", PASSWORD, actor="test")
        add_user(session, "ada", "admin", PASSWORD, actor="test")
        add_user(session, "rita", "reviewer", PASSWORD, actor="test")
    APPS.clear()
    return sessions


@pytest.fixture
def client(people: sessionmaker[Session], tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(tmp_path), people)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


def password(client: TestClient, username: str) -> Any:
    done = post_login(client, {"username": username, "password": PASSWORD})
    assert done.status_code == 303, done.text
    return done


def enrolled(client: TestClient, username: str) -> list[str]:
    """Sign in and set up the second factor; signed out again. The recovery codes."""
    done = finish(client, password(client, username), username)
    codes = recovery_codes(done.text)
    client.cookies.clear()
    return codes


def code_form(client: TestClient) -> dict[str, str]:
    page = client.get("/login/mfa")
    assert page.status_code == 200
    return {"csrf_token": csrf_of(page.text), "next": "/"}


def test_admins_and_auditors_must_set_up_a_second_factor_and_reviewers_when_configured(
    people: sessionmaker[Session], tmp_path: Path
) -> None:
    app = create_app(settings_for(tmp_path), people)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        for who in ("aud", "ada"):
            assert password(c, who).headers["location"].startswith("/mfa/enrol")
            c.cookies.clear()
        assert password(c, "rita").headers["location"] == "/"
    strict = create_app(settings_for(tmp_path, console_mfa_reviewers=True), people)
    with TestClient(strict, base_url="https://testserver", follow_redirects=False) as c:
        assert password(c, "rita").headers["location"].startswith("/mfa/enrol")


def test_a_sign_in_waiting_for_its_second_factor_opens_nothing(client: TestClient) -> None:
    password(client, "ada")
    assert client.get("/queue").headers["location"].startswith("/login")
    assert client.get("/api/queue").status_code == 401
    assert client.get("/account").status_code == 303
    page = client.get("/mfa/enrol")
    refused = client.post("/mfa/enrol", data={"code": "123456"})  # no CSRF token
    assert page.status_code == 200 and refused.status_code == 403


def test_a_reviewer_can_choose_to_set_it_up_and_is_then_asked_for_it(
    client: TestClient,
) -> None:
    password(client, "rita")
    account = client.get("/account")
    assert "Set up two-step sign-in" in account.text
    page = client.get("/mfa/enrol?next=/account")
    app = APPS["rita"] = Authenticator(manual_key(page.text))
    done = client.post("/mfa/enrol", data={"csrf_token": csrf_of(page.text), "code": app.code(),
                                           "next": "/account"})  # fmt: skip
    assert done.status_code == 200 and len(recovery_codes(done.text)) == 10
    assert "On (10 recovery codes left)" in client.get("/account").text
    client.cookies.clear()
    assert password(client, "rita").headers["location"].startswith("/login/mfa")


def test_the_api_session_needs_the_second_factor_too(client: TestClient) -> None:
    body = {"username": "ada", "password": PASSWORD}
    first = api_session(client, body)
    assert first.status_code == 403 and "set up" in first.json()["detail"]
    codes = enrolled(client, "ada")
    asked = api_session(client, body)
    assert asked.status_code == 401 and "second factor" in asked.json()["detail"]
    assert client.get("/api/queue").status_code == 401
    wrong = api_session(client, {**body, "code": not_a_code(APPS["ada"].secret)})
    assert wrong.status_code == 401 and client.get("/api/queue").status_code == 401
    right = api_session(client, {**body, "code": APPS["ada"].code()})
    assert right.status_code == 200 and client.get("/api/queue").status_code == 200
    client.cookies.clear()
    spare = api_session(client, {**body, "code": codes[1].lower()})
    assert spare.status_code == 200  # a recovery code, however it is typed
    client.cookies.clear()
    assert api_session(client, {**body, "code": codes[1]}).status_code == 401


def test_a_code_is_never_accepted_twice(client: TestClient) -> None:
    enrolled(client, "aud")
    app = APPS["aud"]
    code = app.code()
    password(client, "aud")
    assert client.post("/login/mfa", data={**code_form(client), "code": code}).status_code == 303
    client.cookies.clear()
    password(client, "aud")
    replay = client.post("/login/mfa", data={**code_form(client), "code": code})
    assert replay.status_code == 401 and "used already" in replay.text


def test_the_same_code_sent_twice_at_once_is_accepted_once(
    people: sessionmaker[Session], tmp_path: Path, client: TestClient
) -> None:
    enrolled(client, "aud")
    code = APPS["aud"].code()
    app = create_app(settings_for(tmp_path), people)
    results: list[int] = []
    start = threading.Barrier(2)

    def attempt() -> None:
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
            password(c, "aud")
            form = code_form(c)
            start.wait()
            results.append(c.post("/login/mfa", data={**form, "code": code}).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [303, 401]


def test_the_secret_is_encrypted_at_rest_and_recovery_codes_are_only_hashes(
    client: TestClient, people: sessionmaker[Session]
) -> None:
    password(client, "aud")
    page = client.get("/mfa/enrol")
    key = manual_key(page.text)
    with transaction(people) as s:
        [waiting] = s.execute(text("SELECT enrol_secret FROM console_sessions")).scalars()
    assert waiting.startswith("enc2.") and key not in waiting
    app = APPS["aud"] = Authenticator(key)
    done = client.post("/mfa/enrol", data={"csrf_token": csrf_of(page.text), "code": app.code()})
    codes = recovery_codes(done.text)
    with transaction(people) as s:
        stored = s.execute(
            text("SELECT totp_secret FROM console_users WHERE username = 'aud'")
        ).scalar_one()
        hashes = " ".join(
            s.execute(text("SELECT code_sha256 FROM console_recovery_codes")).scalars()
        )
        user = s.execute(text("SELECT * FROM console_users WHERE username = 'aud'")).one()
    assert stored.startswith("enc2.") and key not in stored
    assert key not in " ".join(str(v) for v in user)
    assert len(codes) == 10
    assert not any(c.replace("-", "") in hashes or c in hashes for c in codes)


def test_wrong_codes_are_throttled_like_passwords(
    people: sessionmaker[Session], tmp_path: Path
) -> None:
    app = create_app(settings_for(tmp_path, login_max_failures=3), people)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        enrolled(c, "aud")
        password(c, "aud")
        wrong = not_a_code(APPS["aud"].secret)
        for _ in range(3):
            assert c.post("/login/mfa", data={**code_form(c), "code": wrong}).status_code == 401
        right = c.post("/login/mfa", data={**code_form(c), "code": APPS["aud"].code()})
        assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
        assert c.get("/audit").status_code == 303
    with transaction(people) as s:
        failed = s.execute(select(AuditEvent).where(AuditEvent.action == "sign_in_failed"))
        assert sum(bool(e.details.get("second_factor")) for e in failed.scalars()) == 3


def test_a_reset_second_factor_must_be_set_up_again_and_ends_the_sessions(
    client: TestClient, people: sessionmaker[Session]
) -> None:
    enrolled(client, "aud")
    finish(client, password(client, "aud"), "aud")
    assert client.get("/audit").status_code == 200
    with transaction(people) as s:
        mfa.reset(s, "aud", actor="cli:alice", now=mfa_now())
    assert client.get("/audit").status_code == 303
    client.cookies.clear()
    assert password(client, "aud").headers["location"].startswith("/mfa/enrol")
    with transaction(people) as s:
        [reset] = s.execute(select(AuditEvent).where(AuditEvent.action == "mfa_reset")).scalars()
        assert reset.actor == "cli:alice" and reset.details == {"user": "aud"}


def mfa_now() -> Any:
    from foundations.clock import utcnow

    return utcnow()
