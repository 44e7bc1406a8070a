"""Match: find the pupil records of a child named in a police incident.

The candidates come from indexed blocking keys (``school_directory.blocking``); those that
could change the verdict are scored field by field in the Fellegi-Sunter style
(``school_directory.matching.Ranking``), a rare name weighing more than a common one
(``school_directory.frequencies``), and ``decide`` says whether the best one is sure
enough to name the child's schools: above the release threshold, on roll, and clear of
every other child, so twins wait for a person. Every candidate shown keeps its score and
its reasons for the review queue and the audit trail.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from foundations.collector import collector_paused
from foundations.nhs_number import nhs_number_problem
from foundations.settings import Settings
from schemas.incident import Person
from school_directory import blocking, frequencies
from school_directory.match_weights import Weights, load_weights
from school_directory.matching import (
    ChildRecord,
    MatchOutcome,
    MatchResult,
    PupilRow,
    Ranking,
    Thresholds,
    child_record,
    decide,
)


def record_of(child: Person) -> ChildRecord:
    """What the matcher compares: the police record of one child, normalised."""
    return child_record(
        child.given_names,
        child.family_name,
        known_as=child.known_as,
        date_of_birth=child.date_of_birth,
        postcode=child.address.postcode if child.address else None,
        gender=child.gender,
        school_hint=child.school_hint,
        nhs_number=child.nhs_number,
    )


def nhs_number_warning(child: Person) -> str | None:
    """What to record when the police gave an NHS number that is not valid: it is ignored
    for matching, never a reason to refuse or hold the event; the value is not repeated."""
    problem = nhs_number_problem(child.nhs_number)
    return f"the NHS number recorded {problem}; ignored for matching" if problem else None


def match_thresholds(settings: Settings) -> Thresholds:
    """The configured thresholds (``ENCOMPASS_MATCH_*``): built here, once per event, and
    used by the wider-search gate and the verdict alike."""
    return Thresholds(
        release=settings.match_release_threshold,
        review=settings.match_review_threshold,
        margin_bits=settings.match_margin_bits,
        namesake_odds=settings.match_namesake_odds,
        off_roll_share=settings.match_off_roll_share,
    )


def match_child(
    session: Session,
    child: Person,
    on_date: date,
    thresholds: Thresholds,
    weights: Weights | None = None,
) -> MatchResult:
    """Score the pupils that share a blocking key with the child; never scan the roll.

    Wider searches (one name and a likely corruption of the date, then the officer's
    school hint) are made only while the blocks have found no one likely. ``thresholds``
    are the configured ones (``match_thresholds``): the same decide the gate and the verdict."""
    warning = nhs_number_warning(child)
    with collector_paused():  # what a lookup builds is freed when it ends (foundations.collector)
        result = _match(session, record_of(child), on_date, thresholds, weights or load_weights())
    if warning is None:
        return result
    return replace(result, reason=f"{result.reason}; {warning}", warnings=(warning,))


def _match(
    session: Session, record: ChildRecord, on_date: date, thresholds: Thresholds, weights: Weights
) -> MatchResult:
    if not (record.given or record.family or record.date_of_birth or record.postcode
            or record.nhs_number):  # fmt: skip
        return MatchResult(
            MatchOutcome.NONE, reason="no name, date of birth or address to search by"
        )
    rarity = frequencies.rarity(session, record)
    ranking = Ranking(record, on_date, weights, rarity, thresholds)
    # A common name's namesakes born on other days further away than any could be held
    # for review are not read; they are read after all if one could still be the best
    # pupil's rival (a release held back by the margin), or if nobody was found.
    reach = ranking.namesakes_to_read()
    rows = blocking.candidates(session, record, reach)
    found = ranking.of(rows)
    if (further := ranking.namesakes_to_read(found)) != reach:
        rows = _joined(rows, blocking.candidates(session, record, further, narrow=False))
        found = ranking.of(rows)  # the rows scored before are not scored again
    for wider in (blocking.fallback, blocking.hinted):  # each only while no one is likely
        if found and found[0].score >= thresholds.review:
            break
        rows = _joined(rows, wider(session, record))
        found = ranking.of(rows)
    return decide(found, thresholds)


def _joined(rows: list[PupilRow], more: list[PupilRow]) -> list[PupilRow]:
    """``rows`` and those of ``more`` not among them."""
    seen = {(row.upn, row.urn) for row in rows}
    return rows + [row for row in more if (row.upn, row.urn) not in seen]
