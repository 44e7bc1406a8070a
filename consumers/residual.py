"""The residual check: reads the account exactly as the school would read it and lists
anything that may still identify a person, a place or a record. (Interface first; the
detectors follow.)"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.incident import Person, PoliceIncident


@dataclass(frozen=True)
class Suspect:
    """A span of the account that may identify someone, and why it was picked out."""

    start: int
    end: int
    text: str
    reason: str


def residual_check(account: str, incident: PoliceIncident, child: Person) -> list[Suspect]:
    """Every suspect span of ``account``, in order. Empty only when nothing was found."""
    raise NotImplementedError
