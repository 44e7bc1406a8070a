"""Escalation over a controlled clock: the scheduler is run tick by tick as the test moves
time through a school morning, on SQLite and PostgreSQL. Nothing sleeps.

Deadlines are Monday 23 November 2026 at 08:30 (GMT, so 08:30 UTC) unless a test says so.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import verify
from consumers.acknowledge import AckClaim, AckLinks, acknowledge
from consumers.alerts import claim_alerts
from consumers.escalate import (
    EscalationScheduler,
    Facts,
    Timings,
    due_now,
    raise_due,
)
from foundations.database import transaction
from foundations.mailer import MemoryMailer
from foundations.models import AuditEvent, EscalationStatus, EscalationStep, Notification
from foundations.settings import Settings
from tests.deadlines import (
    CHILD,
    DEPUTY,
    DSL,
    DUTY,
    ONLY_DEPUTY,
    Clock,
    add_notification,
    add_schools,
    london,
)

DUE = london("2026-11-23 08:30")
TIMINGS = Timings(
    before_deadline=timedelta(minutes=60),
    remind_after=timedelta(minutes=120),
    step_gap=timedelta(minutes=60),
    delivery_grace=timedelta(minutes=10),
)


# --- the rules, without a database ---------------------------------------------------------


def steps(facts: Facts, *times: str) -> list[str | None]:
    """The step due at each London wall-clock time (facts' raised steps as given)."""
    found = []
    for t in times:
        due = due_now(facts, london(f"2026-11-23 {t}"), TIMINGS)
        found.append(due[0].step.value if due else None)
    return found


def test_waiting_for_review_warns_an_hour_before_and_is_late_at_the_deadline() -> None:
    waiting = Facts("pending_review", DUE)
    assert steps(waiting, "07:29", "07:30", "08:29", "08:30") == [
        None,
        "review_due",
        "review_due",
        "late",
    ]
    warned = Facts("pending_review", DUE, raised={"review_due": london("2026-11-23 07:30")})
    assert steps(warned, "08:00", "08:30") == [None, "late"]
    late = Facts("not_found", DUE, raised={"late": DUE})
    assert steps(late, "09:00", "23:00") == [None, None]


def test_approved_gets_a_grace_period_to_be_sent() -> None:
    approved_late = Facts("approved", DUE, released_at=london("2026-11-23 09:00"))
    assert steps(approved_late, "09:09", "09:10") == [None, "late"]
    approved_early = Facts("sending", DUE, released_at=london("2026-11-23 06:00"))
    assert steps(approved_early, "08:29", "08:30") == [None, "late"]


def test_unacknowledged_is_chased_in_order_one_step_apart() -> None:
    sent = london("2026-11-23 07:00")
    facts = Facts("sent", DUE, sent_at=sent, has_deputy=True)
    assert steps(facts, "10:29", "10:30") == [None, "remind_dsl"]
    facts = Facts("sent", DUE, sent_at=sent, has_deputy=True,
                  raised={"remind_dsl": london("2026-11-23 10:31")})  # fmt: skip
    assert steps(facts, "11:30", "11:31") == [None, "remind_deputy"]
    facts = Facts("sent", DUE, sent_at=sent, has_deputy=False,
                  raised={"remind_dsl": london("2026-11-23 10:31")})  # fmt: skip
    assert steps(facts, "11:31") == ["unacknowledged"]
    acknowledged = Facts("sent", DUE, sent_at=sent, acknowledged_at=sent, has_deputy=True)
    assert steps(acknowledged, "10:30", "23:00") == [None, None]


def test_a_notification_sent_long_ago_is_not_chased() -> None:
    facts = Facts("sent", DUE, sent_at=london("2026-11-23 07:00"))
    assert due_now(facts, london("2026-11-30 06:59"), TIMINGS)
    assert not due_now(facts, london("2026-11-30 07:01"), TIMINGS)


def test_a_notification_sent_after_its_deadline_is_chased_from_when_it_was_sent() -> None:
    facts = Facts("sent", DUE, sent_at=london("2026-11-23 09:00"))
    assert steps(facts, "10:30", "10:59", "11:00") == [None, None, "remind_dsl"]


@pytest.mark.parametrize("status", ["rejected", "superseded"])
def test_closed_notifications_are_left_alone(status: str) -> None:
    assert steps(Facts(status, DUE), "07:30", "08:30", "12:00") == [None, None, None]


# --- the scheduler over a real database ----------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings(
        first_response_duty_email=DUTY,
        public_url="https://encompass.council.example",
        secret_key="k" * 40,
        mail_from="encompass@council.example",
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(london("2026-11-23 06:00"))


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def scheduler(
    sessions: sessionmaker[Session], settings: Settings, clock: Clock, mailer: MemoryMailer
) -> EscalationScheduler:
    add_schools(sessions)
    return EscalationScheduler(
        settings, sessions, mailer, AckLinks.from_settings(settings), clock=clock
    )


async def run_at(scheduler: EscalationScheduler, clock: Clock, *times: str) -> None:
    for t in times:
        clock.at(london(f"2026-11-23 {t}"))
        await scheduler.run_once()


def trail(sessions: sessionmaker[Session], nid: str) -> list[tuple[str, str | None]]:
    with transaction(sessions) as s:
        rows = s.execute(
            select(AuditEvent).where(AuditEvent.notification_id == nid).order_by(AuditEvent.seq)
        ).scalars()
        return [(r.action, r.details.get("step")) for r in rows]


def body(message: EmailMessage) -> str:
    """The decoded text and HTML parts."""
    parts = [message.get_body(("plain",)), message.get_body(("html",))]
    return "\n".join(p.get_content() for p in parts if isinstance(p, EmailMessage))


def assert_no_child(message: EmailMessage) -> None:
    text = str(message["Subject"]) + body(message)
    for name in CHILD:
        assert name not in text


async def test_an_unreviewed_notification_is_escalated_before_its_deadline_and_late_after(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
) -> None:
    nid = add_notification(sessions, "N-unreviewed", status="pending_review", deliver_by=DUE)
    await run_at(scheduler, clock, "06:00", "07:29")
    assert mailer.messages == []

    await run_at(scheduler, clock, "07:30", "07:45", "08:29")
    [warning] = mailer.sent_to(DUTY)
    assert "still waiting for review" in str(warning["Subject"])
    assert nid in str(warning["Subject"]) and "08:30 on Monday 23 November 2026" in body(warning)
    assert "https://encompass.council.example/queue" in body(warning)
    assert_no_child(warning)

    await run_at(scheduler, clock, "08:30", "09:00", "12:00")
    assert len(mailer.messages) == 2
    late = mailer.messages[1]
    assert list(mailer.sent_to(DUTY)) == [warning, late]
    assert "LATE" in str(late["Subject"])
    assert_no_child(late)
    with transaction(sessions) as s:
        n = s.get(Notification, nid)
        assert n is not None and n.late_at == london("2026-11-23 08:30")
        assert verify(s).ok
    assert trail(sessions, nid) == [
        ("escalated", "review_due"),
        ("late", None),
        ("escalated", "late"),
    ]


async def test_a_scheduler_that_was_down_sends_only_the_late_alert(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
) -> None:
    add_notification(sessions, "N-down", status="not_found", deliver_by=DUE, urn=None)
    await run_at(scheduler, clock, "09:15")
    [late] = mailer.messages
    assert "LATE" in str(late["Subject"]) and "not yet matched" in body(late)


async def test_an_unacknowledged_notification_is_reminded_and_escalated_in_order(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
    settings: Settings,
) -> None:
    sent = london("2026-11-23 07:00")
    nid = add_notification(
        sessions, "N-unacked", status="sent", deliver_by=DUE, sent_at=sent, recipient=DSL
    )
    await run_at(scheduler, clock, "07:00", "08:30", "10:29")
    assert mailer.messages == []

    await run_at(scheduler, clock, "10:30", "11:00", "11:29")
    [to_dsl] = mailer.messages
    assert to_dsl["To"] == DSL and "Reminder" in str(to_dsl["Subject"])
    link = re.search(r"https://encompass\.council\.example/ack/\S+", body(to_dsl))
    assert link is not None
    claim = AckLinks.from_settings(settings).read(link.group(0).rsplit("/", 1)[1], clock())
    assert (claim.notification_id, claim.role) == (nid, "dsl")

    await run_at(scheduler, clock, "11:30", "12:29")
    assert [m["To"] for m in mailer.messages] == [DSL, DEPUTY]
    assert "not yet acknowledged by your DSL" in str(mailer.messages[1]["Subject"])

    await run_at(scheduler, clock, "12:30", "13:30", "18:00")
    assert [m["To"] for m in mailer.messages] == [DSL, DEPUTY, DUTY]
    alert = mailer.messages[2]
    assert "not acknowledged" in str(alert["Subject"]) and "the deputy were" in body(alert)
    for message in mailer.messages:
        assert_no_child(message)
    ids = [str(m["Message-ID"]) for m in mailer.messages]
    assert ids == [f"<{nid}.{s}@council.example>" for s in ("remind_dsl", "remind_deputy",
                                                              "unacknowledged")]  # fmt: skip
    assert trail(sessions, nid) == [
        ("reminded", "remind_dsl"),
        ("reminded", "remind_deputy"),
        ("escalated", "unacknowledged"),
    ]


async def test_a_school_with_only_a_deputy_goes_from_the_reminder_to_first_response(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
) -> None:
    add_notification(
        sessions,
        "N-deputy-only",
        status="sent",
        urn="100002",
        deliver_by=DUE,
        sent_at=london("2026-11-23 07:00"),
        recipient=ONLY_DEPUTY,
    )
    await run_at(scheduler, clock, "10:30", "11:30", "12:30")
    assert [m["To"] for m in mailer.messages] == [ONLY_DEPUTY, DUTY]


async def test_acknowledging_stops_the_chase(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
) -> None:
    nid = add_notification(
        sessions, "N-acked", status="sent", deliver_by=DUE, sent_at=DUE, recipient=DSL
    )
    await run_at(scheduler, clock, "10:30")
    assert len(mailer.messages) == 1
    with transaction(sessions) as s:
        acknowledge(s, AckClaim(nid, "dsl", DUE + timedelta(days=14)), clock())
    await run_at(scheduler, clock, "11:30", "12:30", "18:00")
    assert len(mailer.messages) == 1


async def test_a_step_raised_but_not_yet_sent_is_cancelled_by_an_acknowledgement(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
    settings: Settings,
) -> None:
    nid = add_notification(
        sessions, "N-race", status="sent", deliver_by=DUE, sent_at=DUE, recipient=DSL
    )
    with transaction(sessions) as s:
        assert raise_due(s, settings, london("2026-11-23 10:30")) == 1
        acknowledge(s, AckClaim(nid, "dsl", DUE + timedelta(days=14)), clock())
    await run_at(scheduler, clock, "10:31")
    assert mailer.messages == []
    with transaction(sessions) as s:
        [row] = s.execute(select(EscalationStep)).scalars()
        assert row.status == EscalationStatus.CANCELLED.value


async def test_each_step_is_sent_once_across_a_restart(
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Clock,
) -> None:
    add_schools(sessions)
    add_notification(sessions, "N-restart", status="pending_review", deliver_by=DUE)
    links = AckLinks.from_settings(settings)
    # The first process raises the step and dies before sending its e-mail.
    with transaction(sessions) as s:
        assert raise_due(s, settings, london("2026-11-23 07:30")) == 1
    # The next one sends it, once; a third finds nothing left to do.
    for expected in (1, 0):
        mailer = MemoryMailer()
        restarted = EscalationScheduler(settings, sessions, mailer, links, clock=clock)
        await run_at(restarted, clock, "07:35", "07:40", "08:00")
        assert len(mailer.messages) == expected


async def test_a_claim_whose_lease_expired_is_sent_again_with_the_same_message_id(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
    settings: Settings,
) -> None:
    add_notification(sessions, "N-lease", status="pending_review", deliver_by=DUE)
    at = london("2026-11-23 07:30")
    with transaction(sessions) as s:
        raise_due(s, settings, at)
        [lost] = claim_alerts(s, settings, scheduler.links, at)  # then the process died
    clock.at(at + timedelta(seconds=settings.delivery_lease_s - 1))
    await scheduler.run_once()
    assert mailer.messages == []  # still leased
    clock.at(at + timedelta(seconds=settings.delivery_lease_s + 1))
    await scheduler.run_once()
    [message] = mailer.messages
    assert message["Message-ID"] == lost.message_id


async def test_the_database_refuses_a_second_row_for_the_same_step(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_schools(sessions)
    add_notification(sessions, "N-twice", status="pending_review", deliver_by=DUE)
    row = {
        **{"notification_id": "N-twice", "step": "late", "due_at": DUE, "raised_at": DUE},
        **{"role": "first_response", "recipient": DUTY, "status": "pending", "attempts": 0},
    }
    with transaction(sessions) as s:
        s.add(EscalationStep(**row))
    with pytest.raises(IntegrityError), transaction(sessions) as s:
        s.add(EscalationStep(**row))


async def test_alert_failures_are_retried_then_audited(
    scheduler: EscalationScheduler,
    sessions: sessionmaker[Session],
    clock: Clock,
    mailer: MemoryMailer,
) -> None:
    nid = add_notification(sessions, "N-fail", status="pending_review", deliver_by=DUE)
    mailer.fail_next(1)
    await run_at(scheduler, clock, "07:30")
    assert mailer.messages == []
    await run_at(scheduler, clock, "07:31")  # after the backoff
    assert len(mailer.messages) == 1
    mailer.fail_next(1, permanent=True)
    await run_at(scheduler, clock, "08:30", "08:31", "09:00")
    assert len(mailer.messages) == 1
    assert trail(sessions, nid) == [
        ("escalated", "review_due"),
        ("late", None),
        ("failed", "late"),
    ]


async def test_first_response_duty_inbox_defaults_to_first_responses_address(
    sessions: sessionmaker[Session], clock: Clock
) -> None:
    add_schools(sessions)
    add_notification(sessions, "N-default", status="pending_review", deliver_by=DUE)
    settings = Settings(secret_key="k" * 40, first_response_email="fr@council.example")
    mailer = MemoryMailer()
    links = AckLinks.from_settings(settings)
    await run_at(EscalationScheduler(settings, sessions, mailer, links, clock=clock), clock,
                 "07:30")  # fmt: skip
    assert [m["To"] for m in mailer.messages] == ["fr@council.example"]


def test_the_late_sweep_does_not_touch_what_is_not_due(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_schools(sessions)
    add_notification(sessions, "N-tomorrow", status="pending_review", deliver_by=DUE + timedelta(1))
    add_notification(sessions, "N-rejected", status="rejected", deliver_by=DUE)
    with transaction(sessions) as s:
        assert raise_due(s, settings, london("2026-11-23 12:00")) == 0
        assert s.execute(select(EscalationStep)).first() is None
