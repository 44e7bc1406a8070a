"""The First Response console over HTTP (FastAPI's TestClient) against both databases:
sign-in with argon2 and throttling, session cookies, CSRF, roles, audited views, claims,
re-matching the right twin, edits with before and after, four eyes, bulk approval and the
audit search. The actions are consumers.review's, as in the CLI."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from audit.ledger import verify
from console.accounts import add_user
from console.app import create_app
from consumers import review
from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.database import transaction
from foundations.models import AuditEvent, ConsoleUser, Notification, NotificationEdit
from foundations.settings import Settings
from tests.console_signin import finish
from tests.factories import (
    TWIN_A_UPN,
    TWIN_B_UPN,
    child,
    import_directory,
    incident,
    write_directory,
)

PASSWORD = "correct horse battery"
TWINS = incident(
    incident_id="44-20261121-000303",
    persons=[*incident()["persons"][:2], child("c1", "Leo", "Twin", "2017-05-05")],
)


@pytest.fixture
def directory(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    files = write_directory(tmp_path / "directory")
    with transaction(sessions) as session:
        import_directory(session, files)
        for name, role in (("rita", "reviewer"), ("rob", "reviewer"), ("aud", "auditor")):
            add_user(session, name, role, PASSWORD, actor="test")
    return sessions


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(
        data_dir=tmp_path, secret_key="k" * 32, public_url="https://console.example", **changes
    )


def publish(sessions: sessionmaker[Session], data: dict[str, Any]) -> str:
    with transaction(sessions) as session:
        process_incident(session, Settings(), parse_incident(json.dumps(data).encode()), "t/0/0")
        ids = session.execute(
            select(Notification.id).where(Notification.incident_id == data["incident_id"])
        ).scalars()
        return next(iter(ids))


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def client(directory: sessionmaker[Session], app_settings: Settings) -> Iterator[TestClient]:
    app = create_app(app_settings, directory)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


def post_login(client: TestClient, **form: str) -> Any:
    """The sign-in form as a browser sends it: with the token from the form itself."""
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf_token": token, **form})


def api_sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    """``POST /api/session`` with the sign-in token from ``GET /api/session``."""
    token = client.get("/api/session").json()["csrf_token"]
    body = {"username": username, "password": password}
    return client.post("/api/session", json=body, headers={"X-CSRF-Token": token})


def sign_in(client: TestClient, username: str) -> str:
    response = post_login(client, username=username, password=PASSWORD)
    assert response.status_code == 303, response.text
    finish(client, response, username)  # auditors and admins: the second factor too
    return csrf_of(client.get("/audit" if username in ("aud", "dana") else "/queue").text)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def events(sessions: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with transaction(sessions) as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


def test_passwords_are_argon2_hashes(directory: sessionmaker[Session]) -> None:
    with transaction(directory) as s:
        user = s.get(ConsoleUser, "rita")
        assert user is not None and user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


def test_pages_need_a_session_and_the_cookie_is_locked_down(client: TestClient) -> None:
    for path in ("/queue", "/sent", "/audit", "/notifications/N-x", "/mail"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/api/queue").status_code == 401
    response = post_login(client, username="rita", password=PASSWORD)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-encompass=")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    page = client.get("/queue")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"


def test_a_wrong_password_is_refused_and_repeated_failures_are_throttled(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    for _ in range(5):
        assert post_login(client, username="rita", password="nope").status_code == 401
    right = post_login(client, username="rita", password=PASSWORD)
    assert right.status_code == 429 and "Too many attempts" in right.text
    failed = events(directory, "sign_in_failed")
    assert len(failed) == 5 and all("nope" not in json.dumps(e.details) for e in failed)


def test_the_session_ends_after_the_idle_timeout(
    directory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itsdangerous.timed

    app = create_app(settings_for(tmp_path, console_session_idle_min=1), directory)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        sign_in(c, "rita")
        real = itsdangerous.timed.TimestampSigner.get_timestamp
        monkeypatch.setattr(
            itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) + 61
        )
        assert c.get("/queue").status_code == 303


def test_forms_without_the_csrf_token_are_refused(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    sign_in(client, "rita")
    response = client.post(f"/notifications/{nid}/reject", data={"reason": "x"})
    assert response.status_code == 403
    response = client.post(
        f"/notifications/{nid}/reject", data={"reason": "x", "csrf_token": "bad"}
    )
    assert response.status_code == 403
    with transaction(directory) as s:
        assert review.get(s, nid).status == "pending_review"


def test_roles_reviewers_cannot_audit_and_auditors_cannot_approve(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    sign_in(client, "rita")
    assert client.get("/audit").status_code == 403
    client.cookies.clear()
    token = sign_in(client, "aud")
    assert client.get("/queue").status_code == 403
    assert client.get(f"/notifications/{nid}").status_code == 403
    refused = client.post(f"/notifications/{nid}/approve", data={"csrf_token": token})
    assert refused.status_code == 403


def test_a_reviewer_chooses_the_right_twin_and_approves_and_every_view_is_audited(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    token = sign_in(client, "rita")
    queue = client.get("/queue").text
    assert nid in queue and "Waiting for review" in queue
    with capture_logs() as logs:
        page = client.get(f"/notifications/{nid}")
    assert page.status_code == 200 and TWIN_A_UPN in page.text and TWIN_B_UPN in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "Leo" not in json.dumps(logs)
    [viewed] = events(directory, "viewed")
    assert (viewed.actor, viewed.notification_id) == ("console:rita", nid)

    chosen = client.post(
        f"/notifications/{nid}/choose",
        data={"csrf_token": token, "upn": TWIN_B_UPN, "urn": "100002"},
    )
    assert chosen.status_code == 303
    page = client.get(f"/notifications/{nid}").text
    assert "What the school will read" in page and "Subject:" in page
    done = client.post(f"/notifications/{nid}/approve", data={"csrf_token": token})
    assert done.status_code == 303 and "approved" in done.headers["location"]
    with transaction(directory) as s:
        n = review.get(s, nid)
        assert (n.status, n.urn, n.upn, n.decided_by) == (
            "approved", "100002", TWIN_B_UPN, "console:rita",
        )  # fmt: skip
        assert verify(s).ok
    assert [e.details["after"]["urn"] for e in events(directory, "rematched")] == ["100002"]
    assert len(events(directory, "viewed")) == 2


def test_a_claim_keeps_a_second_reviewer_out_until_it_expires(
    client: TestClient, directory: sessionmaker[Session], app_settings: Settings
) -> None:
    nid = publish(directory, TWINS)
    token = sign_in(client, "rita")
    assert client.post(f"/notifications/{nid}/claim", data={"csrf_token": token}).status_code == 303
    app = create_app(app_settings, directory)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as other:
        other_token = sign_in(other, "rob")
        refused = other.post(f"/notifications/{nid}/reject",
                             data={"csrf_token": other_token, "reason": "dup"})  # fmt: skip
        assert "being%20worked%20on%20by%20rita%20%28console%29" in refused.headers["location"]
        with transaction(directory) as s:
            s.get(Notification, nid).review_claimed_until = None  # type: ignore[union-attr]
        other.post(
            f"/notifications/{nid}/reject", data={"csrf_token": other_token, "reason": "dup"}
        )
    with transaction(directory) as s:
        assert review.get(s, nid).status == "rejected"
    assert [e.actor for e in events(directory, "claimed")] == ["console:rita", "console:rob"]


def test_an_edit_is_audited_with_before_and_after_and_four_eyes_needs_two_people(
    directory: sessionmaker[Session], tmp_path: Path
) -> None:
    nid = publish(directory, incident())
    settings = settings_for(tmp_path, four_eyes=True)
    with TestClient(create_app(settings, directory), base_url="https://testserver",
                    follow_redirects=False) as c:  # fmt: skip
        token = sign_in(c, "rita")
        c.post(f"/notifications/{nid}/edit", data={"csrf_token": token, "account": "Shorter."})
        [edit] = events(directory, "edited")
        assert edit.details["after_sha256"] == hashlib.sha256(b"Shorter.").hexdigest()
        assert "Shorter." not in json.dumps(edit.details)  # the text is kept encrypted
        with transaction(directory) as s:
            [kept] = s.execute(select(NotificationEdit)).scalars()
            assert (kept.after, kept.id) == ("Shorter.", edit.details["edit_id"])
            assert kept.before != "Shorter."
        c.post(f"/notifications/{nid}/approve", data={"csrf_token": token})
        with transaction(directory) as s:
            n = review.get(s, nid)
            assert (n.status, n.first_approved_by) == ("pending_review", "console:rita")
            assert n.content is not None and n.content["account"] == "Shorter."
        again = c.post(f"/notifications/{nid}/approve", data={"csrf_token": token})
        assert "second%20reviewer" in again.headers["location"]
        with transaction(directory) as s:  # the CLI's door goes through the same rule
            n = review.get(s, nid)
            n.review_claimed_until = None
        with (
            pytest.raises(review.ReviewError, match="second reviewer"),
            transaction(directory) as s,
        ):
            review.approve(s, settings, nid, actor="console:rita")
        with transaction(directory) as s:
            assert review.approve(s, settings, nid, actor="cli:rob").status == "approved"


def test_bulk_approval_takes_only_release_grade_items(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    amy = publish(directory, incident())
    twins = publish(directory, TWINS)
    token = sign_in(client, "rita")
    queue = client.get("/queue").text
    assert f'value="{amy}"' in queue and f'value="{twins}"' not in queue
    client.post("/queue/approve", data={"csrf_token": token, "ids": [amy, twins]})
    with transaction(directory) as s:
        assert review.get(s, amy).status == "approved"
        assert review.get(s, twins).status == "pending_review"


def test_an_auditor_finds_what_was_shared_and_who_approved_it(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, incident())
    with transaction(directory) as s:
        review.approve(s, Settings(), nid, actor="console:rita")
    sign_in(client, "aud")
    page = client.get("/audit", params={"school": "100001"}).text
    assert nid in page and "rita (console)" in page and "The audit trail is intact" in page
    [report] = events(directory, "report_produced")
    assert report.actor == "console:aud" and report.details["query"]["urn"] == "100001"


def test_the_api_signs_in_and_acts_with_the_csrf_header(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    session = api_sign_in(client, "rita")
    assert session.status_code == 200
    token = session.json()["csrf_token"]
    [row] = client.get("/api/queue").json()
    assert row["notification_id"] == nid and len(row["candidates"]) == 2
    assert client.get(f"/api/notifications/{nid}").json()["preview_text"] is None
    body = {"upn": TWIN_A_UPN, "urn": "100001"}
    assert client.post(f"/api/notifications/{nid}/approve", json=body).status_code == 403
    done = client.post(f"/api/notifications/{nid}/approve", json=body,
                       headers={"X-CSRF-Token": token})  # fmt: skip
    assert done.status_code == 200 and done.json()["status"] == "approved"
    again = client.post(f"/api/notifications/{nid}/approve", json=body,
                        headers={"X-CSRF-Token": token})  # fmt: skip
    assert again.status_code == 409
    assert client.get("/api/openapi.json").json()["info"]["title"].startswith("Operation")


def test_encompass_users_add_makes_an_account_that_signs_in(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from foundations.database import make_engine, session_factory

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env |= {"ENCOMPASS_DATA_DIR": str(tmp_path), "ENCOMPASS_DATABASE_URL": url}

    def users_add(*args: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "broker.cli", "users", "add", *args, "--password-stdin"],
            env=env, input=password + "\n", capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    assert users_add("dana", "--role", "auditor", password="short").returncode == 2
    done = users_add("dana", "--role", "auditor", password=PASSWORD)
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    sessions = session_factory(make_engine(url))
    app = create_app(settings_for(tmp_path), sessions)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        sign_in(c, "dana")
        assert c.get("/audit").status_code == 200


def test_a_recall_sends_a_retraction_without_personal_details_and_is_audited(
    client: TestClient, directory: sessionmaker[Session], app_settings: Settings
) -> None:
    from datetime import timedelta

    from consumers.acknowledge import AckLinks
    from consumers.alerts import claim_alerts

    nid = publish(directory, incident())
    token = sign_in(client, "rita")
    refused = client.post(f"/notifications/{nid}/recall", data={"csrf_token": token, "reason": "x"})
    assert "only%20a%20sent" in refused.headers["location"]
    with transaction(directory) as s:
        n = review.get(s, nid)
        n.status, n.recipient, n.sent_at = "sent", "dsl@100001.school.example", n.deliver_by
    client.post(f"/notifications/{nid}/recall",
                data={"csrf_token": token, "reason": "wrong school"})  # fmt: skip
    assert "Recalled" in client.get("/sent").text
    links = AckLinks(b"k" * 32, "https://console.example", timedelta(days=14))
    with transaction(directory) as s:
        assert review.get(s, nid).status == "recalled"
        [job] = claim_alerts(s, app_settings, links, review.utcnow())
    assert job.to == "dsl@100001.school.example" and "withdrawn" in job.rendered.subject
    assert "Amy" not in job.rendered.text and "delete" in job.rendered.text
    [recalled] = events(directory, "recalled")
    assert recalled.actor == "console:rita" and recalled.details["reason"] == "wrong school"


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "https://evil.example"])
def test_signing_in_never_redirects_off_the_site(client: TestClient, target: str) -> None:
    done = post_login(client, username="rita", password=PASSWORD, next=target)
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_four_eyes_holds_a_high_risk_notification_on_every_door(
    directory: sessionmaker[Session], tmp_path: Path
) -> None:
    nid = publish(directory, incident(incident_id="44-20261121-000900", dash_risk="high"))
    settings = settings_for(tmp_path, four_eyes=True)
    with transaction(directory) as s:
        assert review.second_reviewer_needed(s, settings, review.get(s, nid))
        assert not review.second_reviewer_needed(s, Settings(), review.get(s, nid))
        review.approve(s, settings, nid, actor="cli:alice")  # the CLI's door
    with TestClient(create_app(settings, directory), base_url="https://testserver",
                    follow_redirects=False) as c:  # fmt: skip
        body = {"notification_ids": [nid]}
        api_token = api_sign_in(c, "rita")
        headers = {"X-CSRF-Token": api_token.json()["csrf_token"]}
        bulk = c.post("/api/queue/approve", json=body, headers=headers)
        assert bulk.json()["approved"] == [] and "two reviewers" in bulk.json()["refused"][nid]
        done = c.post(f"/api/notifications/{nid}/approve", json={}, headers=headers)
        assert done.json()["status"] == "approved"
    [first] = events(directory, "first_approval")
    assert first.actor == "cli:alice" and first.details["why"] == "risk high"
    [approved] = events(directory, "approved")
    assert approved.details["first_approved_by"] == "cli:alice"


def test_input_that_no_database_can_store_gets_an_answer_not_an_error(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    token = sign_in(client, "rita")
    assert client.get(f"/notifications/{nid}", params={"upn": "\x00"}).status_code == 200
    assert client.get("/notifications/N-%00").status_code == 404
    bad = client.post(f"/notifications/{nid}/reject", data={"csrf_token": token, "reason": "a\x00"})
    assert bad.status_code == 303 and "cannot%20be%20stored" in bad.headers["location"]
    client.cookies.clear()
    assert post_login(client, username="\x00", password="x").status_code == 401
    sign_in(client, "aud")
    assert "cannot be run" in client.get("/audit", params={"school": "\x00"}).text


def test_a_held_account_is_shown_with_its_names_highlighted_and_sent_once_edited(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    summary = "The child's mother's mum Victoria Harrison came round. The child hid upstairs."
    nid = publish(directory, incident(summary=summary))
    token = sign_in(client, "rita")
    queue = client.get("/queue").text
    assert "Officers&#39; accounts waiting to be read" in queue or "accounts waiting" in queue
    assert "Account held: names found" in queue
    page = client.get(f"/notifications/{nid}").text
    assert re.search(r'<mark class="console-suspect"[^>]*>Victoria Harrison', page)
    preview = page.split("What the school will read", 1)[1]
    assert "Victoria" not in preview.split("</div>", 1)[0]  # the school gets the structured one
    edited = "The child's grandmother came round. The child hid upstairs."
    done = client.post(
        f"/notifications/{nid}/account/release", data={"csrf_token": token, "account": edited}
    )
    assert done.status_code == 303 and "/queue?notice=" in done.headers["location"]
    with transaction(directory) as s:
        n = review.get(s, nid)
        assert n.account_status == "released" and n.content is not None
        assert n.content["account"] == edited
    [released] = events(directory, "account_released")
    assert released.details["edited"] is True and "grandmother" not in json.dumps(released.details)


def test_review_show_marks_what_the_residual_check_found(
    directory: sessionmaker[Session], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from broker.cli import review as review_cli

    summary = "Later Gaz and Victoria Harrison came round. The child hid upstairs."
    nid = publish(directory, incident(summary=summary))
    args = argparse.Namespace(notification_id=nid, json=False)
    assert review_cli.show(Settings(), directory, args, "cli:test") == 0
    shown = capsys.readouterr().out
    assert "[[Victoria Harrison]]" in shown and "[[Gaz]]" in shown
    args = argparse.Namespace(
        notification_id=nid, send=False, send_file=None, discard=True, reason="nothing to add"
    )
    assert review_cli.account(Settings(), directory, args, "cli:test") == 0
    assert events(directory, "account_discarded")


def test_a_reviewer_routes_a_child_on_no_roll_to_the_councils_officer(
    client: TestClient, directory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Issue 17, item 3: the notification page's action (CSRF, reviewer, audited); a role
    the council has no officer for is refused with the reason, and nothing changes."""
    from school_directory.imports import import_council_contacts

    officers = tmp_path / "officers.csv"
    officers.write_text("la,role,name,email\n850,cme,Jo Example,cme.officer@hants.example\n")
    with transaction(directory) as s:
        import_council_contacts(s, officers)
    nobody = incident(incident_id="44-20261121-000909",
                      persons=[child("c1", "Zed", "Nobody-Example", "2015-06-06")])  # fmt: skip
    nid = publish(directory, nobody)
    token = sign_in(client, "rita")
    page = client.get(f"/notifications/{nid}").text
    assert "A child on no roll" in page and 'value="cme"' in page
    assert client.post(f"/notifications/{nid}/route", data={"to": "cme"}).status_code == 403
    refused = client.post(f"/notifications/{nid}/route", data={"csrf_token": token, "to": "ehe"})
    assert refused.status_code == 303
    shown = client.get(refused.headers["location"]).text
    assert "has no elective home education officer" in shown
    with transaction(directory) as s:
        assert (review.get(s, nid).status, review.get(s, nid).route) == ("not_found", "school")
    done = client.post(f"/notifications/{nid}/route", data={"csrf_token": token, "to": "cme"})
    assert done.status_code == 303 and "routed" in done.headers["location"]
    with transaction(directory) as s:
        n = review.get(s, nid)
        assert (n.status, n.route, n.decided_by) == ("approved", "officer_cme", "console:rita")
        assert verify(s).ok
    [routed] = events(directory, "routed")
    assert (routed.actor, routed.details["role"]) == ("console:rita", "cme")
    page = client.get(f"/notifications/{nid}").text
    assert "to the home council&#39;s children missing education officer" in page
    assert "Dear Jo Example, children missing education officer," in page
