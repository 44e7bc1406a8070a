"""Words, not codes (issue 15): every status, step and kind of actor has words of its own."""

from __future__ import annotations

import pytest

from consumers.alerts import Step
from consumers.wording import STATUS_WORDS, STEP_WORDS, actor_words, status_words, step_words
from foundations.models import NotificationStatus


def test_every_status_and_step_has_words() -> None:
    assert set(STATUS_WORDS) == set(NotificationStatus)
    assert set(STEP_WORDS) == {s.value for s in Step}
    for status in NotificationStatus:
        assert "_" not in status_words(status)
    for step in Step:
        assert "_" not in step_words(step)


@pytest.mark.parametrize(
    ("actor", "words"),
    [
        ("console:rita", "rita (console)"),
        ("console:oidc:rita@council.example", "rita@council.example (console, single sign-on)"),
        ("cli:root", "root (command line)"),
        ("policy:auto_release_exact", "automatic release of an exact match"),
        ("school:100001:dsl", "the DSL of school 100001"),
        ("school:100001:deputy_dsl", "the deputy DSL of school 100001"),
        ("broker:deliver", "the broker (delivery)"),
        (None, ""),
    ],
)
def test_actors_are_said_in_words(actor: str | None, words: str) -> None:
    assert actor_words(actor) == words


def test_the_alert_to_first_response_says_the_status_in_words() -> None:
    from datetime import UTC, datetime

    from consumers.alerts import AlertView, render_alert

    alert = render_alert(
        AlertView(
            step="review_due",
            notification_id="N-1",
            incident_id="44-1",
            urn=None,
            status="pending_review",
            deliver_by=datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
            sent_at=None,
            queue_url="https://encompass.council.example/queue",
            deputy_reminded=False,
        )
    )
    for body in (alert.text, alert.html):
        assert "Status: Waiting for review" in body
        assert "pending_review" not in body and "review_due" not in body


def test_the_matchers_fields_and_levels_have_words() -> None:
    from datetime import timedelta

    from consumers.wording import FIELD_WORDS, late_words, match_words, step_status_words
    from school_directory.matching import FIELDS

    assert set(FIELDS) <= set(FIELD_WORDS)
    assert match_words("date_of_birth") == "date of birth"
    assert match_words("given_name:nickname") == "given names (a short form or nickname)"
    assert match_words("date_of_birth:day_month_swapped") == (
        "date of birth (day and month swapped)"
    )
    assert step_status_words("pending") == "waiting to be sent"
    assert [late_words(timedelta(minutes=m)) for m in (5, 65, 180, 60 * 72)] == [
        "5 min",
        "1 h 5 min",
        "3 h 0 min",
        "3 days",
    ]
