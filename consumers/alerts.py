"""The e-mails of escalation (``consumers.escalate``): alerts to First Response's duty
inbox and reminders to a school's DSL or deputy, rendered and sent from the outbox that
is the ``escalation_steps`` table (``consumers.outbox``: claim with a lease, send, record).

Neither carries a child's name or anything else from the incident: alerts hold ids, the
status and the deadline, with a link to the queue; reminders hold the reference, the
deadline and a fresh acknowledgement link. Whoever needs the details looks them up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from consumers.acknowledge import AckLinks
from consumers.deliver import message_id
from consumers.held_account import follow_up_text
from consumers.notify import first_response
from consumers.outbox import Outbox, settle
from consumers.render import (
    ADDRESSEES,
    EMAIL_ENV,
    RenderedEmail,
    content_sha256,
    london_by,
    paragraphs,
)
from foundations.councils import councils_for
from foundations.models import (
    REVIEWABLE_STATUSES,
    AccountStatus,
    AuditEvent,
    Bounce,
    BounceKind,
    EscalationStatus,
    EscalationStep,
    Notification,
    NotificationStatus,
)
from foundations.settings import Settings
from schemas.notification import FirstResponseContact

ACTOR = "broker:escalate"
FIRST_RESPONSE = "first_response"  # the role of the duty inbox


def duty_inbox(settings: Settings, council: str | None) -> str:
    """Where a notification's alerts go: the duty inbox of the council that owns it
    (``Notification.council``, docs/councils.md); in a single-council deployment
    ``ENCOMPASS_FIRST_RESPONSE_DUTY_EMAIL``, else ``ENCOMPASS_FIRST_RESPONSE_EMAIL``."""
    return councils_for(settings).first_response(council).duty_inbox


class Step(StrEnum):
    """The steps of escalation; their rules are in ``consumers.escalate``."""

    REVIEW_DUE = "review_due"
    LATE = "late"
    REMIND_DSL = "remind_dsl"
    REMIND_DEPUTY = "remind_deputy"
    UNACKNOWLEDGED = "unacknowledged"
    RECALL = "recall"  # a retraction to the school (consumers.review.recall)
    FOLLOW_UP = "follow_up"  # the officer's account, once read (consumers.held_account)
    BOUNCED = "bounced"  # an e-mail to the school bounced for good (consumers.bounces)
    UNDELIVERABLE = "undeliverable"  # ... and then every address of the school had


BOUNCE_ALERTS = frozenset({Step.BOUNCED, Step.UNDELIVERABLE})


CHASING = frozenset({Step.REMIND_DSL, Step.REMIND_DEPUTY, Step.UNACKNOWLEDGED})


@dataclass(frozen=True)
class AlertView:
    """What an alert to First Response says."""

    step: str  # review_due | late | unacknowledged
    notification_id: str
    incident_id: str
    urn: str | None
    status: str
    deliver_by: datetime
    sent_at: datetime | None
    queue_url: str
    deputy_reminded: bool = False
    # A bounce alert: the roles whose addresses bounced (dsl, deputy_dsl, school), and the
    # role it was sent to again (None: no address is left).
    bounced_roles: tuple[str, ...] = ()
    resent_to: str | None = None


@dataclass(frozen=True)
class ReminderView:
    """What a reminder to the school says."""

    reference: str
    deliver_by: datetime
    sent_at: datetime | None
    ack_url: str
    first_response: FirstResponseContact
    to_deputy: bool = False
    # Whom it greets when it is not a school's DSL (consumers/routes.py): a neighbouring
    # council's First Response, an officer.
    addressee: str | None = None


def alert_subject(a: AlertView) -> str:
    if a.step == "review_due":
        what = f"still waiting for review, due {london_by(a.deliver_by)}"
    elif a.step == "late":
        what = f"LATE: not sent by {london_by(a.deliver_by)}"
    elif a.step == "bounced":
        what = "BOUNCED: the school's mail system refused it"
    elif a.step == "undeliverable":
        what = "UNDELIVERABLE: every address of the school bounced"
    else:
        what = "not acknowledged by the school"
    return f"Operation Encompass alert: {a.notification_id} {what}"


def reminder_subject(r: ReminderView) -> str:
    if r.to_deputy:
        return f"Operation Encompass notification {r.reference} not yet acknowledged by your DSL"
    return f"Reminder: please acknowledge Operation Encompass notification {r.reference}"


def _render(stem: str, subject: str, **values: object) -> RenderedEmail:
    text = EMAIL_ENV.get_template(f"{stem}.txt.j2").render(subject=subject, **values)
    html = EMAIL_ENV.get_template(f"{stem}.html.j2").render(subject=subject, **values)
    return RenderedEmail(subject=subject, text=text.strip() + "\n", html=html)


def render_alert(a: AlertView) -> RenderedEmail:
    return _render("alert", alert_subject(a), a=a)


def render_reminder(r: ReminderView) -> RenderedEmail:
    return _render("reminder", reminder_subject(r), r=r)


# --- the outbox ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertJob:
    step_id: int
    notification_id: str
    step: str
    role: str
    to: str
    attempt: int
    message_id: str
    rendered: RenderedEmail
    in_reply_to: str | None = None  # the notification's own Message-ID, for the school's thread

    @property
    def row_id(self) -> int:
        return self.step_id


def render_step(
    session: Session,
    settings: Settings,
    links: AckLinks,
    row: EscalationStep,
    n: Notification,
    now: datetime,
) -> RenderedEmail:
    if row.step == Step.FOLLOW_UP.value:
        subject = f"Operation Encompass notification {n.id}: the officer's account"
        return _render("follow_up", subject, reference=n.id, sent_at=n.sent_at,
                       paragraphs=paragraphs(follow_up_text(n)),
                       first_response=first_response(settings, n.council))  # fmt: skip
    if row.step == Step.RECALL.value:
        subject = f"Operation Encompass notification {n.id} withdrawn: please delete it"
        return _render("retraction", subject, reference=n.id, sent_at=n.sent_at,
                       first_response=first_response(settings, n.council))  # fmt: skip
    if row.role == FIRST_RESPONSE:
        deputy_reminded = session.execute(
            select(EscalationStep.id).where(
                EscalationStep.notification_id == n.id,
                EscalationStep.step == Step.REMIND_DEPUTY.value,
            )
        ).first()
        bounced: tuple[str, ...] = ()
        resent_to = None
        if row.step in BOUNCE_ALERTS:
            bounced, resent_to = bounce_facts(session, n)
        return render_alert(
            AlertView(
                step=row.step,
                notification_id=n.id,
                incident_id=n.incident_id,
                urn=n.urn,
                status=n.status,
                deliver_by=n.deliver_by,
                sent_at=n.sent_at,
                queue_url=f"{links.base_url}/queue",
                deputy_reminded=deputy_reminded is not None,
                bounced_roles=bounced,
                resent_to=resent_to,
            )
        )
    return render_reminder(
        ReminderView(
            reference=n.id,
            deliver_by=n.deliver_by,
            sent_at=n.sent_at,
            ack_url=links.url(n.id, row.role, now),
            first_response=first_response(settings, n.council),
            to_deputy=row.step == Step.REMIND_DEPUTY.value,
            addressee=None if row.role in ("dsl", "deputy_dsl") else ADDRESSEES.get(row.role),
        )
    )


def bounce_facts(session: Session, n: Notification) -> tuple[tuple[str, ...], str | None]:
    """For a bounce alert: the roles whose addresses bounced for good, and the role the
    notification was sent to again after the last bounce, as its audit row says (None:
    it was not, for want of an address or because a reminder bounced)."""
    roles = session.execute(
        select(Bounce.role)
        .where(Bounce.notification_id == n.id, Bounce.kind == BounceKind.PERMANENT)
        .order_by(Bounce.id)
    ).scalars()
    last = session.execute(
        select(AuditEvent.details)
        .where(AuditEvent.notification_id == n.id, AuditEvent.action == AuditAction.BOUNCED)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).scalar()
    again = last.get("sent_again_to") if isinstance(last, dict) else None
    return tuple(dict.fromkeys(roles)), again if isinstance(again, str) else None


def _no_longer_needed(row: EscalationStep, n: Notification) -> bool:
    if n.status == NotificationStatus.RECALLED:  # only the retraction still goes
        return row.step != Step.RECALL.value
    if row.step == Step.FOLLOW_UP.value:
        return n.account_status != AccountStatus.FOLLOW_UP
    if row.step in CHASING:
        return n.acknowledged_at is not None
    if row.step == Step.REVIEW_DUE.value:
        return n.status not in {s.value for s in REVIEWABLE_STATUSES}
    return False  # a late alert goes even if the notification went out since


def outbox(settings: Settings) -> Outbox[EscalationStep]:
    """The escalation steps as an outbox: a ``pending`` row waits, and stays ``pending``
    while a worker holds it."""
    pending = EscalationStatus.PENDING
    return Outbox.of(EscalationStep, pending, pending, settings)


def claim_alerts(
    session: Session, settings: Settings, links: AckLinks, now: datetime, limit: int = 10
) -> list[AlertJob]:
    """Take a lease on pending steps' e-mails and render them."""
    box = outbox(settings)
    jobs: list[AlertJob] = []
    for row in box.claimable(session, now, order_by=EscalationStep.id, limit=limit):
        n = session.get(Notification, row.notification_id)
        assert n is not None  # a foreign key
        if _no_longer_needed(row, n):
            row.status = EscalationStatus.CANCELLED
            continue
        box.lease(row, now)
        row.message_id = message_id(f"{n.id}.{row.step}", settings)
        rendered = render_step(session, settings, links, row, n, now)
        threaded = row.step in (Step.FOLLOW_UP.value, Step.RECALL.value)
        jobs.append(
            AlertJob(row.id, n.id, row.step, row.role, row.recipient, row.attempts,
                     row.message_id, rendered, n.message_id if threaded else None)
        )  # fmt: skip
    return jobs


def mark_alert_sent(session: Session, job: AlertJob, now: datetime) -> None:
    row = session.get(EscalationStep, job.step_id)
    n = session.get(Notification, job.notification_id)
    assert row is not None and n is not None
    settle(row, EscalationStatus.SENT)
    row.sent_at = now
    if job.step == Step.RECALL.value:
        action = AuditAction.RETRACTION_SENT
    elif job.step == Step.FOLLOW_UP.value:
        action = AuditAction.FOLLOW_UP_SENT
        n.account_status = AccountStatus.SENT
    else:
        action = AuditAction.ESCALATED if job.role == FIRST_RESPONSE else AuditAction.REMINDED
    record(
        session,
        action,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        content_sha256=content_sha256(job.rendered),
        details={
            "step": job.step,
            "to": job.to,
            "role": job.role,
            "urn": n.urn,
            "deliver_by": n.deliver_by,
            "attempt": job.attempt,
            "message_id": job.message_id,
        },
    )


def mark_alert_failed(
    session: Session, settings: Settings, job: AlertJob, error: Exception, now: datetime
) -> None:
    row = session.get(EscalationStep, job.step_id)
    n = session.get(Notification, job.notification_id)
    assert row is not None and n is not None
    if outbox(settings).back_off(row, error, now) is not None:
        return
    settle(row, EscalationStatus.FAILED, str(error))
    record(
        session,
        AuditAction.FAILED,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"step": job.step, "to": job.to, "error": str(error), "attempts": row.attempts},
    )
