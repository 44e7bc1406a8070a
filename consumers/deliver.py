"""Deliver: send approved notifications to the school's DSL (deputy as fallback).

The database is the outbox. A worker claims a due notification (``sending`` with a lease),
renders it, sends it, and records the outcome with its audit row. A crash after sending and
before recording leaves the lease to expire; the resend carries the same Message-ID, derived
from the notification id, so the school's mail system can recognise it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from consumers.acknowledge import AckLinks
from consumers.render import RenderedEmail, as_message, content_sha256, render_email
from foundations.clock import utcnow
from foundations.database import run_in_session
from foundations.mailer import Mailer, PermanentDeliveryError, TransientDeliveryError
from foundations.models import Notification, NotificationStatus, SafeguardingContact
from foundations.settings import Settings
from schemas.notification import SchoolNotification

ACTOR = "broker:deliver"
log = structlog.get_logger(__name__)


def message_id(notification_id: str, settings: Settings) -> str:
    domain = settings.mail_from.rpartition("@")[2] or "encompass.local"
    return f"<{notification_id}@{domain}>"


def recipient(session: Session, urn: str) -> tuple[str, str] | None:
    """The school's DSL, else its deputy: (role, address)."""
    contacts = session.execute(
        select(SafeguardingContact.role, SafeguardingContact.email)
        .where(SafeguardingContact.urn == urn)
        .order_by(SafeguardingContact.id)
    ).all()
    for wanted in ("dsl", "deputy_dsl"):
        for role, email in contacts:
            if role == wanted:
                return role, email
    return None


@dataclass(frozen=True)
class Job:
    notification_id: str
    incident_id: str
    attempt: int
    to: str
    role: str
    rendered: RenderedEmail


def claim_due(
    session: Session,
    settings: Settings,
    now: datetime,
    limit: int = 5,
    links: AckLinks | None = None,
) -> list[Job]:
    """Take a lease on due notifications and prepare what will be sent.

    The acknowledgement link is signed here, at sending, for the role it goes to, so that
    its expiry counts from the e-mail and the content hash covers the link as sent."""
    rows = session.execute(
        select(Notification)
        .where(
            or_(
                and_(
                    Notification.status == NotificationStatus.APPROVED.value,
                    or_(
                        Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now
                    ),
                ),
                and_(
                    Notification.status == NotificationStatus.SENDING.value,
                    Notification.claimed_until < now,
                ),
            )
        )
        .order_by(Notification.deliver_by)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars()
    jobs: list[Job] = []
    for n in rows:
        if n.urn is None or n.content is None:
            _fail(session, n, "no school or content: it must be reviewed again")
            continue
        to = recipient(session, n.urn)
        if to is None:
            _fail(session, n, f"school {n.urn} has no DSL or deputy e-mail in the directory")
            continue
        n.status = NotificationStatus.SENDING.value
        n.claimed_until = now + timedelta(seconds=settings.delivery_lease_s)
        n.attempts += 1
        n.recipient = to[1]
        n.message_id = message_id(n.id, settings)
        content = SchoolNotification.model_validate(n.content)
        if links is not None:
            content = content.model_copy(update={"ack_url": links.url(n.id, to[0], now)})
        rendered = render_email(content)
        jobs.append(Job(n.id, n.incident_id, n.attempts, to[1], to[0], rendered))
    return jobs


def _fail(session: Session, n: Notification, why: str) -> None:
    n.status = NotificationStatus.FAILED.value
    n.last_error = why
    n.claimed_until = None
    record(
        session,
        AuditAction.FAILED,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"error": why, "attempts": n.attempts},
    )


def release(session: Session, notification_ids: list[str]) -> None:
    """Hand back claims not yet sent (a clean shutdown), so no lease has to expire."""
    for n in session.execute(
        select(Notification).where(
            Notification.id.in_(notification_ids),
            Notification.status == NotificationStatus.SENDING.value,
        )
    ).scalars():
        n.status = NotificationStatus.APPROVED.value
        n.claimed_until = None


def mark_sent(session: Session, job: Job) -> None:
    n = session.get(Notification, job.notification_id)
    assert n is not None
    digest = content_sha256(job.rendered)
    n.status = NotificationStatus.SENT.value
    n.sent_at = utcnow()
    n.claimed_until = None
    n.content_sha256 = digest
    n.last_error = ""
    record(
        session,
        AuditAction.SENT,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        content_sha256=digest,
        details={
            "to": job.to,
            "role": job.role,
            "urn": n.urn,
            "attempt": job.attempt,
            "message_id": n.message_id,
        },
    )


def mark_failed(session: Session, settings: Settings, job: Job, error: Exception) -> None:
    n = session.get(Notification, job.notification_id)
    assert n is not None
    transient = isinstance(error, TransientDeliveryError)
    if transient and n.attempts < settings.delivery_max_attempts:
        delay = settings.delivery_backoff_s * 2 ** (n.attempts - 1)
        n.status = NotificationStatus.APPROVED.value
        n.next_attempt_at = utcnow() + timedelta(seconds=delay)
        n.claimed_until = None
        n.last_error = str(error)
        record(
            session,
            AuditAction.RETRY,
            actor=ACTOR,
            incident_id=n.incident_id,
            notification_id=n.id,
            details={"error": str(error), "attempt": n.attempts, "retry_in_s": delay},
        )
        return
    why = str(error) if not transient else f"gave up after {n.attempts} attempts: {error}"
    _fail(session, n, why)


class DeliveryWorker:
    """Polls the outbox and sends; run as a background task of the broker process."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        mailer: Mailer,
        links: AckLinks | None = None,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.mailer = mailer
        self.links = links
        self.on_result = on_result or (lambda _result: None)
        self.wake = asyncio.Event()
        self._held: list[str] = []
        self.stopping = asyncio.Event()

    async def run_once(self) -> int:
        jobs = await run_in_session(
            self.sessions, claim_due, self.settings, utcnow(), 5, self.links
        )
        self._held = [job.notification_id for job in jobs]
        try:
            for job in jobs:
                if self.stopping.is_set():
                    break  # shutting down: what is not yet sent goes back to the queue
                await self._send(job)
                self._held.remove(job.notification_id)
        finally:
            if self._held:  # cancelled mid-batch: the rest go back to the queue
                held, self._held = self._held, []
                await asyncio.shield(run_in_session(self.sessions, release, held))
        return len(jobs)

    async def _send(self, job: Job) -> None:
        message = as_message(
            job.rendered,
            sender=self.settings.mail_from,
            to=job.to,
            message_id=message_id(job.notification_id, self.settings),
        )
        bound = log.bind(notification_id=job.notification_id, attempt=job.attempt)
        try:
            await self.mailer.send(message)
        except (TransientDeliveryError, PermanentDeliveryError) as exc:
            bound.warning(
                "delivery_failed", error=str(exc), transient=isinstance(exc, TransientDeliveryError)
            )
            await run_in_session(self.sessions, mark_failed, self.settings, job, exc)
            self.on_result(
                "temporary_failure"
                if isinstance(exc, TransientDeliveryError)
                else "permanent_failure"
            )
            return
        await run_in_session(self.sessions, mark_sent, job)
        self.on_result("sent")
        bound.info("delivered", role=job.role)

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                sent = await self.run_once()
            except Exception:  # a database outage must not end the worker
                log.exception("delivery_loop_error")
                sent = 0
            if not sent and not self.stopping.is_set():
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.delivery_poll_s)

    def request_stop(self) -> None:
        """Finish the e-mail being sent, hand back the rest of the batch, then return.

        Cancelling mid-send instead could lose the record of an e-mail the school's server
        has already accepted, and another instance would send it again."""
        self.stopping.set()
        self.wake.set()
