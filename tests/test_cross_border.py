"""Issue 17, item 2: schools beyond the deployment's councils (docs/councils.md).

A Hampshire deployment (member 850) whose children attend schools in Wales: the Vale of
Glamorgan (673) wants its schools' notifications through its First Response, Rhondda Cynon
Taf (674) lets us write to its schools directly, and LA 682 is a council we have no file
for. On SQLite and PostgreSQL (the ``sessions`` fixture)."""

from __future__ import annotations

import csv
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
from consumers.pipeline import process_incident
from foundations.councils import councils_for
from foundations.database import transaction
from foundations.models import AuditEvent, EscalationStep, Notification, NotificationStatus
from foundations.settings import ReviewPolicy, Settings
from tests.factories import child, import_directory, incident, upn, write_directory

HAMPSHIRE = """
la_code = "850"
name = "Hampshire"
postcode_prefixes = ["SO"]
lead = true
[first_response]
name = "Hampshire Front Door"
email = "front.door@hants.test"
phone = "0300 555 0001"
duty_email = "duty@hants.test"
"""
VALE = """
la_code = "673"
name = "Vale of Glamorgan"
kind = "neighbour"
handling = "first_response"
[first_response]
name = "Vale Information, Advice and Assistance"
email = "iaa@vale.test"
phone = "0300 555 0673"
"""
RHONDDA = """
la_code = "674"
name = "Rhondda Cynon Taf"
kind = "neighbour"
handling = "direct"
"""
WELSH_SCHOOLS = [
    ["401001", "673", "Vale of Glamorgan", "2001", "Ysgol Gynradd Enghraifft Tâf",
     "Welsh establishment", "Open", "Primary", "CF62 9ZZ", "Trefenghraifft"],
    ["401002", "674", "Rhondda Cynon Taf", "4001", "Ysgol Uwchradd Glan-y-Môr Enghraifft",
     "Welsh establishment", "Open", "Secondary", "CF40 9ZZ", "Trefenghraifft"],
    ["401006", "682", "Example Welsh LA", "2006", "Ysgol Pen-y-Bryn Enghraifft",
     "Welsh establishment", "Open", "Primary", "CF99 9ZZ", "Trefenghraifft"],
]  # fmt: skip
PUPILS = {  # urn -> (given, family, date of birth)
    "401001": ("Nia", "Enghraifft", "2014-04-04"),
    "401002": ("Cai", "Enghraifft", "2012-03-03"),
    "401006": ("Owain", "Enghraifft", "2013-05-05"),
}
LINKS = AckLinks(b"s" * 32, "https://encompass.council.example", timedelta(days=14))
HOME = "SO23 8UJ"  # the child lives in Hampshire


@pytest.fixture
def deployment(
    sessions: sessionmaker[Session], tmp_path: Path
) -> tuple[sessionmaker[Session], Settings]:
    pupils = [
        {"upn": upn(f"85020011610{i}"), "given_names": g, "family_name": f,
         "date_of_birth": born, "postcode": HOME, "urn": urn, "on_roll_from": "2021-09-01"}
        for i, (urn, (g, f, born)) in enumerate(PUPILS.items())
    ]  # fmt: skip
    files = write_directory(tmp_path / "directory", pupils=pupils)
    with files["schools"].open("a", encoding="cp1252", newline="") as out:
        csv.writer(out).writerows(WELSH_SCHOOLS)
    with files["contacts"].open("a") as out:
        for urn in PUPILS:
            out.write(f"{urn},dsl,Dee Example,dsl@{urn}.ysgol.example,01632 960{urn[-3:]},\n")
    with transaction(sessions) as session:
        import_directory(session, files)
    councils = tmp_path / "councils"
    councils.mkdir()
    for code, text in (("850", HAMPSHIRE), ("673", VALE), ("674", RHONDDA)):
        (councils / f"{code}.toml").write_text(text, encoding="utf-8")
    settings = Settings(review_policy=ReviewPolicy.AUTO_RELEASE_EXACT, councils_dir=councils)
    return sessions, settings


def report(deployment: Any, urn: str) -> Notification:
    """An incident about the pupil of ``urn``, who lives in Hampshire; its notification."""
    sessions, settings = deployment
    given, family, born = PUPILS[urn]
    data = incident(
        incident_id=f"44-{uuid.uuid4().hex[:12]}",
        persons=[
            {"person_id": "p1", "role": "victim", "given_names": "Jane", "family_name": "Roe",
             "relationship": "parent", "address": {"lines": ["1 Example Road"],
                                                   "postcode": HOME}},
            child("c1", given, family, born, address={"lines": ["1 Example Road"],
                                                      "postcode": HOME}),
        ],
    )  # fmt: skip
    with transaction(sessions) as session:
        process_incident(session, settings, parse_incident(json.dumps(data).encode()), "t/0/0")
    with sessions() as session:
        return session.execute(
            select(Notification).where(Notification.incident_id == data["incident_id"])
        ).scalar_one()


def audit_rows(sessions: sessionmaker[Session], n: Notification, action: str) -> list[Any]:
    with sessions() as session:
        return list(
            session.execute(
                select(AuditEvent.details).where(
                    AuditEvent.notification_id == n.id, AuditEvent.action == action
                )
            ).scalars()
        )


def deliver(deployment: Any, at: datetime | None = None) -> list[Any]:
    sessions, settings = deployment
    with transaction(sessions) as session:
        return claim_due(session, settings, at or datetime.now(UTC), 10, LINKS)


def test_a_direct_neighbours_school_is_sent_to_its_dsl_and_audited(deployment: Any) -> None:
    sessions, settings = deployment
    n = report(deployment, "401002")
    assert n.status == NotificationStatus.APPROVED
    assert (n.route, n.route_council, n.council) == ("school", "674", "850")
    (cross,) = audit_rows(sessions, n, "cross_border")
    assert cross["handling"] == "direct" and cross["la_code"] == "674"
    assert cross["neighbour"] == "Rhondda Cynon Taf" and cross["council"] == "850"
    (job,) = deliver(deployment)
    assert (job.role, job.to) == ("dsl", "dsl@401002.ysgol.example")
    assert "Dear designated safeguarding lead at Ysgol Uwchradd" in job.rendered.text
    # The home council's reviewers see that it went across the border.
    assert routes.marker(councils_for(settings), n) == "sent to Rhondda Cynon Taf school directly"


def test_a_first_response_neighbours_school_goes_to_its_first_response(deployment: Any) -> None:
    sessions, settings = deployment
    n = report(deployment, "401001")
    assert n.status == NotificationStatus.APPROVED
    assert (n.route, n.route_council, n.council) == ("neighbour_first_response", "673", "850")
    (cross,) = audit_rows(sessions, n, "cross_border")
    assert (cross["handling"], cross["neighbour"]) == ("first_response", "Vale of Glamorgan")
    (job,) = deliver(deployment)
    assert (job.role, job.to) == ("neighbour_first_response", "iaa@vale.test")
    text = job.rendered.text
    assert "Dear Vale Information, Advice and Assistance (Vale of Glamorgan)," in text
    assert "a child on the roll of Ysgol Gynradd Enghraifft Tâf" in text
    assert "pass it to the school's designated safeguarding lead" in text
    # Minimised like a school's: the child as the directory knows them, no adult named.
    assert "Nia Enghraifft" in text and "Jane" not in text and "Roe" not in text
    assert "dsl@401001" not in text  # the neighbour knows its own schools
    assert routes.marker(councils_for(settings), n) == "via Vale of Glamorgan First Response"
    # The neighbour's First Response acknowledges with its own link.
    token = job.rendered.text.split("/ack/")[1].split()[0]
    claim = LINKS.read(token, datetime.now(UTC))
    with transaction(sessions) as session:
        assert acknowledge(session, claim, datetime.now(UTC)).outcome is AckOutcome.RECORDED


def test_a_school_in_a_council_we_do_not_know_is_held_and_can_be_approved(
    deployment: Any,
) -> None:
    sessions, settings = deployment
    n = report(deployment, "401006")
    assert n.status == NotificationStatus.PENDING_REVIEW  # even under auto_release_exact
    assert "LA 682 (Example Welsh LA)" in n.reason and "approving sends it" in n.reason
    assert n.council == "850"
    (cross,) = audit_rows(sessions, n, "cross_border")
    assert cross["handling"] == "held"
    assert not audit_rows(sessions, n, "approved")
    assert deliver(deployment) == []
    with transaction(sessions) as session:
        review.approve(session, settings, n.id, actor="console:rita")
    (job,) = deliver(deployment)
    assert (job.role, job.to) == ("dsl", "dsl@401006.ysgol.example")


def test_a_neighbours_first_response_is_reminded_then_the_home_council_alerted(
    deployment: Any,
) -> None:
    sessions, settings = deployment
    n = report(deployment, "401001")
    sent_at = n.deliver_by - timedelta(hours=1)
    (job,) = deliver(deployment, sent_at)
    with transaction(sessions) as session:
        row = session.get(Notification, job.notification_id)
        assert row is not None
        row.status, row.sent_at = NotificationStatus.SENT, sent_at
    later = n.deliver_by + timedelta(days=1)
    with transaction(sessions) as session:
        raise_due(session, settings, later)
        raise_due(session, settings, later + timedelta(days=1))
    with sessions() as session:
        steps = session.execute(
            select(EscalationStep.step, EscalationStep.role, EscalationStep.recipient)
            .where(EscalationStep.notification_id == n.id)
            .order_by(EscalationStep.id)
        ).all()
    assert [tuple(s) for s in steps][:2] == [
        ("remind_dsl", "neighbour_first_response", "iaa@vale.test"),
        ("unacknowledged", "first_response", steps[1][2]),
    ]


def test_no_marker_for_our_own_schools_or_a_child_with_no_school_yet(deployment: Any) -> None:
    _, settings = deployment
    councils = councils_for(settings)
    own = Notification(route="school", route_council="850", urn="100001")
    nowhere = Notification(route="school", route_council=None, urn=None)
    assert routes.marker(councils, own) is None and routes.marker(councils, nowhere) is None


def test_the_home_councils_reviewers_see_the_route_on_the_page_and_in_the_queue(
    deployment: Any,
) -> None:
    from console import queue_view, views

    sessions, settings = deployment
    via = report(deployment, "401001")
    held = report(deployment, "401006")
    now = datetime.now(UTC)
    with sessions() as session:
        page = views.detail(session, settings, session.get(Notification, via.id), now)
        assert page["route_marker"] == "via Vale of Glamorgan First Response"
        assert "Dear Vale Information, Advice and Assistance" in page["preview"].text
        rows = queue_view._rows(session, settings, [held.id], now)
    assert rows[0]["route"] == "school in LA 682, not a council of this deployment"
