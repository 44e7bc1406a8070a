"""The directory's health in the console (``/directory/health``): the same gates and lists
as ``encompass directory health``, for auditors and admins only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from foundations.database import transaction
from foundations.models import SafeguardingContact, School
from tests import test_console
from tests.test_console import sign_in

directory = test_console.directory
app_settings = test_console.app_settings
client = test_console.client


def test_an_auditor_sees_the_gates_and_the_schools_without_a_dsl_or_a_deputy(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    with transaction(directory) as s:
        s.add(School(urn="100004", name="Brook Lane Primary School", la_code="850",
                     la_name="Hampshire", status="Open"))  # fmt: skip
        s.flush()
        s.add(SafeguardingContact(urn="100004", role="dsl", name="Kim", email="k@4.example"))
    sign_in(client, "aud")
    assert 'href="/directory/health"' in client.get("/audit").text  # in the menu
    page = client.get("/directory/health")
    assert page.status_code == 200
    text = page.text
    assert "The directory is not fit to go live" in text
    assert "Open schools with a DSL" in text and "Open schools with a deputy DSL" in text
    no_dsl = text.split("Open schools with no DSL (1)")[1].split("<h2")[0]
    assert "100002" in no_dsl and "100004" not in no_dsl
    no_deputy = text.split("Open schools with no deputy DSL (1)")[1].split("<h2")[0]
    assert "Brook Lane Primary School" in no_deputy and "100001" not in no_deputy
    assert "Bounces are not recorded yet" in text or "Addresses that bounced" in text


def test_a_reviewer_is_refused_and_a_stranger_sent_to_sign_in(client: TestClient) -> None:
    signed_out = client.get("/directory/health")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login")
    sign_in(client, "rita")
    assert client.get("/directory/health").status_code == 403
    assert 'href="/directory/health"' not in client.get("/queue").text
