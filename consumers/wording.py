"""Words, not codes: what a person reads where the database keeps a code.

Statuses, review policies, escalation steps and actors are stored as short codes
(``pending_review``, ``policy:auto_release_exact``, ``console:rita``) so that the audit trail
and the API stay stable. Pages and e-mails say them in words, from here, in one place.
"""

from __future__ import annotations

from datetime import timedelta

from foundations.models import NotificationStatus
from foundations.settings import ReviewPolicy

STATUS_WORDS: dict[str, str] = {
    NotificationStatus.PENDING_REVIEW: "Waiting for review",
    NotificationStatus.NOT_FOUND: "Not found in the directory",
    NotificationStatus.APPROVED: "Approved, waiting to be sent",
    NotificationStatus.SENDING: "Being sent",
    NotificationStatus.SENT: "Sent",
    NotificationStatus.FAILED: "Could not be sent",
    NotificationStatus.REJECTED: "Rejected",
    NotificationStatus.SUPERSEDED: "Replaced by a newer report",
    NotificationStatus.RECALLED: "Withdrawn",
    NotificationStatus.BOUNCED: "Bounced: no address of the school took it",
}

POLICY_WORDS: dict[str, str] = {
    ReviewPolicy.ALL: "the review policy (every notification reviewed)",
    ReviewPolicy.AUTO_RELEASE_EXACT: "automatic release of an exact match",
    ReviewPolicy.AUTO_RELEASE_CONFIDENT: "automatic release of a confident match",
}

STEP_WORDS: dict[str, str] = {
    "review_due": "Review due",
    "late": "Late",
    "remind_dsl": "Reminder to the DSL",
    "remind_deputy": "Reminder to the deputy DSL",
    "unacknowledged": "Not acknowledged: First Response alerted",
    "recall": "Withdrawal sent to the school",
    "follow_up": "Officer's account sent to the school",
    "bounced": "Bounced: First Response alerted",
    "undeliverable": "Every address bounced: First Response alerted",
}

ROLE_WORDS: dict[str, str] = {
    "dsl": "the DSL",
    "deputy_dsl": "the deputy DSL",
    "first_response": "First Response",
    "school": "the school",
    # Not a school (consumers/routes.py).
    "neighbour_first_response": "the neighbouring council's First Response",
    "officer_ehe": "the elective home education officer",
    "officer_cme": "the children missing education officer",
}

SERVICE_WORDS: dict[str, str] = {
    "intake": "intake",
    "notify": "notification",
    "deliver": "delivery",
    "escalate": "escalation",
    "retention": "retention",
}


def status_words(status: str | None) -> str:
    """``pending_review`` -> "Waiting for review"; an unknown code is shown as it is."""
    if not status:
        return ""
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def step_words(step: str) -> str:
    return STEP_WORDS.get(step, step.replace("_", " ").capitalize())


def role_words(role: str) -> str:
    """``deputy_dsl`` -> "the deputy DSL"; an unknown role is shown as it is."""
    return ROLE_WORDS.get(role, role.replace("_", " "))


def actor_words(actor: str | None) -> str:
    """Who did it, in words: ``console:rita`` -> "rita (console)", ``cli:root`` ->
    "root (command line)", ``policy:auto_release_exact`` -> "automatic release of an exact
    match", ``school:100001:dsl`` -> "the DSL of school 100001", ``broker:deliver`` ->
    "the broker (delivery)"."""
    if not actor:
        return ""
    kind, _, rest = actor.partition(":")
    if kind == "console":
        if rest.startswith("oidc:"):
            return f"{rest.removeprefix('oidc:')} (console, single sign-on)"
        return f"{rest} (console)"
    if kind == "cli":
        return f"{rest} (command line)"
    if kind == "policy":
        return POLICY_WORDS.get(rest, f"the review policy {rest}")
    if kind == "school":
        urn, _, role = rest.partition(":")
        return f"{ROLE_WORDS.get(role, 'someone')} of school {urn}"
    if kind == "council":  # a neighbour's First Response or an officer (consumers/routes.py)
        la, _, role = rest.partition(":")
        return f"{ROLE_WORDS.get(role, 'someone')} (LA {la})"
    if kind == "broker":
        return f"the broker ({SERVICE_WORDS.get(rest, rest)})"
    return actor


# What the matcher compared (``school_directory.matching.FIELDS``) and how a field agreed.
FIELD_WORDS: dict[str, str] = {
    "given_name": "given names",
    "family_name": "family name",
    "date_of_birth": "date of birth",
    "postcode": "postcode",
    "gender": "gender",
    "school_hint": "school named by the police",
    "nhs_number": "NHS number",
    "names_swapped": "given and family names recorded the other way round",
}

LEVEL_WORDS: dict[str, str] = {
    "exact": "the same",
    "exact_all": "all the same",
    "exact_other": "another of the names is the same",
    "same": "the same",
    "nickname": "a short form or nickname",
    "phonetic": "sounds the same",
    "part": "one part is the same",
    "similar": "similar, not the same",
    "day_month_swapped": "day and month swapped",
    "one_digit": "one digit differs",
    "sector": "same postcode sector",
    "district": "same postcode district",
    "different": "different",
}

STEP_STATUS_WORDS: dict[str, str] = {
    "pending": "waiting to be sent",
    "sent": "sent",
    "failed": "could not be sent",
    "cancelled": "no longer needed",
}


def field_words(field: str) -> str:
    """``date_of_birth`` -> "date of birth"."""
    return FIELD_WORDS.get(field, field.replace("_", " "))


def match_words(reason: str) -> str:
    """One of the matcher's reasons in words: ``given_name`` -> "given names",
    ``given_name:nickname`` -> "given names (a short form or nickname)"."""
    field, _, level = reason.partition(":")
    if not level:
        return field_words(field)
    return f"{field_words(field)} ({LEVEL_WORDS.get(level, level.replace('_', ' '))})"


def step_status_words(status: str | None) -> str:
    """Where an escalation step's e-mail stands: ``pending`` -> "waiting to be sent"."""
    if not status:
        return ""
    return STEP_STATUS_WORDS.get(status, status.replace("_", " "))


def late_words(late: timedelta) -> str:
    """How late, for a person: "5 min", "1 h 5 min", "3 days"."""
    minutes = max(int(late.total_seconds() // 60), 0)
    hours, rest = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} h {rest} min" if hours else f"{rest} min"


# Why a notification waits in the review queue, in a few words (console.queue_view).
WHY_WORDS: dict[str, str] = {
    "release_grade": "Sure match",
    "update": "Update to a sent notification",
    "twins": "Twins?",
    "unsure": "Match not sure",
    "not_found": "Not found",
    "failed": "Could not be sent",
    "bounced": "Bounced: no address left",
    "going_out": "Approved, going out",
    "account_held": "Account held: names found",
}

RISK_WORDS: dict[str, str] = {
    "high": "High",
    "medium": "Medium",
    "standard": "Standard",
}


def why_words(why: str) -> str:
    return WHY_WORDS.get(why, why.replace("_", " ").capitalize())


def risk_words(risk: str | None) -> str:
    """A DASH risk level in words; "Not recorded" when the police gave none."""
    if not risk:
        return "Not recorded"
    return RISK_WORDS.get(risk, risk.capitalize())
