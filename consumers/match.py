"""Match: find the pupil records of a child named in a police incident.

The first matcher is deliberately strict: normalised family name, first given name or the
name the child is known by, and date of birth, on roll at a school that is open on the
incident date. Anything else waits for a person, with the near misses listed as candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from schemas.incident import Person
from school_directory.names import first_given, normalise
from school_directory.store import OPEN_STATUSES, Pupil, School


class MatchOutcome(StrEnum):
    EXACT = "exact"  # one child (one UPN), on roll at one or more open schools
    AMBIGUOUS = "ambiguous"  # several children fit equally well
    PARTIAL = "partial"  # only near misses
    NONE = "none"


@dataclass(frozen=True)
class Candidate:
    upn: str
    urn: str
    score: float
    agreed: tuple[str, ...] = ()
    disagreed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "upn": self.upn,
            "urn": self.urn,
            "score": round(self.score, 4),
            "agreed": list(self.agreed),
            "disagreed": list(self.disagreed),
        }


@dataclass(frozen=True)
class MatchResult:
    outcome: MatchOutcome
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)
    reason: str = ""

    @property
    def exact_schools(self) -> tuple[Candidate, ...]:
        return self.candidates if self.outcome is MatchOutcome.EXACT else ()


FIELDS = ("family_name", "given_name", "date_of_birth")


def compare(child: Person, pupil: Pupil) -> Candidate:
    """Which of the three fields agree, as a score between 0 and 1."""
    child_given = {first_given(child.given_names), normalise(child.known_as)} - {""}
    pupil_given = {pupil.given_name_key, pupil.preferred_name_key} - {""}
    agreed: list[str] = []
    if normalise(child.family_name) and normalise(child.family_name) == pupil.family_name_key:
        agreed.append("family_name")
    if child_given & pupil_given:
        agreed.append("given_name")
    if child.date_of_birth is not None and child.date_of_birth == pupil.date_of_birth:
        agreed.append("date_of_birth")
    disagreed = tuple(f for f in FIELDS if f not in agreed)
    return Candidate(pupil.upn, pupil.urn, len(agreed) / len(FIELDS), tuple(agreed), disagreed)


def match_child(session: Session, child: Person, on_date: date) -> MatchResult:
    """Look the child up by date of birth or family name; never scan the whole roll."""
    family = normalise(child.family_name)
    clauses = []
    if child.date_of_birth is not None:
        clauses.append(Pupil.date_of_birth == child.date_of_birth)
    if family:
        clauses.append(Pupil.family_name_key == family)
    if not clauses:
        return MatchResult(MatchOutcome.NONE, reason="no name or date of birth to search by")
    rows = session.execute(
        select(Pupil, School.status)
        .join(School, School.urn == Pupil.urn)
        .where(or_(*clauses))
        .limit(500)
    ).all()
    live = [p for p, status in rows if p.on_roll(on_date) and status in OPEN_STATUSES]
    scored = sorted((compare(child, p) for p in live), key=lambda c: (-c.score, c.upn, c.urn))
    exact = [c for c in scored if c.score == 1.0]
    near = [c for c in scored if 0 < c.score < 1.0 and len(c.agreed) >= 2][:10]
    upns = {c.upn for c in exact}
    if len(upns) == 1:
        return MatchResult(MatchOutcome.EXACT, tuple(exact))
    if len(upns) > 1:
        return MatchResult(
            MatchOutcome.AMBIGUOUS,
            tuple(exact + near)[:10],
            reason=f"{len(upns)} pupils match exactly (twins or same-name children?)",
        )
    if near:
        return MatchResult(
            MatchOutcome.PARTIAL, tuple(near), reason="no exact match; near misses listed"
        )
    return MatchResult(MatchOutcome.NONE, reason="no pupil record matches")
