"""The preview is what the school gets (issue 15): the reviewer's preview is the e-mail as
sent, with the acknowledgement link's place shown; a deputy is addressed as the deputy; the
First Response block names itself once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from consumers.deliver import claim_due
from consumers.render import preview_email, render_email
from foundations.database import transaction
from foundations.settings import Settings
from schemas.notification import SchoolNotification
from tests.deadlines import ONLY_DEPUTY, add_notification, add_schools, content, london

DUE = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def _notification(**changes: object) -> SchoolNotification:
    n = SchoolNotification.model_validate(content("N-preview", DUE, DUE - timedelta(hours=10)))
    return n.model_copy(update=changes)


def test_the_preview_shows_where_the_acknowledgement_link_goes() -> None:
    preview = preview_email(_notification(), "dsl", ttl_days=14)
    for body in (preview.text, preview.html):
        assert "Please confirm that you have received this notification: " in body
        assert "confirmation link goes here when the e-mail is sent" in body
        assert "works for 14 days" in body
        assert "Please confirm to First Response" not in body


def test_the_preview_is_the_sent_e_mail_apart_from_the_link() -> None:
    url = "https://encompass.council.example/ack/TOKEN"
    sent = render_email(_notification(ack_url=url))
    preview = preview_email(_notification(), "dsl", ttl_days=14)
    placeholder = (
        "[the school's own confirmation link goes here when the e-mail is sent; "
        "it works for 14 days]"
    )
    assert preview.subject == sent.subject
    assert preview.text.replace(placeholder, url) == sent.text


@pytest.mark.parametrize(
    ("role", "greeting"),
    [
        ("dsl", "Dear designated safeguarding lead at"),
        ("deputy_dsl", "Dear deputy designated safeguarding lead at"),
    ],
)
def test_the_e_mail_addresses_the_role_it_goes_to(role: str, greeting: str) -> None:
    rendered = render_email(_notification(), role=role)
    assert greeting in rendered.text and greeting in rendered.html


def test_a_notification_goes_only_to_a_dsl_or_a_deputy() -> None:
    with pytest.raises(ValueError, match="not 'first_response'"):
        render_email(_notification(), role="first_response")


def test_the_first_response_block_names_itself_once() -> None:
    text = render_email(_notification()).text
    questions = text.split("QUESTIONS", 1)[1]
    assert questions.count("First Response") == 1
    assert "First Response, the council's children's services front door" in questions


def test_delivery_addresses_the_deputy_of_a_school_with_no_dsl(
    sessions: sessionmaker[Session],
) -> None:
    add_schools(sessions)
    for nid, urn in (("N-to-dsl", "100001"), ("N-to-deputy", "100002")):
        add_notification(
            sessions, nid, status="approved", deliver_by=london("2026-11-23 08:30"), urn=urn
        )
    with transaction(sessions) as s:
        jobs = {j.notification_id: j for j in claim_due(s, Settings(), london("2026-11-23 07:00"))}
    assert jobs["N-to-deputy"].to == ONLY_DEPUTY
    assert "Dear deputy designated safeguarding lead at" in jobs["N-to-deputy"].rendered.text
    assert "Dear designated safeguarding lead at" in jobs["N-to-dsl"].rendered.text
