"""Escalate: nothing may wait unnoticed past the start of the school day.

The rules are pure functions of a notification's facts and a clock (``due_now``):

- still waiting for a person ``escalate_before_deadline_min`` before ``deliver_by``: an
  alert to First Response's duty inbox (``review_due``);
- past ``deliver_by`` and not sent: marked late, audited, and First Response alerted
  (``late``); one with the delivery worker gets ``late_delivery_grace_min`` to go first;
- sent, not acknowledged ``remind_after_deadline_min`` after ``deliver_by`` (or after
  sending, when that was later): a reminder to the DSL (``remind_dsl``), then to the
  deputy (``remind_deputy``, when the school has another one), then an alert to First
  Response (``unacknowledged``), each ``escalation_step_min`` after the one before;
  only for notifications sent in the last ``escalation_horizon_days``.

Each step is raised once: its row in ``escalation_steps`` (unique per notification and
step) is written with any audit row in one transaction, and is then the outbox of its
e-mail (``consumers.alerts``, through the same outbox rules as ``consumers.deliver``).
A restart neither repeats nor loses a step. The I/O loop is ``EscalationScheduler``; its
clock is injected, so tests drive it through days without sleeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import structlog
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Exists

from audit.ledger import AuditAction, record
from consumers.acknowledge import AckLinks
from consumers.alerts import (
    FIRST_RESPONSE,
    AlertJob,
    Step,
    claim_alerts,
    duty_inbox,
    mark_alert_failed,
    mark_alert_sent,
)
from consumers.alerts import outbox as alerts_outbox
from consumers.deliver import bounced_addresses, recipient
from consumers.outbox import Clock, Courier, DeliveryError
from consumers.periodic import Periodic
from consumers.render import as_message
from consumers.return_path import ReturnPaths
from foundations.clock import utcnow
from foundations.database import run_in_session
from foundations.mailer import Mailer
from foundations.models import (
    REVIEWABLE_STATUSES,
    EscalationStatus,
    EscalationStep,
    Notification,
    NotificationStatus,
    SafeguardingContact,
)
from foundations.settings import Settings

ACTOR = "broker:escalate"
log = structlog.get_logger(__name__)


WAITING = frozenset(s.value for s in REVIEWABLE_STATUSES)  # a person must act
IN_DELIVERY = frozenset({NotificationStatus.APPROVED, NotificationStatus.SENDING})


@dataclass(frozen=True)
class Timings:
    before_deadline: timedelta
    remind_after: timedelta
    step_gap: timedelta
    delivery_grace: timedelta
    horizon: timedelta = timedelta(days=7)

    @classmethod
    def from_settings(cls, s: Settings) -> Timings:
        return cls(
            timedelta(minutes=s.escalate_before_deadline_min),
            timedelta(minutes=s.remind_after_deadline_min),
            timedelta(minutes=s.escalation_step_min),
            timedelta(minutes=s.late_delivery_grace_min),
            timedelta(days=s.escalation_horizon_days),
        )


@dataclass(frozen=True)
class Facts:
    """What the rules know of one notification."""

    status: str
    deliver_by: datetime
    released_at: datetime | None = None  # approved: by a person or the policy
    sent_at: datetime | None = None
    acknowledged_at: datetime | None = None
    has_deputy: bool = False  # a deputy other than the person the reminder goes to
    raised: Mapping[str, datetime] | None = None  # steps already raised -> when


@dataclass(frozen=True)
class Due:
    step: Step
    due_at: datetime


def due_now(f: Facts, now: datetime, t: Timings) -> list[Due]:
    """The steps to raise at ``now``: at most one, and never one already raised."""
    raised = f.raised or {}
    if f.status in WAITING or f.status in IN_DELIVERY:
        if Step.LATE in raised:
            return []
        if f.status in IN_DELIVERY:
            late_at = max(f.deliver_by, (f.released_at or f.deliver_by) + t.delivery_grace)
            return [Due(Step.LATE, late_at)] if now >= late_at else []
        if now >= f.deliver_by:
            return [Due(Step.LATE, f.deliver_by)]
        if f.status == NotificationStatus.BOUNCED:  # First Response was alerted at the bounce
            return []
        warn_at = f.deliver_by - t.before_deadline
        if Step.REVIEW_DUE not in raised and now >= warn_at:
            return [Due(Step.REVIEW_DUE, warn_at)]
        return []
    if f.status != NotificationStatus.SENT or f.acknowledged_at or f.sent_at is None:
        return []
    if f.sent_at < now - t.horizon:  # long past: not chased (say, sent before an upgrade)
        return []
    chain = [Step.REMIND_DSL, *([Step.REMIND_DEPUTY] if f.has_deputy else []), Step.UNACKNOWLEDGED]
    due_at = max(f.deliver_by, f.sent_at) + t.remind_after
    for step in chain:
        if step not in raised:
            return [Due(step, due_at)] if now >= due_at else []
        due_at = raised[step] + t.step_gap
    return []


# --- raising steps (one transaction) -------------------------------------------------------


def _contacts(session: Session, n: Notification) -> tuple[tuple[str, str] | None, str | None]:
    """The school's (role, address) for reminders (its DSL, else its deputy) and another
    deputy's address, if it has one; none that this notification bounced from."""
    if n.route not in (None, "school"):
        # Not a school (consumers/routes.py): the reminder goes to the inbox the e-mail went
        # to (a neighbour's First Response, an officer); no deputy; then the alert.
        return (n.route, n.recipient) if n.recipient else None, None
    if n.urn is None:
        return None, None
    bounced = bounced_addresses(session, n.id)
    main = recipient(session, n.urn, bounced)
    deputies = session.execute(
        select(SafeguardingContact.email)
        .where(SafeguardingContact.urn == n.urn, SafeguardingContact.role == "deputy_dsl")
        .order_by(SafeguardingContact.id)
    ).scalars()
    taken = {main[1].lower()} if main else set()
    other = next((e for e in deputies if e.lower() not in taken | bounced), None)
    return main, other


def _addressee(
    step: Step,
    settings: Settings,
    main: tuple[str, str] | None,
    deputy: str | None,
    council: str | None = None,
) -> tuple[str, str | None]:
    if step is Step.REMIND_DSL:
        return (main[0], main[1]) if main else ("dsl", None)
    if step is Step.REMIND_DEPUTY:
        return "deputy_dsl", deputy
    return FIRST_RESPONSE, duty_inbox(settings, council)  # the owning council's


def raise_due(session: Session, settings: Settings, now: datetime, limit: int = 500) -> int:
    """Raise every step due at ``now``; returns how many were raised."""
    t = Timings.from_settings(settings)

    def has(step: Step) -> Exists:
        return exists().where(
            EscalationStep.notification_id == Notification.id, EscalationStep.step == step.value
        )

    candidates = list(
        session.execute(
            select(Notification)
            .where(
                or_(
                    and_(
                        Notification.status.in_(sorted(WAITING | IN_DELIVERY)),
                        Notification.deliver_by <= now + t.before_deadline,
                        ~has(Step.LATE),
                    ),
                    and_(
                        Notification.status == NotificationStatus.SENT,
                        Notification.acknowledged_at.is_(None),
                        Notification.sent_at <= now - t.remind_after,
                        Notification.sent_at >= now - t.horizon,
                        Notification.deliver_by <= now - t.remind_after,
                        ~has(Step.UNACKNOWLEDGED),
                    ),
                )
            )
            .order_by(Notification.deliver_by)
            .limit(limit)
        ).scalars()
    )
    raised: dict[str, dict[str, datetime]] = {}
    for nid, step, at in session.execute(
        select(EscalationStep.notification_id, EscalationStep.step, EscalationStep.raised_at)
        .where(EscalationStep.notification_id.in_([n.id for n in candidates]))
    ):  # fmt: skip
        raised.setdefault(nid, {})[step] = at
    count = 0
    for n in candidates:
        sent = n.status == NotificationStatus.SENT
        main, deputy = _contacts(session, n) if sent else (None, None)
        facts = Facts(
            n.status,
            n.deliver_by,
            n.decided_at or n.created_at,
            n.sent_at,
            n.acknowledged_at,
            deputy is not None,
            raised.get(n.id, {}),
        )
        for due in due_now(facts, now, t):
            role, to = _addressee(due.step, settings, main, deputy, n.council)
            try:
                with session.begin_nested():
                    _raise(session, n, due, role, to, now)
            except IntegrityError:  # another scheduler raised it first: once is enough
                log.info("escalation_already_raised", notification_id=n.id, step=due.step)
                continue
            count += 1
            log.info("escalation_raised", notification_id=n.id, step=due.step.value, role=role)
    return count


def _raise(
    session: Session, n: Notification, due: Due, role: str, to: str | None, now: datetime
) -> None:
    row = EscalationStep(
        notification_id=n.id,
        step=due.step.value,
        due_at=due.due_at,
        raised_at=now,
        role=role,
        recipient=to or "",
        status=EscalationStatus.PENDING if to else EscalationStatus.FAILED,
        attempts=0,
        last_error="" if to else "no DSL or deputy e-mail in the directory",
    )
    session.add(row)
    session.flush()
    ids = {"incident_id": n.incident_id, "notification_id": n.id}
    if due.step is Step.LATE:
        n.late_at = now
        record(
            session,
            AuditAction.LATE,
            actor=ACTOR,
            **ids,
            details={"deliver_by": n.deliver_by, "status": n.status, "urn": n.urn},
        )
    if not to:
        record(
            session,
            AuditAction.FAILED,
            actor=ACTOR,
            **ids,
            details={"step": row.step, "error": row.last_error, "urn": n.urn},
        )


class EscalationScheduler:
    """Raises due steps and sends their e-mails; a background task of the broker process."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        mailer: Mailer,
        links: AckLinks,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.mailer = mailer
        self.links = links
        self.clock = clock
        self.return_paths = ReturnPaths.from_settings(settings)
        self.courier: Courier[AlertJob] = Courier(
            sessions,
            mailer,
            alerts_outbox(settings),
            clock=clock,
            message=self._message,
            sent=mark_alert_sent,
            failed=lambda s, job, error, now: mark_alert_failed(s, settings, job, error, now),
            told=_told,
        )
        self.loop = Periodic(
            self.run_once, settings.escalation_poll_s, failed="escalation_loop_error"
        )
        self.wake = self.loop.wake  # set to tick now

    async def run_once(self) -> int:
        """One tick at ``clock()``: raise what is due, then send what is pending."""
        await run_in_session(self.sessions, raise_due, self.settings, self.clock())
        jobs = await run_in_session(
            self.sessions, claim_alerts, self.settings, self.links, self.clock()
        )
        await self.courier.send(jobs)
        return len(jobs)

    def _message(self, job: AlertJob) -> EmailMessage:
        return as_message(
            job.rendered,
            sender=self.settings.mail_from,
            to=job.to,
            message_id=job.message_id,
            in_reply_to=job.in_reply_to,
            return_path=self.return_paths.for_step(job.step_id, job.to)
            if self.return_paths
            else None,
        )

    async def run(self) -> None:
        await self.loop.run()


def _told(job: AlertJob, error: DeliveryError | None) -> None:
    bound = log.bind(notification_id=job.notification_id, step=job.step, attempt=job.attempt)
    if error is None:
        bound.info("alert_sent", role=job.role)
    else:
        bound.warning("alert_failed", error=str(error))
