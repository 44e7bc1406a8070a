"""Issue 13, defect 4: sessions can be revoked. A cookie copied before sign-out, before a
password change, before the account was disabled or before "sign out everywhere" opens
nothing afterwards, on the pages or the JSON API; every session has an absolute lifetime
besides the idle timeout; `encompass users list|disable|enable|signout-all` work and are
audited. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditEvent
from broker.database import make_engine, session_factory, transaction, upgrade
from broker.settings import Settings
from console.accounts import add_user, set_active
from console.app import create_app
from consumers import review
from tests.conftest import TEST_KEYRING
from tests.console_signin import api_session, post_login
from tests.factories import incident
from tests.test_console import PASSWORD, csrf_of, publish

Completed = subprocess.CompletedProcess[str]


class Clock:
    """The console's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="https://console.example", **changes
    )


@pytest.fixture
def accounts(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        add_user(session, "rita", "reviewer", PASSWORD, actor="test")
        add_user(session, "rob", "reviewer", PASSWORD, actor="test")
    return sessions


@pytest.fixture
def console(accounts: sessionmaker[Session], tmp_path: Path) -> Iterator[Callable[[], TestClient]]:
    """A new browser (its own cookie jar) on one console app each time it is called."""
    app = create_app(settings_for(tmp_path), accounts)
    clients: list[TestClient] = []

    def browser() -> TestClient:
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield browser
    for client in clients:
        client.__exit__(None, None, None)


def sign_in(client: TestClient, username: str = "rita") -> str:
    done = post_login(client, {"username": username, "password": PASSWORD})
    assert done.status_code == 303, done.text
    return csrf_of(client.get("/queue").text)


def copy_of(client: TestClient, console: Callable[[], TestClient]) -> TestClient:
    """Another browser holding a copy of ``client``'s cookie (stolen, or left behind)."""
    thief = console()
    for name, value in client.cookies.items():
        thief.cookies.set(name, value)
    return thief


def events(sessions: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with transaction(sessions) as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def locked_out(client: TestClient, token: str, nid: str) -> bool:
    """Neither the pages nor the API let this cookie in, and it cannot claim ``nid``."""
    page = client.get("/queue")
    claim = client.post(f"/notifications/{nid}/claim", data={"csrf_token": token})
    api = client.get("/api/queue")
    api_claim = client.post(f"/api/notifications/{nid}/claim", headers={"X-CSRF-Token": token})
    return (
        page.status_code == 303 and page.headers["location"].startswith("/login")
        and claim.status_code == 303 and claim.headers["location"].startswith("/login")
        and api.status_code == 401 and api_claim.status_code == 401
    )  # fmt: skip


def unclaimed(sessions: sessionmaker[Session], nid: str) -> bool:
    with transaction(sessions) as s:
        return review.get(s, nid).review_claimed_by is None


def test_a_cookie_copied_before_sign_out_opens_nothing_afterwards(
    console: Callable[[], TestClient], accounts: sessionmaker[Session]
) -> None:
    nid = publish(accounts, incident())
    rita = console()
    token = sign_in(rita)
    thief = copy_of(rita, console)
    assert thief.get("/queue").status_code == 200  # the copy works while the session lives
    assert rita.post("/logout", data={"csrf_token": token}).status_code == 303
    assert locked_out(thief, token, nid)
    assert unclaimed(accounts, nid)
    [out] = events(accounts, "signed_out")
    assert out.actor == "console:rita"


def test_the_api_signs_out_on_the_server_too(
    console: Callable[[], TestClient], accounts: sessionmaker[Session]
) -> None:
    nid = publish(accounts, incident())
    client = console()
    signed = api_session(client, {"username": "rita", "password": PASSWORD})
    token = signed.json()["csrf_token"]
    thief = copy_of(client, console)
    assert client.delete("/api/session").status_code == 403  # without the CSRF header
    assert client.delete("/api/session", headers={"X-CSRF-Token": token}).status_code == 204
    assert locked_out(thief, token, nid) and unclaimed(accounts, nid)


def test_a_password_change_ends_the_sessions_opened_with_the_old_one(
    console: Callable[[], TestClient], accounts: sessionmaker[Session]
) -> None:
    nid = publish(accounts, incident())
    rita = console()
    token = sign_in(rita)
    with transaction(accounts) as s:
        add_user(s, "rita", "reviewer", "a new and longer password", actor="cli:admin")
    assert locked_out(rita, token, nid) and unclaimed(accounts, nid)
    [ended] = events(accounts, "sessions_ended")
    assert ended.details == {"user": "rita", "why": "password_changed", "sessions": 1}
    assert ended.actor == "cli:admin"


def test_disabling_an_account_ends_its_sessions_and_enabling_lets_it_sign_in_again(
    console: Callable[[], TestClient], accounts: sessionmaker[Session]
) -> None:
    nid = publish(accounts, incident())
    rita = console()
    token = sign_in(rita)
    with transaction(accounts) as s:
        set_active(s, "rita", False, actor="cli:admin")
    with transaction(accounts) as s:  # enabled again: the old session stays ended
        set_active(s, "rita", True, actor="cli:admin")
    assert locked_out(rita, token, nid) and unclaimed(accounts, nid)
    sign_in(console())
    assert [e.action for e in events(accounts, "user_disabled")] == ["user_disabled"]
    assert [e.details["user"] for e in events(accounts, "user_enabled")] == ["rita"]


def test_sign_out_everywhere_ends_every_session_of_that_person_only(
    console: Callable[[], TestClient], accounts: sessionmaker[Session]
) -> None:
    nid = publish(accounts, incident())
    office, home, rob = console(), console(), console()
    office_token, home_token = sign_in(office), sign_in(home)
    sign_in(rob, "rob")
    account = home.get("/account")
    assert account.status_code == 200 and "2 sessions open" in account.text
    assert "Sign out everywhere" in account.text
    done = home.post("/account/signout-all", data={"csrf_token": csrf_of(account.text)})
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert locked_out(office, office_token, nid) and locked_out(home, home_token, nid)
    assert unclaimed(accounts, nid)
    assert rob.get("/queue").status_code == 200  # someone else's session is not touched
    [ended] = events(accounts, "sessions_ended")
    assert ended.actor == "console:rita"
    assert ended.details == {"user": "rita", "why": "signed_out_everywhere", "sessions": 2}


def test_sign_out_everywhere_needs_the_csrf_token(
    console: Callable[[], TestClient],
) -> None:
    rita = console()
    sign_in(rita)
    assert rita.post("/account/signout-all", data={"csrf_token": "forged"}).status_code == 403
    assert rita.get("/queue").status_code == 200


def test_a_session_ends_at_its_absolute_lifetime_however_busy(
    accounts: sessionmaker[Session], tmp_path: Path
) -> None:
    clock = Clock()
    settings = settings_for(tmp_path, console_session_max_hours=2, console_session_idle_min=30)
    app = create_app(settings, accounts, clock=clock)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as rita:
        sign_in(rita)
        for _ in range(5):  # busy all along: a request every 20 minutes for 100 minutes
            clock.advance(minutes=20)
            assert rita.get("/queue").status_code == 200
        clock.advance(minutes=21)  # 121 minutes after signing in
        assert rita.get("/queue").status_code == 303
        assert rita.get("/api/queue").status_code == 401


def test_the_server_side_idle_timeout_holds_whatever_the_cookie_says(
    accounts: sessionmaker[Session], tmp_path: Path
) -> None:
    clock = Clock()
    app = create_app(settings_for(tmp_path, console_session_idle_min=10), accounts, clock=clock)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as rita:
        sign_in(rita)
        clock.advance(minutes=9)
        assert rita.get("/queue").status_code == 200
        clock.advance(minutes=11)
        assert rita.get("/queue").status_code == 303


def test_the_database_holds_no_usable_session_token(
    console: Callable[[], TestClient], accounts: sessionmaker[Session]
) -> None:
    rita = console()
    sign_in(rita)
    with transaction(accounts) as s:
        ids = s.execute(text("SELECT id FROM console_sessions")).scalars().all()
    cookies = list(rita.cookies.values())  # the session's, and the sign-in form's
    assert len(ids) == 1 and not any(ids[0] in c for c in cookies)  # only the token's SHA-256


@pytest.fixture
def cli(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Completed]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env |= {
        "ENCOMPASS_DATA_DIR": str(tmp_path),
        "ENCOMPASS_DATABASE_URL": database_url,
        "ENCOMPASS_DATA_KEY": "t1:" + base64.b64encode(b"\x01" * 32).decode(),  # TEST_KEYRING
    }

    def run(*args: str, stdin: str = "") -> Completed:
        return subprocess.run(
            [sys.executable, "-m", "broker.cli", "users", *args],
            env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    yield run


def test_the_users_commands_list_disable_enable_and_sign_out_everywhere(
    cli: Callable[..., Completed], database_url: str, tmp_path: Path
) -> None:
    made = cli("add", "rita", "--role", "reviewer", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    upgrade(database_url)
    engine = make_engine(database_url, TEST_KEYRING)
    sessions = session_factory(engine)
    app = create_app(settings_for(tmp_path), sessions)
    try:
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as rita:
            sign_in(rita)
            listed = cli("list")
            assert listed.returncode == 0, listed.stderr
            [row] = [line for line in listed.stdout.splitlines() if line.startswith("rita ")]
            assert row.split()[1:4] == ["reviewer", "active", "local"] and row.endswith(" 1")

            ended = cli("signout-all", "rita", "--as", "alice")
            assert ended.returncode == 0 and "ended 1 session" in ended.stdout
            assert rita.get("/queue").status_code == 303

            sign_in(rita)
            assert cli("disable", "rita", "--as", "alice").returncode == 0
            assert rita.get("/queue").status_code == 303
            refused = post_login(rita, {"username": "rita", "password": PASSWORD})
            assert refused.status_code == 401
            assert "disabled" in cli("list").stdout

            assert cli("enable", "rita", "--as", "alice").returncode == 0
            sign_in(rita)
            assert cli("disable", "nobody").returncode == 2
        with transaction(sessions) as s:
            actions = [
                (e.action, e.actor)
                for e in s.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars()
                if e.action in ("sessions_ended", "user_disabled", "user_enabled")
            ]
        assert actions == [
            ("sessions_ended", "cli:alice"),  # signout-all
            ("user_disabled", "cli:alice"),
            ("sessions_ended", "cli:alice"),  # ...which ends the sessions
            ("user_enabled", "cli:alice"),
        ]
    finally:
        engine.dispose()


def test_session_rows_long_ended_and_quiet_throttle_counts_are_forgotten(
    console: Callable[[], TestClient], accounts: sessionmaker[Session], tmp_path: Path
) -> None:
    from console import sessions as console_sessions
    from console import throttle

    rita = console()
    token = sign_in(rita)
    rita.post("/logout", data={"csrf_token": token})
    post_login(rita, {"username": "rob", "password": "a wrong guess"})
    settings = settings_for(tmp_path)
    now = datetime.now(UTC)
    with transaction(accounts) as s:
        assert console_sessions.prune(s, now=now) == 0
        assert throttle.prune(s, settings, now=now) == 0
    with transaction(accounts) as s:
        assert console_sessions.prune(s, now=now + timedelta(days=31)) == 1
        assert throttle.prune(s, settings, now=now + timedelta(days=2)) == 3  # rita, rob, address
