"""Bounces: a delivery status notification (consumers/dsn.py) that comes back to one of our
return paths (consumers/return_path.py) says what became of the e-mail the path names.

- **Permanent** (the receiving system gave up): recorded (``bounces``, audited ``bounced``)
  and the address is not written to again for this notification. A notification's own
  e-mail is sent at once to the school's next address that has not bounced (the deputy DSL
  when the DSL's bounced, the DSL when the deputy's did), as ``approved`` again for the
  delivery worker; with no address left it is ``bounced``, waiting for a person. An
  escalation step's e-mail (a reminder, a retraction, an alert) is marked ``bounced``.
  First Response is alerted (step ``bounced``; ``undeliverable`` when, after that, no
  address is left), unless what bounced was an alert to First Response itself.
- **Delayed** (still trying): recorded and audited (``delivery_delayed``); nothing changes.
- A report that is not a DSN, or reports a delivery, is ignored; one whose return path is
  not ours, or whose signature does not verify for the address the e-mail went to, is a
  forgery and changes nothing; the same report twice is taken once.

The listener (broker/bounce_listener.py) and ``encompass mail bounces`` (broker/bounce_imap.py)
both call ``take``, in one transaction per report.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from consumers import dsn
from consumers.alerts import FIRST_RESPONSE, Step, duty_inbox
from consumers.deliver import bounced_addresses, recipient
from consumers.return_path import Claim, ReturnPaths
from consumers.wording import role_words
from foundations.models import (
    Bounce,
    BounceKind,
    EscalationStatus,
    EscalationStep,
    Notification,
    NotificationStatus,
    SafeguardingContact,
)
from foundations.settings import Settings

ACTOR = "broker:bounces"
log = structlog.get_logger(__name__)


class Outcome(StrEnum):
    PERMANENT = "permanent"  # recorded: the e-mail bounced for good
    DELAYED = "delayed"  # recorded: still being tried
    DUPLICATE = "duplicate"  # this report, or this address's bounce, was taken before
    IGNORED = "ignored"  # not a DSN, or it reports a delivery
    FORGED = "forged"  # no return path of ours, or a signature that does not verify
    LATER = "later"  # the e-mail's sending is not recorded yet: give the report back


@dataclass(frozen=True)
class Taken:
    outcome: Outcome
    notification_id: str | None = None
    sent_again: bool = False  # a notification waits for the delivery worker again
    alerted: bool = False  # an alert to First Response waits for the escalation worker


@dataclass(frozen=True)
class SentEmail:
    """The e-mail a verified return path names."""

    notification: Notification
    step: EscalationStep | None  # None: the notification's own e-mail
    role: str
    address: str


def resolve(session: Session, paths: ReturnPaths, claim: Claim) -> SentEmail | None:
    """The e-mail ``claim`` names, if its signature verifies for the address it went to."""
    if claim.kind == "s":
        step = session.get(EscalationStep, int(claim.ident))
        if step is None or not step.recipient or not paths.verify(claim, step.recipient):
            return None
        n = session.get(Notification, step.notification_id)
        return SentEmail(n, step, step.role, step.recipient) if n is not None else None
    n = session.get(Notification, claim.ident)
    if n is None:
        return None
    contacts = session.execute(
        select(SafeguardingContact.email, SafeguardingContact.role)
        .where(SafeguardingContact.urn == (n.urn or ""))
        .order_by(SafeguardingContact.id)
    ).all()
    roles = {email.lower(): role for email, role in reversed(contacts)}
    for address in dict.fromkeys([n.recipient or "", *(email for email, _ in contacts)]):
        if address and paths.verify(claim, address):
            other = "school" if n.route in (None, "school") else n.route  # consumers/routes.py
            return SentEmail(n, None, roles.get(address.lower(), other), address)
    return None


def is_ours(session: Session, paths: ReturnPaths, address: str) -> bool:
    """Whether ``address`` is a return path of an e-mail we sent (the listener's RCPT)."""
    claim = paths.claim(address)
    return claim is not None and resolve(session, paths, claim) is not None


def take(
    session: Session,
    settings: Settings,
    paths: ReturnPaths,
    raw: bytes,
    *,
    envelope_to: Sequence[str] = (),
    via: str,
    now: datetime,
) -> Taken:
    """Read one report and act on it, in the caller's transaction."""
    report = dsn.parse(raw)
    if not isinstance(report, dsn.DeliveryReport):
        return Taken(Outcome.IGNORED)
    claim = paths.first_claim([*envelope_to, *report.addressed_to])
    sent = resolve(session, paths, claim) if claim is not None else None
    if sent is None:
        log.warning("bounce_refused_not_ours", via=via)
        return Taken(Outcome.FORGED)
    n = sent.notification
    digest = hashlib.sha256(raw).hexdigest()
    if session.scalar(select(Bounce.id).where(Bounce.report_sha256 == digest)) is not None:
        return Taken(Outcome.DUPLICATE, n.id)
    if report.kind is BounceKind.DELAYED:
        _add(session, sent, report, via, digest, now)
        _audit(session, AuditAction.DELIVERY_DELAYED, sent, report, via)
        log.info("delivery_delayed", notification_id=n.id, step=_step_name(sent))
        return Taken(Outcome.DELAYED, n.id)
    if _in_flight(sent):
        return Taken(Outcome.LATER, n.id)
    if _bounced_before(session, sent):
        return Taken(Outcome.DUPLICATE, n.id)
    _add(session, sent, report, via, digest, now)
    again = _act(session, sent, report)
    _audit(session, AuditAction.BOUNCED, sent, report, via, sent_again_to=again)
    alerted = sent.role != FIRST_RESPONSE and _alert(session, settings, n, now)
    log.info("bounced", notification_id=n.id, step=_step_name(sent), sent_again=again is not None)
    return Taken(Outcome.PERMANENT, n.id, again is not None, alerted)


def _step_name(sent: SentEmail) -> str | None:
    return sent.step.step if sent.step is not None else None


def _in_flight(sent: SentEmail) -> bool:
    """The bounced send is not recorded yet (a report faster than our own transaction)."""
    if sent.step is not None:
        return sent.step.status == EscalationStatus.PENDING and sent.step.attempts > 0
    n = sent.notification
    return n.status == NotificationStatus.SENDING and (n.recipient or "").lower() == (
        sent.address.lower()
    )


def _bounced_before(session: Session, sent: SentEmail) -> bool:
    step_id = sent.step.id if sent.step is not None else None
    return (
        session.scalar(
            select(Bounce.id).where(
                Bounce.notification_id == sent.notification.id,
                Bounce.step_id.is_(None) if step_id is None else Bounce.step_id == step_id,
                func.lower(Bounce.recipient) == sent.address.lower(),
                Bounce.kind == BounceKind.PERMANENT,
            )
        )
        is not None
    )


def _add(
    session: Session,
    sent: SentEmail,
    report: dsn.DeliveryReport,
    via: str,
    digest: str,
    now: datetime,
) -> None:
    session.add(
        Bounce(
            notification_id=sent.notification.id,
            step_id=sent.step.id if sent.step is not None else None,
            step=_step_name(sent) or "",
            role=sent.role,
            recipient=sent.address,
            kind=report.kind,
            status=report.status,
            diagnostic=report.diagnostic,
            via=via,
            report_sha256=digest,
            received_at=now,
        )
    )
    session.flush()


def _act(session: Session, sent: SentEmail, report: dsn.DeliveryReport) -> str | None:
    """What a permanent bounce changes; returns the role the notification goes to again."""
    n, why = sent.notification, f"{report.status or 'no status'} {report.diagnostic}".strip()
    if sent.step is not None:
        if sent.step.status == EscalationStatus.SENT:
            sent.step.status = EscalationStatus.BOUNCED
            sent.step.last_error = f"bounced: {why}"
        return None
    latest = (n.recipient or "").lower() == sent.address.lower()
    if n.status != NotificationStatus.SENT or n.acknowledged_at is not None or not latest:
        return None  # recalled, acknowledged, or already going elsewhere: recorded only
    bounced = f"the address of {role_words(sent.role)} bounced ({why})"
    # A neighbour's First Response or an officer (consumers/routes.py) has one address.
    school = n.route in (None, "school")
    nxt = recipient(session, n.urn, bounced_addresses(session, n.id)) if n.urn and school else None
    if nxt is None:
        n.status = NotificationStatus.BOUNCED
        who = "the school has" if school else "its recipient has"
        n.reason = f"{bounced}; {who} no other address that has not bounced"
        return None
    n.status, n.reason = NotificationStatus.APPROVED, f"{bounced}: sent to {role_words(nxt[0])}"
    n.recipient, n.attempts, n.last_error = nxt[1], 0, ""
    n.next_attempt_at = n.claimed_until = None
    return nxt[0]


def _audit(
    session: Session,
    action: AuditAction,
    sent: SentEmail,
    report: dsn.DeliveryReport,
    via: str,
    **more: str | None,
) -> None:
    n = sent.notification
    details = {
        "to": sent.address,
        "role": sent.role,
        "step": _step_name(sent),
        "urn": n.urn,
        "status": report.status,
        "action": report.action,
        "diagnostic": report.diagnostic,
        "via": via,
        "notification_status": n.status,
    }
    record(
        session,
        action,
        actor=ACTOR,
        incident_id=n.incident_id,
        notification_id=n.id,
        details=details | more,
    )


def _alert(session: Session, settings: Settings, n: Notification, now: datetime) -> bool:
    """Raise the bounce alert to First Response once per notification, and once more when no
    address is left after it; returns whether one was raised."""
    raised = set(
        session.execute(
            select(EscalationStep.step).where(EscalationStep.notification_id == n.id)
        ).scalars()
    )
    if Step.BOUNCED.value not in raised:
        step = Step.BOUNCED
    elif n.status == NotificationStatus.BOUNCED and Step.UNDELIVERABLE.value not in raised:
        step = Step.UNDELIVERABLE
    else:
        return False
    duty = duty_inbox(settings, n.council)  # the owning council's (docs/councils.md)
    try:
        with session.begin_nested():
            session.add(
                EscalationStep(
                    notification_id=n.id,
                    step=step.value,
                    due_at=now,
                    raised_at=now,
                    role=FIRST_RESPONSE,
                    recipient=duty,
                    status=EscalationStatus.PENDING,
                    attempts=0,
                    last_error="",
                )
            )
    except IntegrityError:  # raised at the same moment by another process: once is enough
        return False
    return True
