"""Issue 13, item 10: a CSRF token on the sign-in form and on ``POST /api/session``.

Without one, another site can post its own username and password from a reviewer's
browser (login CSRF): the reviewer then works, unknowingly, in the attacker's account. The
token belongs to a short-lived cookie of this browser, so a token taken from another
browser, or none at all, is refused before any password is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditEvent
from broker.database import transaction
from broker.settings import Settings
from console.accounts import add_user
from console.app import create_app

PASSWORD = "correct horse battery"


@pytest.fixture
def app_sessions(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with transaction(sessions) as session:
        add_user(session, "rita", "reviewer", PASSWORD, actor="test")
    return sessions


@pytest.fixture
def browsers(app_sessions: sessionmaker[Session], tmp_path: Path) -> Iterator[list[TestClient]]:
    """Two browsers on one console: a reviewer's, and an attacker's."""
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32,
                        public_url="https://console.example")  # fmt: skip
    app = create_app(settings, app_sessions)
    with (
        TestClient(app, base_url="https://testserver", follow_redirects=False) as reviewer,
        TestClient(app, base_url="https://testserver", follow_redirects=False) as attacker,
    ):
        yield [reviewer, attacker]


def form_token(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert found is not None
    return found.group(1)


def signed_in(client: TestClient) -> bool:
    return client.get("/queue").status_code == 200


def attempts(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as s:
        return len(
            s.execute(
                select(AuditEvent).where(AuditEvent.action.in_(("signed_in", "sign_in_failed")))
            ).all()
        )


def test_the_sign_in_form_needs_its_own_browsers_token(
    browsers: list[TestClient], app_sessions: sessionmaker[Session]
) -> None:
    reviewer, attacker = browsers
    credentials = {"username": "rita", "password": PASSWORD}
    stolen = form_token(attacker)  # the attacker's own, valid in the attacker's browser
    reviewer.get("/login")  # the reviewer's browser has a sign-in cookie of its own
    for forged in ({}, {"csrf_token": ""}, {"csrf_token": "x" * 64}, {"csrf_token": stolen}):
        refused = reviewer.post("/login", data={**credentials, **forged})
        assert refused.status_code == 403, forged
        assert "came from another site" in refused.text
        cookies = refused.headers.get_list("set-cookie")
        assert not any(c.startswith("__Host-encompass=") for c in cookies)
        assert not signed_in(reviewer)
    assert attempts(app_sessions) == 0  # refused before any password was checked
    done = reviewer.post("/login", data={**credentials, "csrf_token": form_token(reviewer)})
    assert done.status_code == 303 and signed_in(reviewer)


def test_a_sign_in_cookie_is_locked_down_like_the_session(browsers: list[TestClient]) -> None:
    reviewer, _ = browsers
    cookie = reviewer.get("/login").headers["set-cookie"]
    assert cookie.startswith("__Host-encompass-signin=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    # The page carries an HMAC of the cookie's value, never the value itself.
    nonce = reviewer.cookies["__Host-encompass-signin"]
    assert nonce not in reviewer.get("/login").text


def test_post_api_session_needs_the_token_from_get_api_session(
    browsers: list[TestClient], app_sessions: sessionmaker[Session]
) -> None:
    reviewer, attacker = browsers
    body = {"username": "rita", "password": PASSWORD}
    stolen = attacker.get("/api/session").json()["csrf_token"]
    reviewer.get("/api/session")
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": stolen}):
        refused = reviewer.post("/api/session", json=body, headers=headers)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"], headers
        assert reviewer.get("/api/queue").status_code == 401
    assert attempts(app_sessions) == 0
    token = reviewer.get("/api/session").json()["csrf_token"]
    done = reviewer.post("/api/session", json=body, headers={"X-CSRF-Token": token})
    assert done.status_code == 200 and done.json()["csrf_token"] != token
    assert reviewer.get("/api/queue").status_code == 200
    spec = reviewer.get("/api/openapi.json").json()
    assert "get" in spec["paths"]["/session"] and "post" in spec["paths"]["/session"]
