"""Issue 13, defect 10: the re-match directory search is audited with its search terms.

Every search a reviewer runs from a notification's page leaves a ``directory_searched``
audit row naming the search, what it was by and how many pupils it showed. The terms (a
UPN, or a date of birth and family name) are kept as the ledger keeps a reviewer's edits:
in their own table, encrypted at rest and purged with the incident, while the row in the
trail (published to Kafka as it is) holds only the SHA-256 of the salted terms. Auditors
read the terms with ``encompass audit searches``, which checks them against the trail."""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import verify
from broker.cli import audit as audit_cli
from consumers import review
from consumers.retention import purge
from foundations.clock import utcnow
from foundations.database import transaction
from foundations.models import AuditEvent, DirectorySearch, Notification
from tests import test_console
from tests.factories import TWIN_A_UPN, TWIN_B_UPN
from tests.test_console import TWINS, events, publish, settings_for, sign_in

# The console tests' fixtures: a directory with reviewers, the app over HTTPS.
directory = test_console.directory
app_settings = test_console.app_settings
client = test_console.client


def test_a_search_by_upn_leaves_an_audit_row_and_its_terms_encrypted(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    sign_in(client, "rita")
    page = client.get(f"/notifications/{nid}", params={"upn": TWIN_B_UPN.lower()})
    assert page.status_code == 200 and TWIN_B_UPN in page.text
    [row] = events(directory, "directory_searched")
    assert (row.actor, row.notification_id) == ("console:rita", nid)
    assert {k: row.details[k] for k in ("by", "family_name", "results")} == {
        "by": "upn", "family_name": False, "results": 1,
    }  # fmt: skip
    message = json.dumps(row.as_message())  # what goes to encompass.audit.v1
    assert TWIN_B_UPN not in message and TWIN_B_UPN.lower() not in message
    with transaction(directory) as s:
        search = s.get(DirectorySearch, row.details["search_id"])
        assert search is not None and search.terms["upn"] == TWIN_B_UPN
        assert review.search_terms_sha256(search.terms) == row.details["terms_sha256"]
        stored = s.execute(
            text("SELECT terms FROM directory_searches WHERE id = :id"), {"id": search.id}
        )
        assert TWIN_B_UPN not in stored.scalar_one()  # encrypted at rest
        assert verify(s).ok


def test_a_search_by_date_of_birth_and_name_records_both_and_the_count(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    sign_in(client, "rita")
    params = {"dob": "2017-05-05", "family": "Twin"}
    page = client.get(f"/notifications/{nid}", params=params)
    assert TWIN_A_UPN in page.text and TWIN_B_UPN in page.text
    nobody = client.get(f"/notifications/{nid}", params={"dob": "2017-05-05", "family": "Zed"})
    assert nobody.status_code == 200
    first, second = events(directory, "directory_searched")
    assert (first.details["by"], first.details["family_name"], first.details["results"]) == (
        "date_of_birth", True, 2,
    )  # fmt: skip
    assert second.details["results"] == 0
    for row in (first, second):
        message = json.dumps(row.as_message())
        assert "2017-05-05" not in message and "Twin" not in message and "Zed" not in message
    # Not a bare hash a guess could match: the salt is secret with the terms.
    bare = {"upn": None, "date_of_birth": "2017-05-05", "family_name": "Twin"}
    assert review.search_terms_sha256(bare) != first.details["terms_sha256"]
    with transaction(directory) as s:
        found = review.searches(s, nid)
    assert [(f["date_of_birth"], f["family_name"], f["results"]) for f in found] == [
        ("2017-05-05", "Twin", 2), ("2017-05-05", "Zed", 0),
    ]  # fmt: skip
    assert all(f["matches_audit"] and f["actor"] == "console:rita" for f in found)


def test_no_search_runs_without_its_audit_row(directory: sessionmaker[Session]) -> None:
    nid = publish(directory, TWINS)
    with transaction(directory) as s:
        n = s.get(Notification, nid)
        assert n is not None
        with pytest.raises(TypeError):
            review.search_pupils(s, upn=TWIN_A_UPN)  # type: ignore[call-arg]
        assert review.search_pupils(s, n, actor="console:rita") == []  # nothing asked
    assert events(directory, "directory_searched") == []


def test_auditors_read_the_terms_and_an_edited_search_is_shown(
    client: TestClient,
    directory: sessionmaker[Session],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    nid = publish(directory, TWINS)
    sign_in(client, "rita")
    client.get(f"/notifications/{nid}", params={"upn": TWIN_A_UPN})
    args = argparse.Namespace(notification=nid, actor_name="cli:aud")
    settings = settings_for(tmp_path)
    assert audit_cli.searches(settings, directory, args) == 0
    [shown] = json.loads(capsys.readouterr().out)
    assert shown["upn"] == TWIN_A_UPN and shown["matches_audit"] is True
    [report] = events(directory, "report_produced")
    assert report.actor == "cli:aud" and report.details["report"] == "directory_searches"
    with transaction(directory) as s:  # someone with the database changes what was searched
        search = s.execute(select(DirectorySearch)).scalar_one()
        search.terms = {**search.terms, "upn": TWIN_B_UPN}
    assert audit_cli.searches(settings, directory, args) == 1
    assert json.loads(capsys.readouterr().out)[0]["matches_audit"] is False


def test_the_terms_are_purged_with_the_incident_and_the_audit_row_stays(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    nid = publish(directory, TWINS)
    sign_in(client, "rita")
    client.get(f"/notifications/{nid}", params={"upn": TWIN_A_UPN})
    with transaction(directory) as s:
        n = s.get(Notification, nid)
        assert n is not None
        n.status = "rejected"  # closed: the purge may take it
        done = purge(s, now=utcnow() + timedelta(days=500), keep_days=400)
        assert done.incidents == 1
        assert s.execute(select(DirectorySearch)).all() == []
        rows = s.execute(
            select(AuditEvent).where(AuditEvent.action == "directory_searched")
        ).scalars()
        assert [r.notification_id for r in rows] == [nid]
        assert verify(s).ok


def test_the_salted_hash_is_sha256_over_the_canonical_terms() -> None:
    terms = {"upn": "A", "date_of_birth": None, "family_name": None, "salt": "00"}
    canonical = '{"date_of_birth":null,"family_name":null,"salt":"00","upn":"A"}'
    assert review.search_terms_sha256(terms) == hashlib.sha256(canonical.encode()).hexdigest()
