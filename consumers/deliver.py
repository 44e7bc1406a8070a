"""Deliver: send approved notifications to the school's DSL (deputy as fallback).

The database is the outbox (``consumers.outbox``). A worker claims due notifications
(``sending`` with a lease, renewed while it sends), renders them, sends them, and records
each outcome with its audit row. A crash after sending and before recording leaves the
lease to expire; the resend carries the same Message-ID, derived from the notification id,
so the school's mail system can recognise it.

A process has up to ``ENCOMPASS_DELIVERY_CONCURRENCY`` e-mails in flight, in two lanes:
each lane claims a batch, sends half of them at a time and records the outcomes as they
come, so while one lane waits for the database (SQLite's one write lock), the other sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from consumers.acknowledge import AckLinks
from consumers.outbox import Clock, Courier, DeliveryError, Outbox, settle
from consumers.periodic import Periodic
from consumers.render import RenderedEmail, as_message, content_sha256, render_email
from consumers.return_path import ReturnPaths
from consumers.routes import is_school_route
from consumers.routes import recipient as route_recipient
from foundations.clock import utcnow
from foundations.database import transaction
from foundations.mailer import Mailer, TransientDeliveryError
from foundations.models import (
    Bounce,
    BounceKind,
    Notification,
    NotificationStatus,
    SafeguardingContact,
)
from foundations.settings import Settings
from schemas.notification import SchoolNotification

ACTOR = "broker:deliver"
LANES = 2  # claim-send-record loops a process runs at once (module docstring)
log = structlog.get_logger(__name__)


def message_id(notification_id: str, settings: Settings) -> str:
    domain = settings.mail_from.rpartition("@")[2] or "encompass.local"
    return f"<{notification_id}@{domain}>"


Contacts = Sequence[tuple[str, str]]  # a school's (role, address), in directory order


def recipient(session: Session, urn: str, avoid: Collection[str] = ()) -> tuple[str, str] | None:
    """The school's DSL, else its deputy: (role, address); none whose address is in
    ``avoid`` (lowercase: the addresses this notification bounced from)."""
    return choose_recipient(contacts_of(session, [urn]).get(urn, ()), avoid)


def contacts_of(session: Session, urns: Collection[str]) -> dict[str, list[tuple[str, str]]]:
    """Each school's contacts, (role, address) in directory order, in one query."""
    found: dict[str, list[tuple[str, str]]] = {}
    if not urns:
        return found
    rows = session.execute(
        select(SafeguardingContact.urn, SafeguardingContact.role, SafeguardingContact.email)
        .where(SafeguardingContact.urn.in_(list(urns)))
        .order_by(SafeguardingContact.id)
    )
    for urn, role, email in rows:
        found.setdefault(urn, []).append((role, email))
    return found


def choose_recipient(contacts: Contacts, avoid: Collection[str] = ()) -> tuple[str, str] | None:
    """``recipient`` from a school's contacts as read."""
    for wanted in ("dsl", "deputy_dsl"):
        for role, email in contacts:
            if role == wanted and email.lower() not in avoid:
                return role, email
    return None


def bounced_addresses(session: Session, notification_id: str) -> set[str]:
    """The addresses (lowercase) that this notification's e-mails, or its reminders,
    bounced from for good (consumers/bounces.py): it is not sent to them again."""
    return bounced_by_notification(session, [notification_id]).get(notification_id, set())


def bounced_by_notification(session: Session, ids: Collection[str]) -> dict[str, set[str]]:
    """``bounced_addresses`` for several notifications in one query (a claimed batch)."""
    found: dict[str, set[str]] = {}
    if not ids:
        return found
    rows = session.execute(
        select(Bounce.notification_id, Bounce.recipient).where(
            Bounce.notification_id.in_(list(ids)), Bounce.kind == BounceKind.PERMANENT
        )
    )
    for notification_id, address in rows:
        found.setdefault(notification_id, set()).add(address.lower())
    return found


@dataclass(frozen=True)
class Job:
    notification_id: str
    incident_id: str
    attempt: int
    to: str
    role: str
    rendered: RenderedEmail
    # Built on the claim's worker thread (``DeliveryWorker``), not on the event loop.
    message: EmailMessage | None = field(default=None, compare=False)

    @property
    def row_id(self) -> str:
        return self.notification_id


def lane_in_flight(settings: Settings) -> int:
    """The e-mails one lane sends at once: its share of ENCOMPASS_DELIVERY_CONCURRENCY."""
    return max(1, settings.delivery_concurrency // LANES)


def claim_size(settings: Settings) -> int:
    """The notifications a lane claims at a time: two rounds of its e-mails in flight."""
    return max(5, 2 * lane_in_flight(settings))


def resent_after_a_crash_at_most(settings: Settings) -> int:
    """What a process killed outright can leave sent but not recorded, so sent again after
    its lease (each with its own Message-ID): every notification its lanes hold."""
    return LANES * claim_size(settings)


def outbox(settings: Settings) -> Outbox[Notification]:
    """The notifications table as an outbox: ``approved`` rows wait, ``sending`` are held."""
    return Outbox.of(
        Notification, NotificationStatus.APPROVED, NotificationStatus.SENDING, settings
    )


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
    box = outbox(settings)
    jobs: list[Job] = []
    due = box.claimable(session, now, order_by=Notification.deliver_by, limit=limit)
    bounces = bounced_by_notification(session, [n.id for n in due])  # one query, not one each
    schools = contacts_of(session, {n.urn for n in due if n.urn and is_school_route(n)})
    for n in due:
        school = is_school_route(n)
        if (school and n.urn is None) or n.content is None:
            _fail(session, n, "no school or content: it must be reviewed again")
            continue
        bounced = bounces.get(n.id, set())
        addressee: str | None = None
        if school:
            to = choose_recipient(schools.get(n.urn or "", ()), bounced)
        else:  # a neighbour's First Response, or the home council's officer
            other = route_recipient(session, settings, n)
            to = (other.role, other.address) if other else None
            addressee = other.addressee if other else None
            if to is not None and to[1].lower() in bounced:
                to = None
        if to is None:
            if not school:
                _fail(session, n, f"no address for its recipient ({n.route}, LA {n.route_council})")
                continue
            why = "no DSL or deputy e-mail in the directory"
            if bounced:
                why = "no DSL or deputy e-mail in the directory that has not bounced"
            _fail(session, n, f"school {n.urn} has {why}")
            continue
        box.lease(n, now)
        n.recipient = to[1]
        n.message_id = message_id(n.id, settings)
        content = SchoolNotification.model_validate(n.content)
        if links is not None:
            content = content.model_copy(update={"ack_url": links.url(n.id, to[0], now)})
        rendered = render_email(content, role=to[0], addressee=addressee)
        jobs.append(Job(n.id, n.incident_id, n.attempts, to[1], to[0], rendered))
    return jobs


def _fail(session: Session, n: Notification, why: str) -> None:
    settle(n, NotificationStatus.FAILED, why)
    record(
        session,
        AuditAction.FAILED,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"error": why, "attempts": n.attempts},
    )


def mark_sent(session: Session, job: Job, now: datetime | None = None) -> None:
    n = session.get(Notification, job.notification_id)
    assert n is not None
    digest = content_sha256(job.rendered)
    settle(n, NotificationStatus.SENT)
    n.sent_at = now or utcnow()
    n.content_sha256 = digest
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
            **(
                {"route": n.route, "route_council": n.route_council}
                if job.role not in ("dsl", "deputy_dsl")
                else {}
            ),
            "attempt": job.attempt,
            "message_id": n.message_id,
        },
    )


def mark_failed(
    session: Session,
    settings: Settings,
    job: Job,
    error: Exception,
    now: datetime | None = None,
) -> None:
    n = session.get(Notification, job.notification_id)
    assert n is not None
    delay = outbox(settings).back_off(n, error, now or utcnow())
    if delay is not None:
        record(
            session,
            AuditAction.RETRY,
            actor=ACTOR,
            incident_id=n.incident_id,
            notification_id=n.id,
            details={"error": str(error), "attempt": n.attempts, "retry_in_s": delay},
        )
        return
    transient = isinstance(error, TransientDeliveryError)
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
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.mailer = mailer
        self.links = links
        self.on_result = on_result or (lambda _result: None)
        self.clock = clock
        self.return_paths = ReturnPaths.from_settings(settings)
        self.claim_size = claim_size(settings)
        self.courier: Courier[Job] = Courier(
            sessions,
            mailer,
            outbox(settings),
            clock=clock,
            message=self._message,
            sent=mark_sent,
            failed=lambda s, job, error, now: mark_failed(s, settings, job, error, now),
            told=self._told,
            concurrency=lane_in_flight(settings),
        )
        self.lanes = [
            Periodic(
                self.run_once,
                settings.delivery_poll_s,
                failed="delivery_loop_error",
                again=lambda sent: sent > 0,  # some were due: there may be more
            )
            for _ in range(LANES)
        ]
        self.loop = self.lanes[0]
        for lane in self.lanes[1:]:  # one wake-up for both: either may take what came
            lane.wake = self.loop.wake
        self.wake = self.loop.wake  # set when there may be something to send

    async def run_once(self) -> int:
        """One lane's turn: claim a batch, send it, record it (the lanes run this by turns
        of their own; a claim never takes what another lane or process holds)."""
        jobs = await asyncio.to_thread(self._claim)
        await self.courier.send(jobs, stopping=self.loop.stopping.is_set)
        return len(jobs)

    def _claim(self) -> list[Job]:
        """On a worker thread: claim due notifications (one transaction), then build their
        messages after it commits, so that neither the event loop nor SQLite's write lock
        waits for the build. A build that fails hands the claims back at once."""
        with transaction(self.sessions) as session:
            jobs = claim_due(session, self.settings, self.clock(), self.claim_size, self.links)
        try:
            return [replace(job, message=self._build(job)) for job in jobs]
        except BaseException:
            with transaction(self.sessions) as session:
                outbox(self.settings).release(session, {j.row_id: j.attempt for j in jobs})
            raise

    def _message(self, job: Job) -> EmailMessage:
        return job.message if job.message is not None else self._build(job)

    def _build(self, job: Job) -> EmailMessage:
        paths = self.return_paths
        return as_message(
            job.rendered,
            sender=self.settings.mail_from,
            to=job.to,
            message_id=message_id(job.notification_id, self.settings),
            return_path=paths.for_notification(job.notification_id, job.to) if paths else None,
        )

    def _told(self, job: Job, error: DeliveryError | None) -> None:
        bound = log.bind(notification_id=job.notification_id, attempt=job.attempt)
        if error is None:
            self.on_result("sent")
            bound.info("delivered", role=job.role)
            return
        transient = isinstance(error, TransientDeliveryError)
        bound.warning("delivery_failed", error=str(error), transient=transient)
        self.on_result("temporary_failure" if transient else "permanent_failure")

    async def run(self) -> None:
        await asyncio.gather(*(lane.run() for lane in self.lanes))

    def request_stop(self) -> None:
        """Finish the e-mails being sent and record them, hand back the rest of the
        batches, then return.

        Cancelling mid-send instead could lose the record of an e-mail the school's server
        has already accepted, and another instance would send it again."""
        for lane in self.lanes:
            lane.request_stop()
