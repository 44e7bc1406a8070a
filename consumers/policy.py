"""The review policy: which notifications may go without a person looking first."""

from __future__ import annotations

from foundations.models import NotificationStatus
from foundations.settings import ReviewPolicy
from school_directory.matching import MatchOutcome, MatchResult


def initial_status(
    policy: ReviewPolicy, match: MatchResult, *, is_update: bool
) -> tuple[NotificationStatus, str]:
    """Released without a person only when the policy allows it: ``auto_release_exact``
    for a unique exact match, ``auto_release_confident`` for any match above the release
    threshold and clear of the next child by the margin. Everything else waits."""
    if match.outcome is MatchOutcome.NONE:
        return NotificationStatus.NOT_FOUND, match.reason or "no pupil record matches"
    if is_update:
        return NotificationStatus.PENDING_REVIEW, "updates a notification already sent"
    if match.outcome not in (MatchOutcome.EXACT, MatchOutcome.CONFIDENT):
        return NotificationStatus.PENDING_REVIEW, match.reason
    if policy is ReviewPolicy.AUTO_RELEASE_EXACT and match.outcome is MatchOutcome.EXACT:
        return NotificationStatus.APPROVED, "released by policy: unique exact match"
    if policy is ReviewPolicy.AUTO_RELEASE_CONFIDENT and match.releasable:
        return NotificationStatus.APPROVED, f"released by policy: {match.reason}"
    if policy is ReviewPolicy.ALL:
        return NotificationStatus.PENDING_REVIEW, "review policy holds every notification"
    return NotificationStatus.PENDING_REVIEW, f"held for a person: {match.reason}"
