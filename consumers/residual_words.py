"""The residual check's word readers: capitalised and all-capitals words that are neither
common English nor on the reviewed allowlist, names in any case (compared without case or
accents), names broken by a line or a hyphen, and rare words before a kind of place.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import lru_cache

from consumers.residual_lists import allowlist, given_names, names
from consumers.residual_suspect import CAPITALISED, INITIALS, NAME, PLACE, UNKNOWN, Suspect
from consumers.vocabulary import NAME_INTRO, RELATIONSHIP_WORDS
from consumers.words import fold, zipf

# Below this Zipf frequency (log10 of uses per billion words) a word is not common English.
RARE = 3.0  # lower-case words
RARE_START = 3.5  # a capitalised word that starts a sentence, when it is not a name
RARE_LOWER = 2.0  # a word in lower case this rare is not ordinary English ("coldharbour")
RARE_PLACE = 4.0  # the word before a kind of place ("sovereign mansions")
COMMON_SHOUTED = 6.0  # a word in capitals passes only when it is this common ("GET OUT")
COMMON_CAPITALISED = 4.5  # a capitalised word inside a sentence must be at least this common
COMMON_NAME = 5.0  # a name that starts a sentence passes only when it is this common a word
WORD = re.compile(r"[^\W\d_]+(?:[&'’][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"(?:\A|[.!?:;…]|\n)[\s\"'“‘(\[*-]*\Z")
_KIN = re.compile(  # a relationship word or "called", "known as" just before
    r"(?i:{})\s+\Z".format("|".join([*sorted(RELATIONSHIP_WORDS | NAME_INTRO), r"known\s+as"]))
)
# Kinds of place whose name comes before them (streets, buildings, schools, workplaces).
# Wider than the redactor's street and building suffixes (consumers.redact_places) on
# purpose: a word here only holds the account for a person; there, it replaces text.
# fmt: off
PLACE_WORDS = frozenset({
    "road", "street", "avenue", "lane", "close", "drive", "way", "crescent", "court", "place",
    "gardens", "terrace", "grove", "hill", "park", "square", "mews", "row", "walk", "rise",
    "view", "green", "parade", "boulevard", "gate", "chase", "croft", "meadow", "meadows",
    "drove", "wharf", "quay", "yard", "cottage", "cottages", "estate", "nook", "wynd", "fold",
    "garth", "ginnel", "loke", "vale", "brow", "bank", "side", "lea", "holme", "copse", "dene",
    "leys", "shaw", "circus", "approach", "passage", "alley", "paddock", "mansions", "lodge",
    "house", "heights", "tower", "towers", "barn", "farm", "manor", "hall", "mill", "villas",
    "school", "academy", "college", "primary", "nursery", "surgery", "centre", "hotel", "pub",
    "inn", "arms", "garage", "store", "stores", "works", "ltd", "limited", "plc", "church",
    "mosque", "temple", "hospital", "station", "plaza", "point", "quarter", "reach", "riggs",
    "keep", "wood", "woods", "field", "fields", "moor", "common", "heath", "end",
    "cross", "bridge", "precinct", "arcade", "parkway", "retreat", "terraces", "coppice",
    "spinney", "vennel", "snicket", "twitten", "chare", "mead", "dale", "hey", "mount",
    "ridge", "hollow", "orchard", "pasture", "pastures", "broadway", "causeway", "esplanade",
    "promenade", "embankment", "crossing", "circle", "hurst", "bottom", "top", "ley", "grange",
    "ings", "path", "dell", "glade", "knoll", "links", "pleasance", "steps",
})
# The words that end the look-back from a kind of place ("the", "her"): a short list, not the
# redactor's FUNCTION_WORDS, so that "Over Lane" and "Down End" are still read as places.
_STOPWORDS = frozenset({
    "the", "a", "an", "his", "her", "their", "its", "my", "our", "your", "this", "that", "at",
    "in", "on", "to", "of", "from", "and", "or", "near", "by", "with", "for",
})
# fmt: on


def starts_sentence(text: str, start: int) -> bool:
    return bool(_SENTENCE_START.search(text[max(0, start - 8) : start]))


@lru_cache(maxsize=65536)
def core(word: str) -> str:
    return re.sub(r"['’]s\Z", "", fold(word))


def word_suspects(text: str) -> Iterator[Suspect]:
    words = list(WORD.finditer(text))
    name_set, allowed = names(), allowlist()
    for i, m in enumerate(words):
        word, key = m.group(0), core(m.group(0))
        if key in allowed or fold(word) in allowed:
            continue
        frequency = zipf(key)
        is_name = key in name_set
        reason: str | None = None
        if len(word) == 1:
            if word.isupper() and word not in "AI":
                reason = INITIALS  # "J. Smith", "R W stated"
        elif word.isupper():  # officers write surnames in capitals; initials ("LJ", "VS")
            if len(word) <= 3 or is_name or frequency < COMMON_SHOUTED:
                reason = INITIALS if len(word) <= 3 else CAPITALISED
        elif word[0].isupper():
            if starts_sentence(text, m.start()):
                if (key in given_names() and frequency < COMMON_NAME) or frequency < RARE_START:
                    reason = NAME if is_name else CAPITALISED
            else:  # inside a sentence, a capitalised word that is not on the allowlist
                reason = NAME if is_name else CAPITALISED
        elif frequency < RARE_LOWER and len(key) >= 3:
            reason = NAME if is_name else UNKNOWN
        elif is_name and frequency < COMMON_CAPITALISED and _after_kin(text, m.start()):
            reason = NAME  # "her friend lesley", "his nan pat"
        elif is_name and frequency < RARE:
            reason = NAME
        elif is_name and frequency < COMMON_CAPITALISED and _next_is_name(words, i, text):
            reason = NAME  # "victoria harrison" in lower case
        if reason:
            yield Suspect(m.start(), m.end(), word, reason)
    yield from _capitalised_runs(text, words)
    yield from _broken_names(text, words)
    yield from _places(text, words)


def _broken_names(text: str, words: list[re.Match[str]]) -> Iterator[Suspect]:
    """A name broken by a line, a hyphen or a space ("Roi-\nsin", "War same"): two pieces,
    the first capitalised, that make a name or a rare word together."""
    for a, b in itertools.pairwise(words):
        gap = text[a.end() : b.start()]
        if not a.group(0)[:1].isupper() or not re.fullmatch(r"-?\s*\n?\s*|-|\s", gap):
            continue
        if gap == " " and not b.group(0)[:1].islower():
            continue
        joined = core(a.group(0) + b.group(0))
        broken = "\n" in gap or gap.startswith("-")
        if joined in names() or (broken and zipf(joined) < RARE):
            yield Suspect(a.start(), b.end(), text[a.start() : b.end()], NAME)


def _places(text: str, words: list[re.Match[str]]) -> Iterator[Suspect]:
    """A rare word just before a kind of place, in any case ("kestrel mansions", "elson high
    school", "ingleby vale"): the name of a street, a building or a school."""
    for i, m in enumerate(words):
        if core(m.group(0)) not in PLACE_WORDS:
            continue
        for j in range(i - 1, max(-1, i - 4), -1):
            word, key = words[j].group(0), core(words[j].group(0))
            if key in allowlist() or key in _STOPWORDS:
                break
            if key != fold(word) and key not in given_names() and zipf(key) >= RARE:
                break  # "her neighbour's house": whose, not which
            if zipf(key) < RARE_PLACE or key in given_names():
                yield Suspect(words[j].start(), m.end(), text[words[j].start() : m.end()], PLACE)
                break


def _capitalised_runs(text: str, words: list[re.Match[str]]) -> Iterator[Suspect]:
    """Two or more capitalised words in a row inside a sentence are a proper name ("Kestrel
    House", "Red Lion") unless every word is on the allowlist."""
    allowed = allowlist()
    run: list[re.Match[str]] = []
    for m in [*words, None]:
        joined = (
            m is not None
            and m.group(0)[0].isupper()
            and (not run or text[run[-1].end() : m.start()] in (" ", "-"))
        )
        if joined and m is not None:
            run.append(m)
            continue
        body = [w for w in run if not (w is run[0] and starts_sentence(text, w.start()))]
        if len(body) >= 2 and any(core(w.group(0)) not in allowed for w in body):
            start, end = body[0].start(), body[-1].end()
            yield Suspect(start, end, text[start:end], CAPITALISED)
        run = [m] if m is not None and m.group(0)[0].isupper() else []


def _after_kin(text: str, start: int) -> bool:
    return bool(_KIN.search(text[max(0, start - 20) : start]))


def _next_is_name(words: list[re.Match[str]], i: int, text: str) -> bool:
    """Beside another name, one of the two a given name: "victoria harrison" in lower case."""
    mine = core(words[i].group(0))
    for j in (i - 1, i + 1):
        if 0 <= j < len(words):
            a, b = sorted((words[i], words[j]), key=lambda w: w.start())
            other = core(words[j].group(0))
            if text[a.end() : b.start()].strip() or other not in names():
                continue
            given = [w for w in (mine, other) if w in given_names()]
            if any(zipf(w) < COMMON_CAPITALISED for w in given):
                return True
    return False
