"""What the residual check reports: a span of the account that may still identify someone,
and why it was picked out, in the words a reviewer reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Why a span is suspect, in the words a reviewer reads.
NAME = "a name"
UNKNOWN = "a word that is not ordinary English"
CAPITALISED = "a capitalised word that may name someone or somewhere"
INITIALS = "initials"
NUMBER = "a number"
CONTACT = "contact details or a link"
PLACE = "the name of a place"
ENTITY = "named by the language model as"


@dataclass(frozen=True)
class Suspect:
    """A span of the account that may identify someone, and why it was picked out."""

    start: int
    end: int
    text: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text, "reason": self.reason}
