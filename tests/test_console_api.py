"""schemathesis against the console's OpenAPI document (``/api/openapi.json``), signed in
as a reviewer: every operation answers within its documented responses, never a 500, on
both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from sqlalchemy.orm import Session, sessionmaker

from console.accounts import add_user
from console.app import create_app
from foundations.database import transaction
from foundations.settings import Settings
from tests.conftest import unavailable
from tests.factories import incident
from tests.test_console import PASSWORD, api_sign_in, publish

try:
    import schemathesis
except ImportError:  # locally a clear skip; in CI (CI=true) a failure
    schemathesis = None  # type: ignore[assignment]


def test_the_api_keeps_to_its_openapi_document(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    if schemathesis is None:
        unavailable("schemathesis is not installed (pip install -e '.[test]')")
    with transaction(sessions) as session:
        add_user(session, "rita", "reviewer", PASSWORD, actor="test")
    publish(sessions, incident())
    settings = Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="http://127.0.0.1:8080",
        login_max_failures=1000,
    )  # fmt: skip
    app = create_app(settings, sessions)
    with TestClient(app) as client:
        signed = api_sign_in(client, "rita")
        assert signed.status_code == 200
        cookie = dict(client.cookies)
        headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
    # The document is for signed-in users only.
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, cookies=cookie)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {
        "GET /queue",
        "GET /notifications/{nid}",
        "POST /notifications/{nid}/approve",
        "POST /notifications/{nid}/reject",
    }
    seen: dict[str, set[int]] = {}
    for operation in operations:
        if operation.label == "DELETE /session":
            continue  # signing out would end the session the rest is called with

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def conforms(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers, cookies=cookie)
            seen.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            conforms()
        except Exception as exc:  # name the operation that broke its contract
            pytest.fail(f"{operation.label}: {exc}")
    # Signed in for real, not 401 throughout: the queue answered.
    assert 200 in seen["GET /queue"] and 401 not in seen["GET /queue"], seen
