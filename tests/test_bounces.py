"""Bounces (issue 18, item 2) over a real database, SQLite and PostgreSQL: a DSL address that
bounces for good sends the notification at once to the deputy and alerts First Response; a
deputy that bounces too leaves it ``bounced`` for a person; a delay is recorded; a forged
or repeated report changes nothing. Delivery and escalation run tick by tick, nothing sleeps.
"""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import verify
from audit.reports import ReportQuery, as_text, notification_rows
from broker.bounce_listener import BounceHandler, BounceListener
from broker.metrics import read_queue
from console.accounts import add_user
from console.app import create_app
from consumers.acknowledge import AckLinks, acknowledge
from consumers.bounces import Outcome, Taken, take
from consumers.deliver import DeliveryWorker
from consumers.escalate import EscalationScheduler, Facts, due_now
from consumers.return_path import ReturnPaths
from foundations.database import transaction
from foundations.mailer import MemoryMailer
from foundations.models import (
    AuditEvent,
    Bounce,
    EscalationStatus,
    EscalationStep,
    Notification,
    NotificationStatus,
    notification_id,
)
from foundations.settings import Settings
from tests.bounce_reports import delayed, dsn
from tests.deadlines import DEPUTY, DSL, DUTY, Clock, add_notification, add_schools, london
from tests.test_console import PASSWORD as CONSOLE_PASSWORD
from tests.test_console import sign_in
from tests.test_escalate import TIMINGS, assert_no_child, body

NID = notification_id("44-20261121-000123", 1, "c1", "100001")
DUE = london("2026-11-23 08:30")


@pytest.fixture
def settings() -> Settings:
    return Settings(
        first_response_duty_email=DUTY,
        public_url="https://encompass.council.example",
        secret_key="k" * 40,
        mail_from="encompass@council.example",
        bounce_address="bounces@council.example",
    )


@pytest.fixture
def paths(settings: Settings) -> ReturnPaths:
    made = ReturnPaths.from_settings(settings)
    assert made is not None
    return made


class Broker:
    """The delivery and escalation workers on one clock and one memory mailer."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings, self.sessions = settings, sessions
        self.clock = Clock(london("2026-11-23 06:00"))
        self.mailer = MemoryMailer()
        self.links = AckLinks.from_settings(settings)
        self.paths = ReturnPaths.from_settings(settings)
        self.delivery = DeliveryWorker(
            settings, sessions, self.mailer, self.links, clock=self.clock
        )
        self.escalation = EscalationScheduler(
            settings, sessions, self.mailer, self.links, clock=self.clock
        )

    async def tick(self) -> None:
        await self.delivery.run_once()
        await self.escalation.run_once()

    def take(self, raw: bytes, *envelope_to: str) -> Taken:
        assert self.paths is not None
        with transaction(self.sessions) as s:
            return take(
                s, self.settings, self.paths, raw, envelope_to=envelope_to, via="smtp",
                now=self.clock(),
            )  # fmt: skip

    def notification(self) -> Notification:
        with transaction(self.sessions) as s:
            n = s.get(Notification, NID)
            assert n is not None
            s.expunge(n)
            return n


@pytest.fixture
async def broker(settings: Settings, sessions: sessionmaker[Session]) -> Broker:
    add_schools(sessions)
    add_notification(sessions, NID, status="approved", deliver_by=DUE)
    running = Broker(settings, sessions)
    await running.tick()
    assert [m["To"] for m in running.mailer.messages] == [DSL]
    return running


def return_path(message: EmailMessage) -> str:
    value = str(message["Return-Path"])
    assert value.startswith("<bounces+") and value.endswith("@council.example>")
    return value.strip("<>")


def actions(sessions: sessionmaker[Session]) -> list[str]:
    with transaction(sessions) as s:
        rows = s.execute(
            select(AuditEvent.action).where(AuditEvent.notification_id == NID)
        ).scalars()
        return list(rows)


async def test_the_dsl_bounces_the_deputy_gets_it_at_once_and_first_response_is_told(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    taken = broker.take(dsn(return_path(to_dsl), DSL), return_path(to_dsl))
    assert taken == Taken(Outcome.PERMANENT, NID, sent_again=True, alerted=True)

    await broker.tick()  # the same minute: nothing waits for a timer
    _, to_deputy, alert = broker.mailer.messages
    assert to_deputy["To"] == DEPUTY and return_path(to_deputy) != return_path(to_dsl)
    assert "deputy designated safeguarding lead" in body(to_deputy)
    assert alert["To"] == DUTY and "BOUNCED" in str(alert["Subject"])
    words = body(alert)
    assert "the DSL" in words and "sent again, to the deputy DSL" in words
    assert DSL not in words  # an alert carries no personal details, addresses included
    assert_no_child(alert)
    n = broker.notification()
    assert n.status == NotificationStatus.SENT and n.recipient == DEPUTY
    assert "bounced" in n.reason and "5.1.1" in n.reason
    assert actions(sessions)[-3:] == ["bounced", "sent", "escalated"]
    with transaction(sessions) as s:
        bounce = s.execute(select(Bounce)).scalar_one()
        assert (bounce.role, bounce.recipient, bounce.kind, bounce.status, bounce.via) == (
            "dsl",
            DSL,
            "permanent",
            "5.1.1",
            "smtp",
        )
        assert verify(s).ok


async def test_the_deputy_can_acknowledge_what_was_sent_after_the_bounce(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    broker.take(dsn(return_path(to_dsl), DSL), return_path(to_dsl))
    await broker.tick()
    to_deputy = broker.mailer.sent_to(DEPUTY)[0]
    token = next(w for w in body(to_deputy).split() if "/ack/" in w).rsplit("/ack/", 1)[1]
    claim = broker.links.read(token.strip(".<>\"'"), broker.clock())
    assert claim.role == "deputy_dsl"
    with transaction(sessions) as s:
        assert acknowledge(s, claim, broker.clock()).outcome == "recorded"


async def test_when_every_address_bounces_it_waits_for_a_person(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    broker.take(dsn(return_path(to_dsl), DSL), return_path(to_dsl))
    await broker.tick()
    to_deputy = broker.mailer.sent_to(DEPUTY)[0]
    taken = broker.take(dsn(return_path(to_deputy), DEPUTY), return_path(to_deputy))
    assert taken == Taken(Outcome.PERMANENT, NID, sent_again=False, alerted=True)

    await broker.tick()
    n = broker.notification()
    assert n.status == NotificationStatus.BOUNCED and "no other address" in n.reason
    last = broker.mailer.messages[-1]
    assert last["To"] == DUTY and "UNDELIVERABLE" in str(last["Subject"])
    assert "no other address" in body(last)
    assert len(broker.mailer.sent_to(DSL)) == 1  # never written to again
    # First Response knows already: no "review due" alert; late at the deadline, as before.
    facts = Facts("bounced", DUE, raised={"bounced": broker.clock(), "undeliverable": DUE})
    assert not due_now(facts, london("2026-11-23 08:00"), TIMINGS)
    assert due_now(facts, DUE, TIMINGS)[0].step == "late"


async def test_a_delay_is_recorded_and_changes_nothing(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    taken = broker.take(delayed(return_path(to_dsl), DSL), return_path(to_dsl))
    assert taken == Taken(Outcome.DELAYED, NID)
    await broker.tick()
    assert len(broker.mailer.messages) == 1
    assert broker.notification().status == NotificationStatus.SENT
    assert actions(sessions)[-1] == "delivery_delayed"
    with transaction(sessions) as s:
        assert s.execute(select(Bounce.kind, Bounce.status)).one() == ("delayed", "4.4.1")


async def test_a_forged_bounce_changes_nothing(
    broker: Broker, sessions: sessionmaker[Session], settings: Settings
) -> None:
    [to_dsl] = broker.mailer.messages
    real = return_path(to_dsl)
    before = actions(sessions)
    theirs = ReturnPaths(b"x" * 40, "bounces", "council.example")
    guessed = theirs.for_notification(NID, DSL) or ""
    # The Message-ID of a notification is no secret: naming it proves nothing.
    by_message_id = dsn("bounces@council.example", DSL, message_id=f"<{NID}@council.example>")
    # A real return path, but told it was the deputy's address that bounced.
    other_address = real.replace(real.split(".")[1], "0000", 1)
    for raw, to in (
        (dsn(guessed, DSL), guessed),
        (by_message_id, "bounces@council.example"),
        (dsn(other_address, DEPUTY), other_address),
    ):
        assert broker.take(raw, to).outcome is Outcome.FORGED
    await broker.tick()
    assert len(broker.mailer.messages) == 1 and actions(sessions) == before
    assert broker.notification().status == NotificationStatus.SENT


async def test_the_same_bounce_twice_is_taken_once(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    path = return_path(to_dsl)
    assert broker.take(dsn(path, DSL), path).outcome is Outcome.PERMANENT
    assert broker.take(dsn(path, DSL), path).outcome is Outcome.DUPLICATE  # the same bytes
    again = dsn(path, DSL, reporter="mx2.school.example")  # another copy, for that address
    assert broker.take(again, path).outcome is Outcome.DUPLICATE
    await broker.tick()
    assert len(broker.mailer.sent_to(DEPUTY)) == 1
    assert actions(sessions).count("bounced") == 1


async def test_a_bounce_faster_than_the_record_of_sending_is_given_back(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    with transaction(sessions) as s:
        n = s.get(Notification, NID)
        assert n is not None
        n.status = NotificationStatus.SENDING  # as between the server's reply and our commit
    path = return_path(to_dsl)
    assert broker.take(dsn(path, DSL), path).outcome is Outcome.LATER
    with transaction(sessions) as s:
        assert s.execute(select(Bounce)).first() is None


async def test_a_bounced_reminder_marks_its_step_and_first_response_hears(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    broker.clock.at(london("2026-11-23 10:31"))  # unacknowledged: the DSL is reminded
    await broker.tick()
    reminder = broker.mailer.messages[-1]
    assert reminder["To"] == DSL and "Reminder" in str(reminder["Subject"])
    path = return_path(reminder)
    assert path.split("+")[1].startswith("s")  # the step's own return path
    taken = broker.take(dsn(path, DSL, status="5.2.2"), path)
    assert taken == Taken(Outcome.PERMANENT, NID, sent_again=False, alerted=True)
    with transaction(sessions) as s:
        step = s.execute(
            select(EscalationStep).where(EscalationStep.step == "remind_dsl")
        ).scalar_one()
        assert step.status == EscalationStatus.BOUNCED and "5.2.2" in step.last_error
    await broker.tick()
    alert = broker.mailer.messages[-1]
    assert alert["To"] == DUTY and "BOUNCED" in str(alert["Subject"])
    assert "contacts in the directory checked" in body(alert)
    # The DSL's address is not written to again for this notification; the chase goes on.
    broker.clock.at(london("2026-11-23 11:32"))
    await broker.tick()
    assert len(broker.mailer.sent_to(DSL)) == 2  # the notification and the one reminder
    assert "not acknowledged" in str(broker.mailer.messages[-1]["Subject"])


async def test_the_audit_report_and_the_metrics_show_the_bounce(
    broker: Broker, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    broker.take(delayed(return_path(to_dsl), DSL), return_path(to_dsl))
    broker.take(dsn(return_path(to_dsl), DSL), return_path(to_dsl))
    await broker.tick()
    with transaction(sessions) as s:
        [row] = notification_rows(s, ReportQuery(), broker.clock())
    assert row["bounces"].startswith(f"delayed 4.4.1 from {DSL} (dsl)")
    assert f"bounced 5.1.1 from {DSL} (dsl)" in row["bounces"]
    assert row["bounces"].endswith("sent again to deputy_dsl")
    assert "BOUNCES: delayed 4.4.1" in as_text([row], ReportQuery())
    figures = read_queue(sessions)
    assert figures.bounces == {"permanent": 1, "delayed": 1}


async def test_the_listener_refuses_what_is_not_ours_and_takes_a_bounce(
    broker: Broker, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    listening = settings.model_copy(update={"bounce_smtp_host": "127.0.0.1", "bounce_smtp_port": 0})
    taken: list[Taken] = []
    assert broker.paths is not None
    listener = BounceListener(
        listening, BounceHandler(listening, sessions, broker.paths, taken.append)
    )
    await listener.start()
    assert listener.port
    [to_dsl] = broker.mailer.messages
    path = return_path(to_dsl)
    try:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=listener.port, timeout=10) as smtp:
            for nobody in ("postmaster@council.example", path.replace("+n", "+nf", 1)):
                with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
                    await smtp.sendmail("", [nobody], dsn(nobody, DSL))
            _, reply = await smtp.sendmail("", [path], dsn(path, DSL))
    finally:
        await listener.stop()
    assert reply.endswith("Taken: permanent")
    assert [t.outcome for t in taken] == [Outcome.FORGED, Outcome.FORGED, Outcome.PERMANENT]
    assert taken[-1].sent_again and taken[-1].alerted


async def test_the_console_shows_the_bounce_on_the_notification_and_the_sent_list(
    broker: Broker, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    [to_dsl] = broker.mailer.messages
    broker.take(dsn(return_path(to_dsl), DSL), return_path(to_dsl))
    await broker.tick()
    with transaction(sessions) as s:
        add_user(s, "rita", "reviewer", CONSOLE_PASSWORD, actor="test")
    app = create_app(settings, sessions)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        sign_in(client, "rita")
        page = client.get(f"/notifications/{NID}").text
        sent = client.get("/sent").text
    assert "Bounces" in page and "5.1.1" in page and f"{DSL} (the DSL)" in page
    assert "Recipient address rejected" in page
    assert "Bounced</strong>" in sent and "from the DSL" in sent
