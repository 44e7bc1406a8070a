"""Issue 13, defect 5: sign-in throttling that cannot be raced or turned against others.
Thirty concurrent guesses with a limit of five check at most five passwords, on
PostgreSQL and SQLite; an account waits growing delays (never a lock-out longer than the
cap); the address is the client's, read from X-Forwarded-For only when a trusted proxy
sent it, so one attacker behind the council's proxy does not shut everyone else out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

import console.accounts
from audit.ledger import AuditEvent
from broker.database import transaction
from broker.settings import Settings
from console.accounts import Throttled, add_user, authenticate
from console.app import create_app
from console.server import ConsoleServer
from console.throttle import client_address
from tests.console_signin import post_login
from tests.test_console import PASSWORD

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


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


class CountingHasher:
    """The argon2 hasher, counting the passwords it checks."""

    def __init__(self, real: Any) -> None:
        self.real, self.checked, self._lock = real, 0, threading.Lock()

    def verify(self, stored: str, password: str) -> bool:
        with self._lock:
            self.checked += 1
        result: bool = self.real.verify(stored, password)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingHasher]:
    counting = CountingHasher(console.accounts._HASHER)
    monkeypatch.setattr(console.accounts, "_HASHER", counting)
    yield counting


def race(attempts: list[tuple[str, str, str]], sessions: sessionmaker[Session],
         settings: Settings) -> list[str]:  # fmt: skip
    """Run every (username, password, address) attempt at once; the outcome of each."""
    start = threading.Barrier(len(attempts))

    def attempt(args: tuple[str, str, str]) -> str:
        username, password, address = args
        start.wait()
        try:
            user = authenticate(sessions, settings, username, password, address=address, now=T0)
        except Throttled:
            return "throttled"
        return "signed in" if user else "refused"

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        return list(pool.map(attempt, attempts))


def failures_audited(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as s:
        rows = s.execute(select(AuditEvent).where(AuditEvent.action == "sign_in_failed"))
        return len(rows.scalars().all())


def test_thirty_concurrent_guesses_at_one_account_check_at_most_five_passwords(
    accounts: sessionmaker[Session], tmp_path: Path, hasher: CountingHasher
) -> None:
    """From thirty addresses, so that only the account's count can stop them."""
    settings = settings_for(tmp_path, login_max_failures=5)
    guesses = [("rita", f"guess number {i}", f"198.51.100.{i}") for i in range(30)]
    outcomes = race(guesses, accounts, settings)
    assert hasher.checked <= 5
    assert outcomes.count("refused") == hasher.checked == failures_audited(accounts)
    assert outcomes.count("throttled") == 30 - hasher.checked


def test_thirty_concurrent_guesses_from_one_address_check_at_most_five_passwords(
    accounts: sessionmaker[Session], tmp_path: Path, hasher: CountingHasher
) -> None:
    """At thirty accounts, so that only the address's count can stop them."""
    settings = settings_for(tmp_path, login_address_max_failures=5)
    guesses = [(f"user{i}", "a guess", "203.0.113.9") for i in range(30)]
    outcomes = race(guesses, accounts, settings)
    assert hasher.checked <= 5
    assert outcomes.count("throttled") == 30 - hasher.checked


def test_an_account_waits_growing_delays_up_to_a_cap_not_a_lock_out(
    accounts: sessionmaker[Session], tmp_path: Path, hasher: CountingHasher
) -> None:
    settings = settings_for(
        tmp_path, login_max_failures=5, login_delay_base_s=30, login_delay_max_s=240
    )

    def attempt(at: datetime, password: str = "wrong guess") -> object:  # noqa: S107
        try:
            return authenticate(accounts, settings, "rita", password, address="x", now=at)
        except Throttled as wait:
            return wait.wait_s

    for _ in range(5):
        assert attempt(T0) is None  # five free failures
    now, waits = T0, []
    for _ in range(5):
        wait = attempt(now)
        assert isinstance(wait, int)
        waits.append(wait)
        now += timedelta(seconds=wait)
        assert attempt(now) is None  # let through once the delay has passed, and wrong
    assert waits == [30, 60, 120, 240, 240]
    assert hasher.checked == 10
    assert attempt(now) == 240  # the right password waits too: no hash is checked
    assert hasher.checked == 10
    # Someone else's account is not slowed by it.
    rob = authenticate(accounts, settings, "rob", PASSWORD, address="x", now=now)
    assert rob is not None and rob.username == "rob"
    # After the cap, the right password signs in and the count starts again.
    now += timedelta(seconds=240)
    assert attempt(now, PASSWORD) is not None
    for _ in range(5):
        assert attempt(now) is None
    assert isinstance(attempt(now), int)


def test_failures_are_forgotten_after_a_quiet_day(
    accounts: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, login_max_failures=2, login_failures_kept_h=24)
    for _ in range(2):
        authenticate(accounts, settings, "rita", "wrong guess", address="x", now=T0)
    with pytest.raises(Throttled):
        authenticate(accounts, settings, "rita", "wrong guess", address="x", now=T0)
    later = T0 + timedelta(hours=24)
    assert authenticate(accounts, settings, "rita", "wrong guess", address="x", now=later) is None
    assert authenticate(accounts, settings, "rita", PASSWORD, address="x", now=later) is not None


def behind(proxy: str, app: Any) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False,
                      client=(proxy, 40000))  # fmt: skip


def test_behind_a_trusted_proxy_one_attacker_does_not_shut_out_everyone_else(
    accounts: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(
        tmp_path, trusted_proxies="10.0.0.0/8", login_address_max_failures=3,
        login_max_failures=100,
    )  # fmt: skip
    app = create_app(settings, accounts)
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    with behind("10.0.0.2", app) as proxy:
        for i in range(3):
            bad = {"username": f"user{i}", "password": "a guess"}
            assert post_login(proxy, bad, headers=attacker).status_code == 401
        stopped = post_login(proxy, {"username": "rita", "password": PASSWORD},
                             headers=attacker)  # fmt: skip
        assert stopped.status_code == 429 and "Too many attempts" in stopped.text
        assert int(stopped.headers["retry-after"]) > 0
        rob = post_login(proxy, {"username": "rob", "password": PASSWORD},
                         headers={"X-Forwarded-For": "198.51.100.7"})  # fmt: skip
        assert rob.status_code == 303


def test_x_forwarded_for_from_anyone_else_is_ignored(
    accounts: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = settings_for(
        tmp_path, trusted_proxies="10.0.0.0/8", login_address_max_failures=3,
        login_max_failures=100,
    )  # fmt: skip
    app = create_app(settings, accounts)
    with behind("192.0.2.50", app) as direct:  # not a proxy: a new header each time
        for i in range(3):
            spoof = {"X-Forwarded-For": f"198.51.100.{i}"}
            bad = {"username": f"user{i}", "password": "a guess"}
            assert post_login(direct, bad, headers=spoof).status_code == 401
        spoof = {"X-Forwarded-For": "198.51.100.99"}
        again = post_login(direct, {"username": "rita", "password": PASSWORD},
                            headers=spoof)  # fmt: skip
        assert again.status_code == 429


def request_from(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 1), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.50", ["198.51.100.1"], "192.0.2.50"),  # not a trusted peer: ignored
        ("10.0.0.2", [], "10.0.0.2"),  # a proxy's own request
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # The client wrote the left part itself; the proxy appended what it saw.
        ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["198.51.100.1, 10.0.0.7"], "198.51.100.1"),  # two proxies
        ("10.0.0.2", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # two header lines
        ("10.0.0.2", ["not-an-address, 10.0.0.7"], "10.0.0.7"),  # garbage: stop before it
    ],
)
def test_the_client_address_is_read_from_the_right_past_trusted_proxies_only(
    peer: str, forwarded: list[str], client: str
) -> None:
    settings = Settings(trusted_proxies="10.0.0.0/8, 127.0.0.1")
    assert client_address(request_from(peer, *forwarded), settings) == client


def test_a_bad_trusted_proxies_setting_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ENCOMPASS_TRUSTED_PROXIES"):
        Settings(trusted_proxies="10.0.0.0/8, the office")


def test_the_web_server_does_not_rewrite_the_client_address_itself() -> None:
    """uvicorn would believe X-Forwarded-For from any loopback peer by default."""
    server = ConsoleServer(create_app(Settings(secret_key="k" * 32), None), "127.0.0.1", 0)  # type: ignore[arg-type]
    try:
        assert server._server.config.proxy_headers is False
    finally:
        server.close()
