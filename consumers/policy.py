"""The review policy: which notifications may go without a person looking first."""

from __future__ import annotations

from broker.settings import ReviewPolicy
from broker.store import NotificationStatus
from consumers.match import MatchOutcome, MatchResult


def initial_status(
    policy: ReviewPolicy, match: MatchResult, *, is_update: bool
) -> tuple[NotificationStatus, str]:
    """Released without a person only when the policy allows it and the match is exact."""
    if match.outcome is MatchOutcome.NONE:
        return NotificationStatus.NOT_FOUND, match.reason or "no pupil record matches"
    if is_update:
        return NotificationStatus.PENDING_REVIEW, "updates a notification already sent"
    if match.outcome is not MatchOutcome.EXACT:
        return NotificationStatus.PENDING_REVIEW, match.reason
    if policy in (ReviewPolicy.AUTO_RELEASE_EXACT, ReviewPolicy.AUTO_RELEASE_CONFIDENT):
        return NotificationStatus.APPROVED, "released by policy: unique exact match"
    return NotificationStatus.PENDING_REVIEW, "review policy holds every notification"
