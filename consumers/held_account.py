"""The officer's account held for a person: fail closed without failing late.

At notify time, ``screen`` runs the residual check (``consumers.residual``) over what the
school would read. When it finds anything, the school-facing content carries the structured
account (``consumers.structured``) instead, and the officer's redacted account waits, with
each suspect span, in ``Notification.held_account`` (encrypted). No review policy skips
this hold: the policy decides only whether the notification itself goes without a person.

A person then reads the held account (the console's notification page, ``encompass review
show``) and either releases it, as it is or edited, or discards it. Released before the
notification is sent, it simply takes the structured account's place; released after, it
goes to the same school as a follow-up e-mail with the same reference, threaded under the
first by ``In-Reply-To`` (the escalation outbox, ``consumers.alerts``). Every step is audited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from consumers.batch_memo import checked
from consumers.minimise import NO_ACCOUNT, POLICE_ACTIONS
from consumers.residual_suspect import Suspect
from consumers.structured import structured_account
from foundations.clock import utcnow
from foundations.models import (
    UNSENT_STATUSES,
    AccountStatus,
    EscalationStep,
    Notification,
    NotificationEdit,
    NotificationStatus,
)
from foundations.settings import Settings
from schemas.incident import Person, PoliceIncident
from schemas.notification import MinimisationProfile

FOLLOW_UP_STEP = "follow_up"  # consumers.alerts.Step.FOLLOW_UP


class AccountError(ValueError):
    """An action on a held account that cannot be carried out, in plain words."""


@dataclass(frozen=True)
class Screened:
    """What the school may get now, and what waits for a person (None: nothing waits)."""

    content: dict[str, Any]
    held: dict[str, Any] | None

    @property
    def reasons(self) -> list[str]:
        """The kinds of suspect found (never the text: this goes into the audit trail)."""
        if not self.held:
            return []
        found = [s["reason"] for s in self.held["suspects"]]
        found += [s["reason"] for s in self.held.get("voice_of_child_suspects", [])]
        return sorted({r for reason in found for r in reason.split("; ")})


def screen(
    content: dict[str, Any],
    incident: PoliceIncident,
    child: Person,
    profile: MinimisationProfile,
) -> Screened:
    """Read the free text the school would get; hold what may still identify anyone."""
    out = dict(content)
    held: dict[str, Any] = {}
    account = str(content.get("account") or "")
    if account and account != NO_ACCOUNT:
        suspects = checked(account, incident, child)
        if suspects:
            held = {"text": account, "suspects": [s.as_dict() for s in suspects]}
            out["account"] = structured_account(incident, child, profile)
    voice = content.get("voice_of_child")
    if voice:
        suspects = checked(str(voice), incident, child)
        if suspects:  # the child's words are dropped; a reviewer may quote them in the account
            held.setdefault("text", account)
            held.setdefault("suspects", [])
            held["voice_of_child"] = voice
            held["voice_of_child_suspects"] = [s.as_dict() for s in suspects]
            out["voice_of_child"] = None
    plain = set(POLICE_ACTIONS.values())
    actions = [str(a) for a in content.get("police_actions") or []]
    kept = [a for a in actions if a in plain or not checked(a, incident, child)]
    if len(kept) != len(actions):  # an unknown police code that reads like a name: left out
        out["police_actions"] = kept
        held.setdefault("text", account)
        held.setdefault("suspects", [])
        held["police_actions_dropped"] = len(actions) - len(kept)
    return Screened(out, held or None)


def apply(session: Session, n: Notification, screened: Screened, *, actor: str) -> dict[str, Any]:
    """Keep what waits on the notification, with its audit row; returns the content."""
    if screened.held is None:
        n.account_status, n.held_account = None, None
        return screened.content
    n.account_status = AccountStatus.HELD
    n.held_account = screened.held
    record(
        session,
        AuditAction.ACCOUNT_HELD,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={
            "found": screened.reasons,
            "spans": len(screened.held["suspects"]),
            "voice_of_child_held": "voice_of_child" in screened.held,
            "police_actions_dropped": screened.held.get("police_actions_dropped", 0),
            "school_gets": "the structured account",
        },
    )
    return screened.content


def suspects_of(n: Notification) -> list[Suspect]:
    held = n.held_account or {}
    return [Suspect(**s) for s in held.get("suspects", [])]


def is_held(n: Notification) -> bool:
    return n.account_status == AccountStatus.HELD and bool(n.held_account)


def release(
    session: Session,
    settings: Settings,
    n: Notification,
    *,
    actor: str,
    account: str | None = None,
) -> Notification:
    """A person lets the officer's account go, as read (``account`` None) or edited."""
    if not is_held(n):
        raise AccountError(f"{n.id} has no officer's account waiting for a person")
    assert n.held_account is not None
    held_text = str(n.held_account.get("text") or "")
    text = (account if account is not None else held_text).replace("\r\n", "\n").strip()
    if "\x00" in text:
        raise AccountError("the account contains a character that cannot be stored")
    if not text:
        raise AccountError("the account cannot be empty: discard it instead")
    if n.status == NotificationStatus.SENDING:
        raise AccountError(f"{n.id} is being sent at this moment: try again in a minute")
    details: dict[str, Any] = {
        "edited": text != held_text,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    if text != held_text:
        edit = NotificationEdit(
            notification_id=n.id, field="held_account", before=held_text, after=text, actor=actor
        )
        session.add(edit)
        session.flush()
        details |= {
            "edit_id": edit.id,
            "before_sha256": hashlib.sha256(held_text.encode()).hexdigest(),
        }
    if n.status in {s.value for s in UNSENT_STATUSES}:
        n.content = {**(n.content or {}), "account": text}
        n.account_status = AccountStatus.RELEASED
        details["goes"] = "in the notification"
    elif n.status == NotificationStatus.SENT and n.recipient:
        n.held_account = {**n.held_account, "follow_up": text}
        n.account_status = AccountStatus.FOLLOW_UP
        now = utcnow()
        session.add(EscalationStep.to_school(n, FOLLOW_UP_STEP, now))
        details["goes"] = "as a follow-up e-mail"
        details["to"] = n.recipient
    else:
        raise AccountError(f"{n.id} is {n.status}: there is nothing to follow up; discard it")
    record(
        session,
        AuditAction.ACCOUNT_RELEASED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details=details,
    )
    return n


def discard(session: Session, n: Notification, *, actor: str, reason: str) -> Notification:
    """A person decides the school does not get the officer's account."""
    if not is_held(n):
        raise AccountError(f"{n.id} has no officer's account waiting for a person")
    if not reason.strip() or "\x00" in reason:
        raise AccountError("discarding the officer's account needs a reason")
    n.account_status = AccountStatus.DISCARDED
    record(
        session,
        AuditAction.ACCOUNT_DISCARDED,
        actor=actor,
        incident_id=n.incident_id,
        notification_id=n.id,
        details={"reason": reason.strip()[:500]},
    )
    return n


def follow_up_text(n: Notification) -> str:
    return str((n.held_account or {}).get("follow_up") or "")
