"""An incident through intake, match, minimise and the review policy, on a real database
(SQLite file and PostgreSQL), without Kafka."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import verify
from consumers import review
from consumers.intake import IntakeOutcome, parse_incident
from consumers.intake_batch import take_all
from consumers.pipeline import process_incident
from foundations.database import transaction
from foundations.models import AuditEvent, Incident, Notification
from foundations.settings import ReviewPolicy, Settings
from tests.factories import (
    AMY_UPN,
    DUAL_UPN,
    TWIN_A_UPN,
    TWIN_B_UPN,
    child,
    import_directory,
    incident,
    write_directory,
)


@pytest.fixture
def directory(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    files = write_directory(tmp_path / "directory")
    with transaction(sessions) as session:
        import_directory(session, files)
    return sessions


def run(
    sessions: sessionmaker[Session], data: dict[str, Any], policy: ReviewPolicy = ReviewPolicy.ALL
) -> IntakeOutcome:
    settings = Settings(review_policy=policy)
    parsed = parse_incident(json.dumps(data).encode())
    with transaction(sessions) as session:
        return process_incident(session, settings, parsed, "test/0/0").outcome


def notifications(sessions: sessionmaker[Session]) -> list[Notification]:
    with transaction(sessions) as session:
        return list(
            session.execute(
                select(Notification).order_by(Notification.person_id, Notification.urn_key)
            ).scalars()
        )


def test_the_spec_example_makes_one_notification_held_for_review(directory: Any) -> None:
    assert run(directory, incident()) is IntakeOutcome.ACCEPTED
    [n] = notifications(directory)
    assert (n.person_id, n.urn, n.upn, n.status) == ("c1", "100001", AMY_UPN, "pending_review")
    assert n.content is not None and n.content["child_name"] == "Amy Doe"
    # Saturday 21 Nov 2026 23:05 -> Monday 23 Nov at the school's 08:40 (GMT).
    assert n.deliver_by.isoformat() == "2026-11-23T08:40:00+00:00"


def test_auto_release_exact_releases_a_unique_exact_match(directory: Any) -> None:
    run(directory, incident(), ReviewPolicy.AUTO_RELEASE_EXACT)
    [n] = notifications(directory)
    assert n.status == "approved"


def test_the_same_incident_twice_creates_nothing_new(directory: Any) -> None:
    assert run(directory, incident()) is IntakeOutcome.ACCEPTED
    assert run(directory, incident()) is IntakeOutcome.DUPLICATE
    assert len(notifications(directory)) == 1
    with transaction(directory) as session:
        assert len(session.execute(select(Incident)).all()) == 1


def test_out_of_scope_is_audited_and_goes_no_further(directory: Any) -> None:
    assert run(directory, incident(classification="burglary")) is IntakeOutcome.OUT_OF_SCOPE
    assert notifications(directory) == []
    with transaction(directory) as session:
        actions = session.execute(select(AuditEvent.action)).scalars().all()
    assert "out_of_scope" in actions


def test_a_dual_registered_child_gets_a_notification_for_each_school(directory: Any) -> None:
    data = incident(
        incident_id="44-20261121-000300",
        persons=[*incident()["persons"][:2], child("c1", "Maya", "Dual", "2015-01-20")],
    )
    run(directory, data, ReviewPolicy.AUTO_RELEASE_EXACT)
    found = notifications(directory)
    assert [(n.urn, n.upn, n.status) for n in found] == [
        ("100001", DUAL_UPN, "approved"),
        ("100002", DUAL_UPN, "approved"),
    ]


def test_twins_are_never_released_on_a_guess(directory: Any) -> None:
    data = incident(
        incident_id="44-20261121-000301",
        persons=[*incident()["persons"][:2], child("c1", "Leo", "Twin", "2017-05-05")],
    )
    run(directory, data, ReviewPolicy.AUTO_RELEASE_EXACT)
    [n] = notifications(directory)
    assert n.status == "pending_review" and n.urn is None
    assert {c["upn"] for c in n.candidates} == {TWIN_A_UPN, TWIN_B_UPN}


def test_a_child_with_no_pupil_record_is_not_found_but_still_shown(directory: Any) -> None:
    data = incident(
        incident_id="44-20261121-000302",
        persons=[*incident()["persons"][:2], child("c1", "Zed", "Nobody", "2014-03-03")],
    )
    run(directory, data, ReviewPolicy.AUTO_RELEASE_EXACT)
    [n] = notifications(directory)
    assert n.status == "not_found"
    with transaction(directory) as session:
        assert [q.id for q in review.queue(session)] == [n.id]


def test_a_higher_revision_supersedes_what_has_not_been_sent(directory: Any) -> None:
    run(directory, incident())
    run(directory, incident(revision=2, summary="Amended account."))
    found = notifications(directory)
    assert sorted((n.revision, n.status) for n in found) == [
        (1, "superseded"),
        (2, "pending_review"),
    ]
    # An older revision arriving late changes nothing.
    assert (
        run(directory, incident(revision=1, incident_id="44-20261121-000123", summary="late"))
        is IntakeOutcome.DUPLICATE
    )


def test_a_revision_of_a_sent_notification_is_an_update_for_review(directory: Any) -> None:
    run(directory, incident(), ReviewPolicy.AUTO_RELEASE_EXACT)
    with transaction(directory) as session:
        session.execute(select(Notification)).scalar_one().status = "sent"
    run(directory, incident(revision=2), ReviewPolicy.AUTO_RELEASE_EXACT)
    update = [n for n in notifications(directory) if n.revision == 2]
    assert [(n.status, n.is_update) for n in update] == [("pending_review", True)]


def test_a_reviewer_chooses_the_right_twin_and_approves(directory: Any) -> None:
    data = incident(
        incident_id="44-20261121-000303",
        persons=[*incident()["persons"][:2], child("c1", "Leo", "Twin", "2017-05-05")],
    )
    run(directory, data)
    [n] = notifications(directory)
    with pytest.raises(review.ReviewError, match="no school yet"), transaction(directory) as s:
        review.approve(s, Settings(), n.id, actor="cli:alice")
    with transaction(directory) as s:
        done = review.approve(s, Settings(), n.id, actor="cli:alice", upn=TWIN_B_UPN)
        assert (done.status, done.urn) == ("approved", "100002")
    with transaction(directory) as s:
        assert verify(s).ok


def test_reject_needs_a_reason_and_is_audited(directory: Any) -> None:
    run(directory, incident())
    [n] = notifications(directory)
    with pytest.raises(review.ReviewError), transaction(directory) as s:
        review.reject(s, n.id, actor="cli:alice", reason=" ")
    with transaction(directory) as s:
        review.reject(s, n.id, actor="cli:alice", reason="not our area")
    with transaction(directory) as s:
        assert review.queue(s) == []
        assert "rejected" in s.execute(select(AuditEvent.action)).scalars().all()


def test_the_local_profile_is_applied_and_recorded_in_the_audit_row(
    directory: Any, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "hampshire.toml").write_text(
        'name = "hampshire-2026"\nversion = 3\napplies_to = { la = ["850"] }\n'
        'include = ["police_reference"]\n'
    )
    settings = Settings(profiles_dir=profiles)
    with transaction(directory) as session:
        process_incident(session, settings, parse_incident(json.dumps(incident()).encode()), "t")
    [n] = notifications(directory)
    assert n.content is not None and n.content["police_reference"] == "44/123456/26"
    with transaction(directory) as session:
        minimised = session.execute(
            select(AuditEvent).where(AuditEvent.action == "minimised")
        ).scalar_one()
    assert (minimised.details["profile"], minimised.details["version"]) == ("hampshire-2026", 3)


def test_one_batch_sees_its_own_revisions_and_duplicates(directory: Any) -> None:
    """In one transaction (an intake batch, issue 16: the batch's revisions read once, rows
    flushed at the commit) revision 2 supersedes revision 1, and revision 1 again is a
    duplicate, exactly as when each came in its own transaction."""
    events = [
        incident(),
        incident(revision=2, summary="Amended account."),
        incident(),
    ]
    parsed = [(parse_incident(json.dumps(e).encode()), f"test/0/{i}") for i, e in enumerate(events)]
    with transaction(directory) as session:
        taken = take_all(session, Settings(review_policy=ReviewPolicy.ALL), parsed, [])
    assert [t.outcome for t in taken] == ["accepted", "accepted", "duplicate"]
    assert sorted((n.revision, n.status) for n in notifications(directory)) == [
        (1, "superseded"),
        (2, "pending_review"),
    ]
    with transaction(directory) as session:
        assert verify(session).ok
