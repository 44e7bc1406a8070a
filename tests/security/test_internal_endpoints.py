"""Issue 13, defect 10: /metrics, /readyz and the OpenAPI document are not served beside the
public acknowledgement pages. The console port (the public URL) answers 404 for them and
gives the API's document only to a signed-in user; the internal listener, a second server
in the same process on loopback by default, answers all three."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.orm import Session, sessionmaker

from broker.app import EncompassService
from broker.internal import create_internal_app
from console.accounts import add_user
from console.app import create_app
from foundations.database import transaction
from foundations.settings import Settings
from tests.factories import isolated_settings
from tests.test_console import PASSWORD, sign_in

INTERNAL_ONLY = ("/metrics", "/metrics/", "/readyz", "/openapi.json", "/docs", "/redoc")


def test_the_default_internal_listener_is_loopback_on_its_own_port() -> None:
    settings = Settings()
    assert settings.internal_http_host == "127.0.0.1"
    assert settings.internal_http_port != settings.http_port


def test_the_public_console_answers_404_and_keeps_the_api_document_for_signed_in_users(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(sessions) as session:
        for name, role in (("rita", "reviewer"), ("aud", "auditor"), ("ada", "admin")):
            add_user(session, name, role, PASSWORD, actor="test")
    settings = Settings(data_dir=tmp_path, secret_key="k" * 32, login_max_failures=1000)
    app = create_app(settings, sessions)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        for path in INTERNAL_ONLY:
            assert client.get(path).status_code == 404, path
        signed_out = client.get("/api/openapi.json")
        assert signed_out.status_code == 401 and "paths" not in signed_out.text
        for name in ("rita", "aud", "ada"):
            client.cookies.clear()
            sign_in(client, name)  # the password, then the second factor for aud and ada
            document = client.get("/api/openapi.json")
            assert document.status_code == 200, name
            assert "/queue" in document.json()["paths"]


async def test_the_internal_listener_answers_what_the_public_port_does_not(
    tmp_path: Path,
) -> None:
    # No Kafka here: readiness says so (503), which is an answer from the right place.
    settings = isolated_settings(data_dir=tmp_path, secret_key="k" * 32)
    service = EncompassService(settings, bootstrap="127.0.0.1:9")
    service.start_console()
    service.start_internal()
    try:
        assert service.console is not None and service.internal is not None
        assert service.internal.host == "127.0.0.1"
        assert service.internal.port != service.console.port
        async with httpx.AsyncClient(base_url=service.console.url) as public:
            for path in INTERNAL_ONLY:
                assert (await public.get(path)).status_code == 404, path
            assert (await public.get("/api/openapi.json")).status_code == 401
            assert (await public.get("/healthz")).json() == {"status": "ok"}
        async with httpx.AsyncClient(base_url=service.internal.url) as internal:
            metrics = await internal.get("/metrics/")
            assert metrics.status_code == 200 and "encompass_events_total" in metrics.text
            ready = await internal.get("/readyz", timeout=10)
            assert ready.status_code == 503
            assert ready.json() == {"database": "ok", "kafka": "unavailable"}
            document = (await internal.get("/openapi.json")).json()
            assert document["info"]["title"] == "Operation Encompass console API"
            assert "/queue" in document["paths"]
            for path in ("/ack/x", "/login", "/queue", "/api/queue"):
                assert (await internal.get(path)).status_code == 404, path
    finally:
        await service.stop_console()
        await service.stop_internal()
        service.engine.dispose()


def test_metrics_answers_at_its_own_path_without_a_redirect() -> None:
    registry = CollectorRegistry()
    Counter("encompass_example", "an example", registry=registry).inc()

    async def ready() -> tuple[bool, dict[str, str]]:
        return True, {}

    app = create_internal_app(registry, ready)
    with TestClient(app, follow_redirects=False) as client:
        for path in ("/metrics", "/metrics/"):
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert "encompass_example_total 1.0" in answer.text
            assert answer.headers["content-type"].startswith("text/plain")
