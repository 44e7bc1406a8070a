"""How a word is compared and how common it is, for the redactor and the residual check
alike: ``fold`` (case- and accent-free: Björn = bjorn, Łukasz = lukasz) and ``zipf``
(``wordfreq``'s frequency of an English word).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_FOLD = str.maketrans(
    {
        "ł": "l", "Ł": "l", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ħ": "h", "Ħ": "h",
        "ı": "i", "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe",
        "þ": "th", "Þ": "th", "ð": "d", "Ð": "d",
    }
)  # fmt: skip


@lru_cache(maxsize=65536)
def fold(word: str) -> str:
    """Case-folded, without accents or the letters NFKD does not split (ł, ø, ß)."""
    decomposed = unicodedata.normalize("NFKD", word.translate(_FOLD).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))
