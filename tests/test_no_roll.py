"""Issue 17, item 3: children on no roll (docs/councils.md).

A child who is home-educated, missing education, or on no roll the directory knows is routed
by First Response to the home council's designated officer, from the council contacts file
(``la,role,name,email``; roles ``ehe``, ``cme``), with a minimisation profile for that
recipient. It is then a notification like any other: deadline, delivery, acknowledgement,
escalation, audit. On SQLite and PostgreSQL (the ``sessions`` fixture)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consumers import review, routes
from consumers.acknowledge import AckLinks, AckOutcome, acknowledge
from consumers.deliver import claim_due
from consumers.escalate import raise_due
from consumers.intake import parse_incident
from consumers.notify import deadline
from consumers.pipeline import process_incident
from foundations.councils import councils_for
from foundations.database import transaction
from foundations.models import AuditEvent, EscalationStep, Notification, NotificationStatus
from foundations.settings import ReviewPolicy, Settings
from school_directory.imports import import_council_contacts
from tests.bounce_reports import dsn
from tests.deadlines import DUTY, add_notification, add_schools, london
from tests.factories import child, import_directory, incident, write_directory
from tests.test_bounces import Broker, return_path

DATA = Path(__file__).parent / "data"
HAMPSHIRE = """
la_code = "850"
name = "Hampshire"
postcode_prefixes = ["SO"]
lead = true
{extra}
[first_response]
name = "Hampshire Front Door"
email = "front.door@hants.test"
phone = "0300 555 0001"
duty_email = "duty@hants.test"
"""
SOUTHAMPTON = """
la_code = "852"
name = "Southampton"
postcode_prefixes = ["SO14"]
[first_response]
name = "Southampton Front Door"
email = "front.door@soton.test"
phone = "0300 555 0852"
"""
NO_ROLL_PROFILE = """
name = "hants-no-roll"
version = 2
include = ["risk_level"]
"""
LINKS = AckLinks(b"s" * 32, "https://encompass.council.example", timedelta(days=14))


def make_deployment(
    sessions: sessionmaker[Session], tmp_path: Path, extra: str = ""
) -> tuple[sessionmaker[Session], Settings]:
    files = write_directory(tmp_path / "directory")
    with transaction(sessions) as session:
        import_directory(session, files)
        import_council_contacts(session, DATA / "council_contacts_sample.csv")
    councils = tmp_path / "councils"
    councils.mkdir()
    (councils / "850.toml").write_text(HAMPSHIRE.format(extra=extra), encoding="utf-8")
    (councils / "852.toml").write_text(SOUTHAMPTON, encoding="utf-8")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "hants-no-roll.toml").write_text(NO_ROLL_PROFILE, encoding="utf-8")
    settings = Settings(
        review_policy=ReviewPolicy.AUTO_RELEASE_EXACT, councils_dir=councils,
        profiles_dir=profiles,
    )  # fmt: skip
    return sessions, settings


@pytest.fixture
def deployment(
    sessions: sessionmaker[Session], tmp_path: Path
) -> tuple[sessionmaker[Session], Settings]:
    return make_deployment(sessions, tmp_path)


def not_found(deployment: Any, postcode: str = "SO23 8UJ") -> Notification:
    """A child the directory does not know, living at ``postcode``: not found."""
    sessions, settings = deployment
    home = {"lines": ["1 Example Road"], "postcode": postcode}
    data = incident(
        incident_id=f"44-{uuid.uuid4().hex[:12]}",
        persons=[
            {"person_id": "p1", "role": "victim", "given_names": "Jane", "family_name": "Roe",
             "relationship": "parent", "address": home},
            child("c1", "Zed", "Nobody-Example", "2015-06-06", address=home),
        ],
    )  # fmt: skip
    with transaction(sessions) as session:
        process_incident(session, settings, parse_incident(json.dumps(data).encode()), "t/0/0")
    with sessions() as session:
        n = session.execute(
            select(Notification).where(Notification.incident_id == data["incident_id"])
        ).scalar_one()
    assert n.status == NotificationStatus.NOT_FOUND
    return n


def audit_rows(sessions: sessionmaker[Session], n: Notification, action: str) -> list[Any]:
    with sessions() as session:
        return list(
            session.execute(
                select(AuditEvent.details).where(
                    AuditEvent.notification_id == n.id, AuditEvent.action == action
                )
            ).scalars()
        )


def route(deployment: Any, n: Notification, to: str) -> Notification:
    sessions, settings = deployment
    with transaction(sessions) as session:
        routed = review.route_to_officer(session, settings, n.id, actor="console:rita", to=to)
        session.flush()
        session.expunge(routed)
    return routed


def test_a_child_on_no_roll_goes_to_the_home_councils_ehe_officer(deployment: Any) -> None:
    sessions, settings = deployment
    n = not_found(deployment)
    routed = route(deployment, n, "ehe")
    assert routed.status == NotificationStatus.APPROVED
    assert (routed.route, routed.route_council, routed.council) == ("officer_ehe", "850", "850")
    assert routed.urn is None and routed.decided_by == "console:rita"
    # Its deadline: the council's day start on the first weekday, not a bank holiday, at or
    # after the report (no school calendar). Reported Saturday 21 November 2026, 23:05.
    with sessions() as session:
        reported = datetime(2026, 11, 21, 23, 5, tzinfo=UTC)
        assert routed.deliver_by == deadline(session, settings, None, reported)
    assert routed.deliver_by.isoformat().startswith("2026-11-23T08:")
    (row,) = audit_rows(sessions, n, "routed")
    assert (row["route"], row["role"], row["la_code"]) == ("officer_ehe", "ehe", "850")
    assert row["before"]["status"] == "not_found" and row["profile"] == "no-roll-default"
    assert [r["profile"] for r in audit_rows(sessions, n, "minimised")] == ["no-roll-default"]
    assert audit_rows(sessions, n, "approved")[0]["from"] == "pending_review"
    with transaction(sessions) as session:
        (job,) = claim_due(session, settings, datetime.now(UTC), 10, LINKS)
    assert (job.role, job.to) == ("officer_ehe", "ehe.officer@hants.example")
    text = job.rendered.text
    assert "Dear Robin Example, elective home education officer," in text
    assert "on no school roll that we know of" in text and "on your roll" not in text
    assert "Zed Nobody-Example" in text and "6 June 2015" in text
    assert "Jane" not in text and "Roe" not in text  # never the adults' details
    assert "Hampshire Front Door" in text or "First Response" in text
    token = text.split("/ack/")[1].split()[0]
    with transaction(sessions) as session:
        got = acknowledge(session, LINKS.read(token, datetime.now(UTC)), datetime.now(UTC))
    assert got.outcome is AckOutcome.RECORDED
    assert routes.marker(councils_for(settings), routed) == (
        "to the home council's elective home education officer"
    )


def test_the_home_councils_no_roll_profile_is_used_by_name(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    deployment = make_deployment(sessions, tmp_path, extra='no_roll_profile = "hants-no-roll"')
    n = not_found(deployment)
    routed = route(deployment, n, "cme")
    assert routed.route == "officer_cme"
    assert routed.content is not None and routed.content["risk_level"] == "medium"
    (row,) = audit_rows(sessions, n, "minimised")
    assert (row["profile"], row["version"]) == ("hants-no-roll", 2)


def test_a_council_with_no_such_officer_refuses_and_nothing_is_lost(deployment: Any) -> None:
    sessions, settings = deployment
    n = not_found(deployment, postcode="SO14 7ZZ")  # lives in Southampton: no officers
    with transaction(sessions) as session, pytest.raises(review.ReviewError) as refused:
        review.route_to_officer(session, settings, n.id, actor="console:rita", to="cme")
    assert "LA 852 (Southampton) has no children missing education officer" in str(refused.value)
    with sessions() as session:
        still = session.get(Notification, n.id)
        assert still is not None
        assert (still.status, still.route, still.content) == ("not_found", "school", None)
    assert not audit_rows(sessions, n, "routed")


def test_an_officer_is_reminded_then_the_home_council_alerted(deployment: Any) -> None:
    sessions, settings = deployment
    routed = route(deployment, not_found(deployment), "cme")
    sent_at = routed.deliver_by - timedelta(hours=1)
    with transaction(sessions) as session:
        (job,) = claim_due(session, settings, sent_at, 10, LINKS)
        row = session.get(Notification, job.notification_id)
        assert row is not None
        row.status, row.sent_at = NotificationStatus.SENT, sent_at
    later = routed.deliver_by + timedelta(days=1)
    with transaction(sessions) as session:
        raise_due(session, settings, later)
        raise_due(session, settings, later + timedelta(days=1))
    with sessions() as session:
        steps = session.execute(
            select(EscalationStep.step, EscalationStep.role, EscalationStep.recipient)
            .where(EscalationStep.notification_id == routed.id)
            .order_by(EscalationStep.id)
        ).all()
    assert [tuple(s)[:2] for s in steps] == [
        ("remind_dsl", "officer_cme"),
        ("unacknowledged", "first_response"),
    ]
    assert steps[0][2] == "cme.officer@hants.example"


async def test_an_officers_address_that_bounces_is_not_sent_to_a_school_instead(
    sessions: sessionmaker[Session],
) -> None:
    """Delivery over the real workers (memory mailer): the officer's e-mail bounces; it
    waits for a person, with First Response told; nobody else is written to."""
    settings = Settings(
        first_response_duty_email=DUTY, public_url="https://encompass.council.example",
        secret_key="k" * 40, mail_from="encompass@council.example",
        bounce_address="bounces@council.example",
    )  # fmt: skip
    add_schools(sessions)
    due = london("2026-11-23 08:30")
    nid = add_notification(sessions, "N-noroll-1", status="approved", deliver_by=due)
    with transaction(sessions) as session:
        import_council_contacts(session, DATA / "council_contacts_sample.csv")
        n = session.get(Notification, nid)
        assert n is not None
        n.urn, n.upn, n.urn_key = None, None, ""
        n.route, n.route_council = "officer_cme", "850"
    broker = Broker(settings, sessions)
    await broker.tick()
    [to_officer] = broker.mailer.messages
    assert to_officer["To"] == "cme.officer@hants.example"
    assert "Dear Jo Example, children missing education officer," in str(to_officer)
    bounce = dsn(return_path(to_officer), "cme.officer@hants.example")
    taken = broker.take(bounce, return_path(to_officer))
    assert not taken.sent_again and taken.alerted
    await broker.tick()
    with sessions() as session:
        after = session.get(Notification, nid)
        assert after is not None
        assert after.status == NotificationStatus.BOUNCED
        assert "its recipient has no other address" in after.reason
    assert [m["To"] for m in broker.mailer.messages][1:] == [DUTY]
