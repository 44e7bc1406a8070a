"""Issue 13, defect 10: acknowledgement tokens are accepted only for the roles that receive
them. Links go to whoever a notification is addressed to: the school's DSL or deputy DSL (the
notification e-mail, the reminders), and, since issue 17, a neighbouring council's First
Response handling it onward or the home council's ehe or cme officer;
a token signed for any other role is refused as tampered, and a token for a role the
notification never went to is refused as unavailable: nothing is recorded either way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from console.app import create_app
from consumers.acknowledge import ROLES, AckLinks
from consumers.alerts import Step
from consumers.deliver import claim_due, mark_sent
from foundations.database import transaction
from foundations.models import AuditEvent, EscalationStep, Notification
from foundations.settings import Settings
from tests.deadlines import DEPUTY, DSL, Clock, add_notification, add_schools, london

NOW = london("2026-11-23 07:00")
LINKS = AckLinks(b"s" * 32, "https://encompass.council.example", timedelta(days=14))


def signed_for(nid: str, role: str) -> str:
    """What only a holder of the key could make: a valid signature over any role."""
    return LINKS._signed({"n": nid, "r": role, "e": int((NOW + timedelta(days=1)).timestamp())})


@pytest.fixture
def client(sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    add_schools(sessions)
    app = create_app(Settings(), sessions, links=LINKS, clock=Clock(NOW))
    with TestClient(app) as c:
        yield c


def acknowledged(sessions: sessionmaker[Session], nid: str) -> bool:
    with transaction(sessions) as s:
        n = s.get(Notification, nid)
        rows = s.execute(
            select(AuditEvent).where(
                AuditEvent.action == "acknowledged", AuditEvent.notification_id == nid
            )
        ).all()
        assert n is not None
        return n.acknowledged_at is not None or bool(rows)


def sent_to(sessions: sessionmaker[Session], nid: str, *roles: tuple[AuditAction, str]) -> str:
    add_notification(sessions, nid, status="sent", deliver_by=NOW, sent_at=NOW)
    with transaction(sessions) as s:
        for action, role in roles:
            record(s, action, actor="broker:deliver", notification_id=nid, details={"role": role})
    return nid


def test_only_a_notifications_addressees_receive_links() -> None:
    addressees = {"dsl", "deputy_dsl", "neighbour_first_response", "officer_ehe", "officer_cme"}
    assert frozenset(addressees) == ROLES
    for role in ("first_response", "admin", "reviewer", "", "DSL"):
        with pytest.raises(ValueError, match="role"):
            LINKS.token("N-1", role, NOW)


@pytest.mark.parametrize("role", ["first_response", "admin", "auditor", "school", "DSL"])
def test_a_token_signed_for_a_role_that_gets_no_links_is_refused(
    client: TestClient, sessions: sessionmaker[Session], role: str
) -> None:
    nid = sent_to(sessions, "N-other-role", (AuditAction.SENT, "dsl"))
    path = f"/ack/{signed_for(nid, role)}"
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 400 and "This link is not valid" in response.text
    assert not acknowledged(sessions, nid)


def test_a_token_for_a_role_the_notification_never_went_to_is_refused(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    nid = sent_to(sessions, "N-to-dsl", (AuditAction.SENT, "dsl"))
    deputy = f"/ack/{LINKS.token(nid, 'deputy_dsl', NOW)}"  # no e-mail went to the deputy
    for response in (client.get(deputy), client.post(deputy)):
        assert response.status_code == 404 and "cannot be acknowledged" in response.text
    assert not acknowledged(sessions, nid)
    assert client.post(f"/ack/{LINKS.token(nid, 'dsl', NOW)}").status_code == 200
    assert acknowledged(sessions, nid)


def test_a_reminder_to_the_deputy_makes_the_deputys_link_good(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    nid = sent_to(sessions, "N-reminded", (AuditAction.SENT, "dsl"))
    deputy = f"/ack/{LINKS.token(nid, 'deputy_dsl', NOW)}"
    assert client.post(deputy).status_code == 404
    with transaction(sessions) as s:
        record(s, AuditAction.REMINDED, actor="broker:escalate", notification_id=nid,
               details={"step": "remind_deputy", "role": "deputy_dsl"})  # fmt: skip
    assert "Thank you" in client.post(deputy).text
    assert acknowledged(sessions, nid)


def test_a_reminder_rendered_but_not_yet_recorded_counts_for_its_role(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    nid = sent_to(sessions, "N-in-flight", (AuditAction.SENT, "dsl"))
    deputy = f"/ack/{LINKS.token(nid, 'deputy_dsl', NOW)}"
    with transaction(sessions) as s:
        step = EscalationStep(notification_id=nid, step=Step.REMIND_DEPUTY.value, due_at=NOW,
                              raised_at=NOW, role="deputy_dsl", recipient=DEPUTY,
                              status="pending", attempts=0)  # fmt: skip
        s.add(step)
    assert client.post(deputy).status_code == 404  # raised, no link made yet
    with transaction(sessions) as s:
        [row] = s.execute(select(EscalationStep)).scalars()
        row.attempts = 1  # claimed: the e-mail with its link is being sent
    assert client.post(deputy).status_code == 200


def test_the_link_in_the_email_as_sent_works_and_only_for_its_role(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    nid = add_notification(sessions, "N-real", status="approved", deliver_by=NOW)
    with transaction(sessions) as s:
        [job] = claim_due(s, Settings(), NOW, links=LINKS)
    assert (job.to, job.role) == (DSL, "dsl")
    deputy = f"/ack/{LINKS.token(nid, 'deputy_dsl', NOW)}"
    # Being sent (a fast reader): the address it goes to is the DSL's.
    assert client.get(f"/ack/{LINKS.token(nid, 'dsl', NOW)}").status_code == 200
    assert client.post(deputy).status_code == 404
    with transaction(sessions) as s:
        mark_sent(s, job)
    assert client.post(deputy).status_code == 404
    assert client.post(f"/ack/{LINKS.token(nid, 'dsl', NOW)}").status_code == 200
    assert acknowledged(sessions, nid)
