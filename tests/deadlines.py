"""Helpers for the deadline tests: a clock the test moves, schools with contacts, and
notifications in any state, written straight to the database (no matcher involved)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from foundations.clock import LONDON
from foundations.database import transaction
from foundations.models import Notification, SafeguardingContact, School
from schemas.notification import FirstResponseContact, SchoolNotification

DSL = "dsl@100001.school.example"
DEPUTY = "deputy@100001.school.example"
ONLY_DEPUTY = "deputy@100002.school.example"
DUTY = "duty@first-response.example"
CHILD = ("Amy", "Doe")  # in the content: must never appear in an alert or a page


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


class Clock:
    """The time the code under test sees; moved only by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> Clock:
        self.now = moment
        return self

    def advance(self, **delta: float) -> Clock:
        self.now += timedelta(**delta)
        return self


def add_schools(sessions: sessionmaker[Session]) -> None:
    """100001 has a DSL and a deputy; 100002 has only a deputy."""
    with transaction(sessions) as s:
        for urn, name in (("100001", "Example Primary School"), ("100002", "St Mary's")):
            s.add(School(urn=urn, name=name, la_code="850", la_name="Hampshire", status="Open"))
        s.flush()
        s.add_all(
            [
                SafeguardingContact(urn="100001", role="dsl", name="Alex Example", email=DSL),
                SafeguardingContact(urn="100001", role="deputy_dsl", name="Sam", email=DEPUTY),
                SafeguardingContact(
                    urn="100002", role="deputy_dsl", name="Robin", email=ONLY_DEPUTY
                ),
            ]
        )


def content(reference: str, deliver_by: datetime, occurred_at: datetime) -> dict[str, Any]:
    return SchoolNotification(
        reference=reference,
        school_name="Example Primary School",
        child_name=" ".join(CHILD),
        child_date_of_birth=date(2016, 9, 14),
        occurred_at=occurred_at,
        reported_at=occurred_at + timedelta(minutes=25),
        deliver_by=deliver_by,
        present=True,
        witnessed=True,
        injured=False,
        account="Police attended after a disturbance at the home.",
        police_actions=["The police arrested a suspect."],
        social_care_informed=True,
        first_response=FirstResponseContact(
            name="First Response", email="first.response@council.example", phone="0300 000 0000"
        ),
    ).model_dump(mode="json")


def add_notification(
    sessions: sessionmaker[Session],
    nid: str,
    *,
    status: str,
    deliver_by: datetime,
    urn: str | None = "100001",
    created_at: datetime | None = None,
    sent_at: datetime | None = None,
    recipient: str | None = None,
) -> str:
    due = deliver_by.astimezone(UTC)
    with transaction(sessions) as s:
        s.add(
            Notification(
                id=nid,
                incident_id=f"44-{nid}",
                revision=1,
                person_id="c1",
                urn=urn,
                urn_key=urn or "",
                upn="B801200005001" if urn else None,
                status=status,
                deliver_by=due,
                content=content(nid, due, due - timedelta(hours=10)) if urn else None,
                created_at=created_at or due - timedelta(hours=9),
                sent_at=sent_at,
                recipient=recipient,
            )
        )
    return nid
