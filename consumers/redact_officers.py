"""Detectors of officers: rank, collar number and name in any order ("Insp 930 Palmer",
"Smith (PC 1234)") become "an officer"; a rank alone ("the sergeant said") stays.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from consumers.redact_labels import OFFICER
from consumers.redact_lexicon import common_word, family_names, given_names
from consumers.redact_words import (
    FUNCTION_WORDS_PATTERN,
    NOT_PLATE_LETTERS,
    STOP_CAPITALISED,
    is_stop_word,
    set_of,
)
from consumers.words import fold

I = re.IGNORECASE  # noqa: E741 (as in the re module)

COLLAR = re.compile(r"\b(?:collar|shoulder|warrant)\s*(?:number|no\.?|#)?\s*:?\s*[a-z]*\d+", I)
_RANK_WORDS = (
    r"detective\s+chief\s+superintendent|detective\s+chief\s+inspector"
    r"|detective\s+(?:constable|sergeant|inspector|superintendent)|chief\s+(?:inspector|superintendent)"
    r"|police\s+(?:constable|sergeant|officer)|special\s+constable|superintendent|pcso|sergeant|sgt"
    r"|inspector|insp|supt|constable|officer"
)
_RANK_SHORT = (
    r"(?i:pcso|dci|dsi|dsu|dcs|pc|dc|ds|ps)|DI|[TA]/(?:Sgt|Insp|DS|PS|DI)|Ch\.?\s*Insp|Ch\.?\s*Supt"
)
RANK = rf"(?:(?i:{_RANK_WORDS})|{_RANK_SHORT})"
_TITLE_WORDS = set_of(
    "detective chief superintendent inspector constable sergeant police officer special pcso"
    " sgt insp supt pc dc ds di ps dci dsi dsu dcs"
)
_ITEM_WORD = rf"\s+(?!(?i:{FUNCTION_WORDS_PATTERN})\b)(?!{RANK}\b)[^\W\d_][\w'’-]*"
_HELD = "\ue000[\ue100-\ue109]+\ue001"  # a detail already replaced (the listed collar number)
OFFICER_ANY_ORDER = re.compile(
    rf"(?<![\w/])(?P<rank>{RANK})\.?(?P<items>(?:\s*(?:(?i:no)\.?\s*)?\d{{2,7}}(?!\d)"
    rf"|\s*{_HELD}|{_ITEM_WORD}){{0,3}})"
)
OFFICER_NAME_FIRST = re.compile(
    rf"(?<!\w)(?P<pre>[^\W\d_a-z][\w'’-]+)\s*(?:,\s*|\(\s*)(?P<rank>{RANK})\.?\s*"
    r"(?:(?i:no)\.?\s*)?\d{2,7}(?!\d)(?:\s*\))?"
)


def is_title(word: str) -> bool:
    bare = word.strip(".")
    return bare.casefold() in _TITLE_WORDS and (len(bare) > 2 or bare.isupper())


def _name_like(word: str, is_name: Callable[[str], bool]) -> bool:
    """A word after a rank that is the officer's name (capitalised, or a known name)."""
    bare = word.strip(".'’-")
    if not bare or is_stop_word(bare) or bare in STOP_CAPITALISED:
        return False
    key = fold(bare)
    if bare[:1].isupper() and not (len(bare) > 1 and bare.isupper()):
        return True  # "Palmer"; but "ATTENDED" in an account written in capitals is a word
    return is_name(bare) or key in family_names() or key in given_names() or not common_word(bare)


# One item after a rank: a number ("No. 1234"), a held replacement, or a word.
_ITEM = re.compile(rf"\s*(?:(?i:no)\.?\s*)?\d{{2,7}}(?!\d)|\s*{_HELD}|\s+[^\W\d_][\w'’-]*")


def officer(
    is_name: Callable[[str], bool], someone_else: Callable[[str], bool] = lambda _: False
) -> Callable[[re.Match[str]], str]:
    """Rank, number and name in any order ("Insp 930 Palmer", "PS Jones 1234"): all of it
    goes, leaving "an officer"; a rank alone ("the sergeant said") stays."""

    def replace(m: re.Match[str]) -> str:
        end = m.end("rank")
        if m.string[end : end + 1] == ".":
            end += 1
        taken = False
        for it in _ITEM.finditer(m.group("items")):
            text = it.group(0)
            if m.group("rank").islower() and someone_else(text.strip()):
                break  # "told the officer Catherine had left"; "PC Smith" is the officer
            if re.search(r"\d|\ue000", text) or _name_like(text.strip(), is_name):
                taken, end = True, m.start("items") + it.end()
            else:
                break
        if not taken:
            return m.group(0)
        rest = m.string[end : m.end()]
        before = m.string[max(0, m.start() - 5) : m.start()]
        label = "officer" if re.search(r"\b(?:the|an?)\s+\Z", before, I) else OFFICER
        return label + rest

    return replace


def officer_name_first(m: re.Match[str]) -> str:
    """ "Smith (PC 1234)", "Palmer, Insp 930"; "Later, PC 1234" keeps "Later"."""
    pre, text = m.group("pre"), m.group(0)
    close = ")" if text.endswith(")") else ""
    bracketed = "(" in text[len(pre) : m.start("rank") - m.start()]
    surname = fold(pre) in family_names() or bracketed or not common_word(pre)
    if pre in STOP_CAPITALISED or pre in NOT_PLATE_LETTERS or not surname:
        return text[: m.start("rank") - m.start()] + OFFICER + close
    return OFFICER


# -- which passes can match at all: a pass runs only when one of its words is in the text

RANK_HINTS = _TITLE_WORDS
COLLAR_HINTS = frozenset({"collar", "shoulder", "warrant"})
