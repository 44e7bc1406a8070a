"""Acknowledgement: signed, expiring links for one notification, and recording that the
school has received it.

A link is ``{ENCOMPASS_PUBLIC_URL}/ack/{token}``. The token carries the notification id,
the role of the person it was sent to and when it expires, signed (itsdangerous,
HMAC-SHA256) with the key for this purpose derived from the broker's secret key
(``foundations.purpose_keys``). It is made when the e-mail is sent (``consumers.deliver``
and the reminders in ``consumers.escalate``), so the expiry counts from sending, not from
the incident, and what the audit trail hashes is the e-mail with its link.

Opening the link changes nothing (mail security scanners open every link); only the
button on that page, a POST, records the acknowledgement. Acknowledging twice is harmless.
A tampered link and an expired one are told apart, and neither changes anything.

A link is honoured only for a role that receives links (the DSL, the deputy) and only if
this notification went to that role: the e-mail or a reminder was sent to it (its ``sent``
or ``reminded`` audit row names the role), or is on its way (the address it is being sent
to is that role's, or a reminder to that role has been rendered). A token signed for any
other role or notification is refused as if the notification did not exist.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import structlog
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from foundations.models import (
    AuditEvent,
    EscalationStep,
    Notification,
    NotificationStatus,
    SafeguardingContact,
)
from foundations.purpose_keys import Purpose, purpose_key
from foundations.settings import Settings

SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_CHARS = 32
# A school's DSL or deputy; or, for a notification not routed to a school
# (consumers/routes.py), a neighbouring council's First Response or the home council's officer.
ROLES = frozenset({"dsl", "deputy_dsl", "neighbour_first_response", "officer_ehe", "officer_cme"})
# A link works once the e-mail is on its way: acknowledging before the send is recorded
# (a fast reader) is fine; anything not sent (rejected, superseded) is not acknowledged.
ACKNOWLEDGEABLE = frozenset({NotificationStatus.SENDING, NotificationStatus.SENT})
# The audit rows of e-mails that carry a link, each naming the role it went to.
LINK_CARRYING = (AuditAction.SENT.value, AuditAction.REMINDED.value)
log = structlog.get_logger(__name__)


class LinkProblem(StrEnum):
    TAMPERED = "tampered"  # not made by us, or changed since: also a malformed token
    EXPIRED = "expired"


class BadLink(ValueError):
    def __init__(self, problem: LinkProblem) -> None:
        super().__init__(f"acknowledgement link {problem.value}")
        self.problem = problem


@dataclass(frozen=True)
class AckClaim:
    """What a valid token says: this notification, sent to this role, until then."""

    notification_id: str
    role: str
    expires_at: datetime


@dataclass(frozen=True)
class AckLinks:
    """Makes and reads acknowledgement tokens; pure apart from the clock passed in.

    A token is ``itsdangerous.URLSafeSerializer`` over ``{"n": id, "r": role, "e": expiry}``
    (unix seconds), HMAC-SHA256 with this purpose's key (``foundations.purpose_keys``). The
    expiry is inside, fixed when the e-mail is sent; the clock passed to :meth:`read`
    decides it, not the reader's setting.
    """

    secret: bytes = field(repr=False)
    base_url: str
    ttl: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> AckLinks:
        return cls(
            load_secret_key(settings),
            settings.public_url.rstrip("/"),
            timedelta(days=settings.ack_link_ttl_days),
        )

    @cached_property
    def _serializer(self) -> URLSafeSerializer:
        return URLSafeSerializer(
            purpose_key(self.secret, Purpose.ACKNOWLEDGEMENT_LINK),
            # The key is this purpose's already: signed with it as it is.
            signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256},
        )

    def _signed(self, claim: dict[str, Any]) -> str:
        return self._serializer.dumps(claim)

    def token(self, notification_id: str, role: str, now: datetime) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown recipient role {role!r}")
        expires = int((now + self.ttl).timestamp())
        return self._signed({"n": notification_id, "r": role, "e": expires})

    def url(self, notification_id: str, role: str, now: datetime) -> str:
        return f"{self.base_url}/ack/{self.token(notification_id, role, now)}"

    def read(self, token: str, now: datetime) -> AckClaim:
        """The claim in ``token``, or :class:`BadLink` saying why not. The signature is
        checked first, so a changed expiry reads as tampered, never as valid."""
        if not token.isascii():  # neither form has anything else
            raise BadLink(LinkProblem.TAMPERED)
        try:
            data = self._serializer.loads(token)
        except BadData:
            data = _legacy_claim(self.secret, token)
        else:
            # One token has one spelling: the same claim signed again gives it back.
            if not isinstance(data, dict) or self._signed(data) != token:
                raise BadLink(LinkProblem.TAMPERED)
        try:
            claim = AckClaim(
                str(data["n"]), str(data["r"]), datetime.fromtimestamp(int(data["e"]), UTC)
            )
        except (ValueError, KeyError, TypeError, OverflowError):  # signed by us: never seen
            raise BadLink(LinkProblem.TAMPERED) from None
        if claim.role not in ROLES:  # we sign no other role: refused, whoever signed it
            raise BadLink(LinkProblem.TAMPERED)
        if now >= claim.expires_at:
            raise BadLink(LinkProblem.EXPIRED)
        return claim


# --- links sent before the tokens were signed with itsdangerous -----------------------------
# Until this release a token was ``b64(claim).b64(HMAC-SHA256(secret, _LEGACY_CONTEXT +
# b64(claim)))``, the same claim under the secret itself. Links in e-mails already sent keep
# working until their own expiry (ENCOMPASS_ACK_LINK_TTL_DAYS after sending, 14 days by
# default): none are made any more, so this can go once a release has been out that long.
_LEGACY_CONTEXT = b"encompass/ack/v1\x00"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _legacy_mac(secret: bytes, payload: str) -> bytes:
    return hmac.new(secret, _LEGACY_CONTEXT + payload.encode("ascii"), hashlib.sha256).digest()


def _legacy_claim(secret: bytes, token: str) -> Any:
    """The claim of a token in the old form, or :class:`BadLink` (tampered)."""
    payload, dot, signature = token.partition(".")
    if not dot:
        raise BadLink(LinkProblem.TAMPERED)
    try:
        given = _unb64(signature)
    except (binascii.Error, ValueError):
        raise BadLink(LinkProblem.TAMPERED) from None
    # Canonical encoding only, so one token has one spelling.
    if _b64(given) != signature or not hmac.compare_digest(given, _legacy_mac(secret, payload)):
        raise BadLink(LinkProblem.TAMPERED)
    try:
        return json.loads(_unb64(payload))
    except ValueError:  # signed by us: never seen
        raise BadLink(LinkProblem.TAMPERED) from None


def load_secret_key(settings: Settings) -> bytes:
    """``ENCOMPASS_SECRET_KEY``, or the key in ``data_dir/secret.key``, made (0600) the
    first time. Made atomically, so two processes starting together agree on one key."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value()
        if len(value) < MIN_SECRET_CHARS:
            raise ValueError(f"ENCOMPASS_SECRET_KEY must be at least {MIN_SECRET_CHARS} characters")
        return value.encode()
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        _create_secret_file(path)
    value = path.read_text(encoding="ascii").strip()
    if len(value) < MIN_SECRET_CHARS:
        raise ValueError(f"{path} holds no usable key: remove it to make a new one")
    return value.encode()


def _create_secret_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temporary, path)
    finally:
        temporary.unlink()


class AckOutcome(StrEnum):
    OPEN = "open"  # can be acknowledged (GET)
    RECORDED = "recorded"  # this request recorded it (POST)
    ALREADY = "already"  # acknowledged before: nothing changed
    UNAVAILABLE = "unavailable"  # no such notification, or it was never sent


@dataclass(frozen=True)
class AckResult:
    outcome: AckOutcome
    reference: str
    acknowledged_at: datetime | None = None


def roles_sent_to(session: Session, n: Notification) -> set[str]:
    """The roles this notification's links went to: the ``sent`` and ``reminded`` audit
    rows name them; a send or reminder in flight (link made, row not yet written) counts
    by the address being sent to and by the reminder's rendered step."""
    from consumers.alerts import Step  # alerts imports this module

    roles: set[str] = set()
    for details in session.execute(
        select(AuditEvent.details).where(
            AuditEvent.notification_id == n.id, AuditEvent.action.in_(LINK_CARRYING)
        )
    ).scalars():
        if isinstance(details, dict) and isinstance(details.get("role"), str):
            roles.add(details["role"])
    if n.recipient and n.route not in (None, "school"):
        roles.add(n.route)  # its recipient is the route's, whoever that is
    elif n.recipient and n.urn:
        roles.update(
            session.execute(
                select(SafeguardingContact.role).where(
                    SafeguardingContact.urn == n.urn,
                    func.lower(SafeguardingContact.email) == n.recipient.lower(),
                )
            ).scalars()
        )
    roles.update(
        session.execute(
            select(EscalationStep.role).where(
                EscalationStep.notification_id == n.id,
                EscalationStep.step.in_([Step.REMIND_DSL.value, Step.REMIND_DEPUTY.value]),
                EscalationStep.attempts > 0,
            )
        ).scalars()
    )
    return roles & ROLES


def _state(session: Session, n: Notification | None, claim: AckClaim) -> AckResult:
    if n is None or n.status not in ACKNOWLEDGEABLE:
        return AckResult(AckOutcome.UNAVAILABLE, claim.notification_id)
    if claim.role not in roles_sent_to(session, n):
        # A valid signature on a link this role was never sent: refused, and told apart
        # in the log (ids only) from a plain unknown notification.
        log.warning("ack_refused_role_not_sent", notification_id=n.id, role=claim.role)
        return AckResult(AckOutcome.UNAVAILABLE, claim.notification_id)
    if n.acknowledged_at is not None:
        return AckResult(AckOutcome.ALREADY, n.id, n.acknowledged_at)
    return AckResult(AckOutcome.OPEN, n.id)


def ack_state(session: Session, claim: AckClaim) -> AckResult:
    """What the page shows on GET. Reads only."""
    return _state(session, session.get(Notification, claim.notification_id), claim)


def acknowledge(session: Session, claim: AckClaim, now: datetime) -> AckResult:
    """Record the acknowledgement once, with its audit row, in the caller's transaction."""
    n = session.get(Notification, claim.notification_id, with_for_update=True)
    state = _state(session, n, claim)
    if state.outcome is not AckOutcome.OPEN or n is None:
        return state
    n.acknowledged_at = now
    n.acknowledged_by = f"link:{claim.role}"
    confirm_contact(session, n, claim.role, now)
    record(
        session,
        AuditAction.ACKNOWLEDGED,
        actor=(
            f"school:{n.urn}:{claim.role}"
            if claim.role in ("dsl", "deputy_dsl")
            else f"council:{n.route_council}:{claim.role}"
        ),
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"via": "link", "role": claim.role, "urn": n.urn, "status": n.status},
    )
    return AckResult(AckOutcome.RECORDED, n.id, now)


def confirm_contact(session: Session, n: Notification, role: str, now: datetime) -> None:
    """An acknowledgement by this role at this school confirms the address its link went
    to (the e-mail's, or a reminder's to that role): the directory's health counts the
    contact as confirmed (``school_directory.health``). Another contact is not touched."""
    if n.urn is None:
        return
    addresses = {
        a.lower()
        for a in session.execute(
            select(EscalationStep.recipient).where(
                EscalationStep.notification_id == n.id, EscalationStep.role == role
            )
        ).scalars()
    }
    if n.recipient:
        addresses.add(n.recipient.lower())
    session.execute(
        update(SafeguardingContact)
        .where(
            SafeguardingContact.urn == n.urn,
            SafeguardingContact.role == role,
            func.lower(SafeguardingContact.email).in_(addresses),
        )
        .values(confirmed_at=now)
    )
