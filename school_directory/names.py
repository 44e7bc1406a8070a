"""Normalising names for comparison: case, accents, punctuation and spacing."""

from __future__ import annotations

import re
import unicodedata

_NOT_LETTERS = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")


def normalise(name: str | None) -> str:
    """``"  O'Brien-Smith "`` -> ``"obriensmith"``; ``"Zoë"`` -> ``"zoe"``."""
    if not name:
        return ""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    ascii_only = ascii_only.replace("-", " ")
    return _NOT_LETTERS.sub("", _SPACES.sub(" ", ascii_only)).replace(" ", "")


def first_given(name: str | None) -> str:
    """The first of someone's given names, normalised."""
    if not name:
        return ""
    parts = name.replace("-", " ").split()
    return normalise(parts[0]) if parts else ""
