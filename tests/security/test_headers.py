"""Issue 13, item 10: HSTS whenever the cookies are Secure, and ``nosniff`` on static files
as well as on pages, so a browser never reads a stylesheet or script as another type."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from broker.database import make_engine, session_factory, upgrade
from broker.settings import Settings
from console.app import create_app
from tests.conftest import TEST_KEYRING

PATHS = ("/login", "/queue", "/api/session", "/healthz", "/static/console.css",
         "/static/console.js", "/ack/not-a-token")  # fmt: skip


@pytest.fixture
def plain_sessions(sqlite_url: str) -> sessionmaker[Session]:
    upgrade(sqlite_url)
    return session_factory(make_engine(sqlite_url, TEST_KEYRING))


def client_for(sessions: sessionmaker[Session], tmp_path: Path, public_url: str) -> TestClient:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, public_url=public_url)
    app = create_app(settings, sessions)
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def test_hsts_on_every_response_when_the_cookies_are_secure(
    plain_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with client_for(plain_sessions, tmp_path, public_url="https://console.example") as client:
        assert "Secure" in client.get("/login").headers["set-cookie"]
        for path in PATHS:
            hsts = client.get(path).headers.get("strict-transport-security", "")
            assert hsts.startswith("max-age="), path
            assert int(hsts.split(";")[0].split("=")[1]) >= 31536000, path


def test_no_hsts_on_plain_http_at_loopback_where_cookies_are_not_secure(
    plain_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with client_for(plain_sessions, tmp_path, public_url="http://127.0.0.1:8080") as client:
        assert "secure" not in client.get("/login").headers["set-cookie"].lower()
        for path in PATHS:
            assert "strict-transport-security" not in client.get(path).headers, path


def test_static_files_are_nosniff_too(
    plain_sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with client_for(plain_sessions, tmp_path, public_url="https://console.example") as client:
        for path in PATHS:
            response = client.get(path)
            assert response.headers.get("x-content-type-options") == "nosniff", path
        css = client.get("/static/console.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        js = client.get("/static/console.js")
        assert "javascript" in js.headers["content-type"]
