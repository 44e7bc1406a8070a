"""Rendering the school's e-mail (SPEC section 4): no name in the subject, HTML escaped,
and a stable hash of exactly what was sent."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from consumers.render import RenderedEmail, content_sha256, render_email
from schemas.notification import FirstResponseContact, SchoolNotification


def notification(**changes: object) -> SchoolNotification:
    fields: dict[str, object] = {
        "reference": "N-2026-000123",
        "school_name": "Example Primary School",
        "child_name": "Amy Doe",
        "child_date_of_birth": date(2016, 9, 14),
        "occurred_at": datetime(2026, 11, 21, 22, 40, tzinfo=UTC),
        "reported_at": datetime(2026, 11, 21, 23, 5, tzinfo=UTC),
        "deliver_by": datetime(2026, 11, 23, 8, 30, tzinfo=UTC),
        "present": True,
        "witnessed": True,
        "injured": False,
        "account": "The child's mother was pushed by the mother's partner.",
        "police_actions": ["A suspect was arrested", "Children's social care have been informed"],
        "social_care_informed": True,
        "first_response": FirstResponseContact(
            name="First Response team",
            email="first.response@council.example",
            phone="0300 555 1384",
        ),
        "ack_url": "https://encompass.example/ack/abc123",
        "is_update": False,
    }
    fields.update(changes)
    return SchoolNotification.model_validate(fields)


def test_subject_carries_the_reference_and_no_name() -> None:
    rendered = render_email(notification())
    assert rendered.subject == "Operation Encompass notification N-2026-000123"
    for name in ("Amy", "Doe", "Example Primary"):
        assert name not in rendered.subject
    update = render_email(notification(is_update=True))
    assert "update" in update.subject
    assert "Amy" not in update.subject


def test_both_parts_carry_what_the_dsl_needs() -> None:
    rendered = render_email(notification())
    for part in (rendered.text, rendered.html):
        assert "Example Primary School" in part
        assert "Amy Doe" in part
        assert "14 September 2016" in part
        assert "Saturday 21 November 2026 at 22:40" in part
        assert "08:30 on Monday 23 November 2026" in part
        assert "A suspect was arrested" in part
        assert "https://encompass.example/ack/abc123" in part
        assert "safeguarding file" in part
        assert "need to know" in part
        assert "First Response team" in part
        assert "0300 555 1384" in part
    assert "Please make sure the child is supported by 08:30 on Monday 23 November 2026" in (
        rendered.text
    )
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")


def test_times_are_london_wall_clock_time() -> None:
    summer = notification(occurred_at=datetime(2026, 6, 20, 21, 15, tzinfo=UTC))
    assert "Saturday 20 June 2026 at 22:15" in render_email(summer).text


def test_optional_fields_appear_only_when_set() -> None:
    plain = render_email(notification())
    assert "Police reference" not in plain.text
    assert "own words" not in plain.text
    fuller = render_email(
        notification(
            police_reference="44/123456/26",
            place_kind="at the child's home",
            voice_of_child="The child said she hid upstairs.",
            risk_level="medium",
        )
    )
    assert "Police reference: 44/123456/26" in fuller.text
    assert "Where: at the child's home" in fuller.text
    assert "The child said she hid upstairs." in fuller.text
    assert "Risk level assessed by police: medium" in fuller.text


def test_unknowns_and_no_ack_link_are_worded_plainly() -> None:
    rendered = render_email(
        notification(present=None, police_actions=[], social_care_informed=False, ack_url=None)
    )
    assert "Was the child present? Not recorded by police" in rendered.text
    assert "The police record lists no actions." in rendered.text
    assert "not said that children's social care have been informed" in rendered.text
    assert "confirm to First Response" in rendered.text


def test_html_is_escaped() -> None:
    hostile = "<script>alert('x')</script> & <b>bold</b>"
    rendered = render_email(
        notification(account=hostile, school_name="<i>School</i>", police_actions=[hostile])
    )
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "<i>School</i>" not in rendered.html
    assert "&amp;" in rendered.html
    # Plain text is plain text: it is shown as written, never interpreted.
    assert hostile in rendered.text


def test_ack_link_cannot_be_a_script() -> None:
    with pytest.raises(ValueError):
        notification(ack_url="javascript:alert(1)")
    with pytest.raises(ValueError):
        notification(reference="N-1\r\nBcc: someone@example.com")


def test_hash_is_stable_and_follows_the_content() -> None:
    first = render_email(notification())
    again = render_email(notification())
    assert first == again
    assert content_sha256(first) == content_sha256(again)
    assert len(content_sha256(first)) == 64
    changed = render_email(notification(account="Something else happened."))
    assert content_sha256(changed) != content_sha256(first)
    # Every part counts, and moving text between parts changes the hash.
    assert content_sha256(RenderedEmail("a", "bc", "")) != content_sha256(
        RenderedEmail("ab", "c", "")
    )
    assert content_sha256(RenderedEmail("s", "t", "h")) != content_sha256(
        RenderedEmail("s", "t", "h2")
    )
