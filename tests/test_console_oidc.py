"""OpenID Connect sign-in against a small identity provider served over real HTTP: the
provider's role claim decides the console role; no role, no entry; a disabled account
stays out."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from console.app import create_app
from foundations.database import transaction
from foundations.models import ConsoleUser
from foundations.settings import Settings
from tests.conftest import unavailable
from tests.smtp_server import free_port

CLIENT_ID, CLIENT_SECRET = "encompass-console", "client-secret-for-tests"


class Provider:
    """Authorization code flow with an RS256 id_token; grants ``self.roles``."""

    def __init__(self) -> None:
        from authlib.jose import JsonWebKey

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "k1"})
        self.roles: list[str] = ["reviewer"]
        # Who the provider says signed in: its subject identifier, the name it shows, and
        # how (``amr``, RFC 8176), when it says.
        self.subject, self.username = "u-1234", "olive"
        self.amr: list[str] | None = None
        self.councils: list[str] | None = None  # the "councils" claim, when given
        self.codes: dict[str, str] = {}
        self.app = self._app()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None)
        )

    def _app(self) -> FastAPI:
        from authlib.jose import jwt

        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def metadata() -> dict[str, Any]:
            return {
                "issuer": self.base,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(is_private=False)]}

        @app.get("/authorize")
        def authorize(redirect_uri: str, state: str, nonce: str) -> RedirectResponse:
            code = uuid.uuid4().hex
            self.codes[code] = nonce
            return RedirectResponse(f"{redirect_uri}?code={code}&state={state}", 302)

        @app.post("/token")
        def token(request: Request, code: str = Form("")) -> JSONResponse:
            nonce = self.codes.pop(code, None)
            if nonce is None:
                return JSONResponse({"error": "invalid_grant"}, 400)
            now = int(time.time())
            claims = {
                "iss": self.base, "sub": self.subject, "aud": CLIENT_ID, "iat": now,
                "exp": now + 300, "nonce": nonce, "preferred_username": self.username,
                "roles": self.roles,
            }  # fmt: skip
            if self.amr is not None:
                claims["amr"] = self.amr
            if self.councils is not None:
                claims["councils"] = self.councils
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key).decode()
            return JSONResponse(
                {"access_token": "at", "token_type": "Bearer", "expires_in": 300,
                 "id_token": id_token}
            )  # fmt: skip

        return app

    def __enter__(self) -> Provider:
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        for _ in range(100):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("the identity provider did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def provider() -> Iterator[Provider]:
    try:
        import authlib  # noqa: F401
    except ImportError:
        unavailable("authlib is not installed (pip install -e '.[test]')")
    with Provider() as running:
        yield running


def sign_in_with(client: TestClient, provider: Provider) -> httpx.Response:
    start = client.get("/login/oidc")
    assert start.status_code == 302 and start.headers["location"].startswith(provider.base)
    back = httpx.get(start.headers["location"], follow_redirects=False)
    assert back.status_code == 302
    return client.get(back.headers["location"].replace("http://testserver", ""))


def test_a_council_account_signs_in_with_the_role_its_provider_grants(
    sessions: sessionmaker[Session], tmp_path: Path, provider: Provider
) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="http://testserver",
        console_cookie_secure=False, oidc_issuer=provider.base, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET,
    )  # fmt: skip
    with TestClient(create_app(settings, sessions), follow_redirects=False) as client:
        assert "Sign in with your council account" in client.get("/login").text
        done = sign_in_with(client, provider)
        assert done.status_code == 200 and 'url=/"' in done.text
        assert client.get("/queue").status_code == 200
        assert client.get("/audit").status_code == 403

        client.cookies.clear()
        provider.roles = ["staff"]  # no console role: no entry
        assert sign_in_with(client, provider).status_code == 403
        assert client.get("/queue").status_code == 303

        client.cookies.clear()
        provider.roles = ["auditor"]
        with transaction(sessions) as s:
            user = s.get(ConsoleUser, "oidc:olive")
            assert user is not None and user.password_hash is None
            user.active = False  # disabled by an administrator: stays out
        assert sign_in_with(client, provider).status_code == 403
