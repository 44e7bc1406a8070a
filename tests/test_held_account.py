"""Fail closed without failing late (issue 12): when the residual check finds anything in the
officer's account, that account waits for a person, whatever the review policy, and a
release-grade notification still goes on time with the structured account. The person then
sends the officer's account (as read or edited) or discards it; after sending it follows
as a second e-mail with the same reference, threaded under the first. Every step is audited.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import verify
from consumers import held_account
from consumers.acknowledge import AckLinks
from consumers.alerts import claim_alerts, mark_alert_sent
from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.database import transaction
from foundations.models import AuditEvent, EscalationStep, Notification, NotificationEdit
from foundations.settings import ReviewPolicy, Settings
from tests.factories import import_directory, incident, write_directory

NAMING_A_GRANDMOTHER = (
    "The child's mother's mum Victoria Harrison came round after the argument. "
    "The child hid upstairs and was not injured."
)


@pytest.fixture
def directory(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    files = write_directory(tmp_path / "directory")
    with transaction(sessions) as session:
        import_directory(session, files)
    return sessions


def run(
    sessions: sessionmaker[Session],
    summary: str,
    policy: ReviewPolicy = ReviewPolicy.AUTO_RELEASE_EXACT,
    **settings: Any,
) -> Notification:
    parsed = parse_incident(json.dumps(incident(summary=summary)).encode())
    with transaction(sessions) as session:
        process_incident(session, Settings(review_policy=policy, **settings), parsed, "t/0/0")
    with transaction(sessions) as session:
        [n] = session.execute(select(Notification)).scalars()
        session.expunge(n)
        return n


def actions(sessions: sessionmaker[Session]) -> list[str]:
    with transaction(sessions) as session:
        return [a for (a,) in session.execute(select(AuditEvent.action).order_by(AuditEvent.seq))]


def test_a_clean_account_is_not_held(directory: sessionmaker[Session]) -> None:
    n = run(directory, "The child's mother said her partner shouted. The child hid upstairs.")
    assert n.status == "approved" and n.account_status is None and n.held_account is None
    assert n.content is not None and "hid upstairs" in n.content["account"]


def test_a_held_account_does_not_stop_a_release_grade_notification(
    directory: sessionmaker[Session],
) -> None:
    n = run(directory, NAMING_A_GRANDMOTHER)
    assert n.status == "approved"  # on time, by policy
    assert n.account_status == "held"
    assert n.content is not None
    school_reads = json.dumps(n.content)
    assert "Victoria" not in school_reads and "Harrison" not in school_reads
    assert n.content["account"].startswith("Police attended a domestic abuse incident")
    assert n.held_account is not None and "Victoria Harrison" in n.held_account["text"]
    assert {"Victoria Harrison"} <= {s.text for s in held_account.suspects_of(n)}
    assert "account_held" in actions(directory)


@pytest.mark.parametrize("policy", list(ReviewPolicy))
def test_no_review_policy_skips_the_hold(
    directory: sessionmaker[Session], policy: ReviewPolicy
) -> None:
    n = run(directory, NAMING_A_GRANDMOTHER, policy)
    assert n.account_status == "held"
    assert "Victoria" not in json.dumps(n.content)


def test_with_the_fallback_off_the_whole_notification_waits(
    directory: sessionmaker[Session],
) -> None:
    n = run(directory, NAMING_A_GRANDMOTHER, structured_account_fallback=False)
    assert n.status == "pending_review" and "officer's account" in n.reason
    assert "approved" not in actions(directory)


def test_released_before_sending_it_simply_goes_in_the_notification(
    directory: sessionmaker[Session],
) -> None:
    nid = run(directory, NAMING_A_GRANDMOTHER).id
    edited = "The child's grandmother came round after the argument. The child hid upstairs."
    with transaction(directory) as session:
        n = session.get(Notification, nid)
        assert n is not None
        held_account.release(session, Settings(), n, actor="console:rita", account=edited)
    with transaction(directory) as session:
        n = session.get(Notification, nid)
        assert n is not None and n.content is not None
        assert n.content["account"] == edited and n.account_status == "released"
        [edit] = session.execute(select(NotificationEdit)).scalars()
        assert edit.field == "held_account" and "Victoria" in edit.before
        assert session.execute(select(EscalationStep)).first() is None  # no follow-up needed
        assert verify(session).ok
    assert "account_released" in actions(directory)


def test_released_after_sending_it_follows_threaded_under_the_first(
    directory: sessionmaker[Session],
) -> None:
    nid = run(directory, NAMING_A_GRANDMOTHER).id
    with transaction(directory) as session:  # as the delivery worker leaves it
        n = session.get(Notification, nid)
        assert n is not None
        n.status, n.recipient = "sent", "dsl@100001.school.example"
        n.message_id, n.sent_at = f"<{nid}@council.example>", datetime.now(UTC)
    with transaction(directory) as session:
        n = session.get(Notification, nid)
        assert n is not None
        held_account.release(session, Settings(), n, actor="console:rita")  # as read
        assert n.account_status == "follow_up"
    links = AckLinks(b"k" * 32, "https://encompass.example", timedelta(days=14))
    now = datetime.now(UTC)
    with transaction(directory) as session:
        [job] = claim_alerts(session, Settings(), links, now)
        assert job.step == "follow_up" and job.to == "dsl@100001.school.example"
        assert job.in_reply_to == f"<{nid}@council.example>"
        assert nid in job.rendered.subject and "Victoria" not in job.rendered.subject
        assert "Victoria Harrison" in job.rendered.text  # a person decided it may go
        mark_alert_sent(session, job, now)
    with transaction(directory) as session:
        n = session.get(Notification, nid)
        assert n is not None and n.account_status == "sent"
    assert actions(directory)[-2:] == ["account_released", "follow_up_sent"]


def test_a_discarded_account_never_reaches_the_school(directory: sessionmaker[Session]) -> None:
    nid = run(directory, NAMING_A_GRANDMOTHER).id
    with transaction(directory) as session:
        n = session.get(Notification, nid)
        assert n is not None
        with pytest.raises(held_account.AccountError, match="reason"):
            held_account.discard(session, n, actor="console:rita", reason=" ")
        held_account.discard(session, n, actor="console:rita", reason="nothing more to add")
        with pytest.raises(held_account.AccountError, match="no officer's account"):
            held_account.release(session, Settings(), n, actor="console:rita")
        assert "Victoria" not in json.dumps(n.content)
    assert "account_discarded" in actions(directory)


def test_a_held_account_cannot_be_released_while_it_is_being_sent(
    directory: sessionmaker[Session],
) -> None:
    nid = run(directory, NAMING_A_GRANDMOTHER).id
    with transaction(directory) as session:
        n = session.get(Notification, nid)
        assert n is not None
        n.status = "sending"
        with pytest.raises(held_account.AccountError, match="being sent"):
            held_account.release(session, Settings(), n, actor="console:rita")
