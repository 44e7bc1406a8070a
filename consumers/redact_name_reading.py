"""Reading one text word by word for the names pass: where a name (or a stranger's name)
starts, and whether a name that is also an ordinary word is used as a name here (issue 12,
item 4: "Rose said" is a name, "the window rose" is not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from consumers.redact_lexicon import (
    all_given_names,
    common_word,
    family_names,
    given_names,
    word_names,
)
from consumers.redact_name_index import Entry, NameIndex
from consumers.redact_officers import is_title
from consumers.redact_words import (
    ACRONYMS,
    APOS_CLASS,
    AUXILIARIES,
    CONTRACTIONS,
    DASH_CLASS,
    DETERMINERS,
    FUNCTION_WORDS,
    MODAL_NEXT,
    MODALS,
    MONTH_BEFORE,
    MONTH_WORDS,
    NAME_TITLES,
    QUALIFIERS,
    RELATION_QUALIFIERS,
    SPEECH_VERBS,
    STOP_CAPITALISED,
    SUBJECT_PRONOUNS,
    TWO_LETTER_WORDS,
)
from consumers.vocabulary import NAME_INTRO, RELATIONSHIP_WORDS
from consumers.words import fold, zipf

_SEP_INSIDE = re.compile(rf"[\s{APOS_CLASS}{DASH_CLASS}]{{0,3}}\Z")
_START_GAP = re.compile(r"(?:[.!?:;][\"'’”)\]]*\s*|\n\s*)\Z")
POSSESSIVE = re.compile(rf"[{APOS_CLASS}][sS](?!\w)|(?<=[sSzZxX])[{APOS_CLASS}](?!\w)")
SPACES = re.compile(r"[ \t]+")
_REL_GAP = re.compile(r"[ \t]+|,[ \t]+")
APOSTROPHE = re.compile(f"[{APOS_CLASS}]")
DOT_SPACE = re.compile(r"\.?\s+")
_DIGIT_AFTER = re.compile(r"\s*\d")
_DIGIT_BEFORE = re.compile(r"\d(?:st|nd|rd|th)?\s*\Z")
NAME, ORDINARY, UNKNOWN = "name", "ordinary", "unknown"
VERY_COMMON_ZIPF = 4.5  # "house", "drinking": about once in 30,000 words or more often


@dataclass
class Unit:
    i: int  # first word
    j: int  # one past the last word
    start: int
    end: int
    owners: set[int]
    entry: Entry | None  # None: initials
    weak: bool = False  # a one-edit form that is also a common word
    stranger: bool = False  # a name nobody listed, after a relationship word or a title
    titled: bool = False  # after "Mr", "Mrs": another adult


@dataclass
class Scan:
    """One scan of one text."""

    index: NameIndex
    text: str
    words: list[tuple[int, int, str]]
    caps_style: bool
    mentioned: dict[int, list[int]] = field(default_factory=dict)
    said: set[int] = field(default_factory=set)

    def gap(self, a: int, b: int) -> str:
        """Text between word ``a`` and word ``b`` (a < b)."""
        return self.text[self.words[a][1] : self.words[b][0]]

    def before(self, i: int) -> str:
        return self.text[self.words[i - 1][1] if i else 0 : self.words[i][0]]

    def after(self, i: int) -> str:
        end = self.words[i + 1][0] if i + 1 < len(self.words) else len(self.text)
        return self.text[self.words[i][1] : end]

    def low(self, i: int) -> str | None:
        return self.words[i][2].casefold() if 0 <= i < len(self.words) else None

    def prev_word(self, i: int) -> str | None:
        """The word before ``i`` when only spaces separate them."""
        if i and SPACES.fullmatch(self.before(i)):
            return self.low(i - 1)
        if i >= 2 and APOSTROPHE.fullmatch(self.before(i)) and self.low(i - 1) == "s":
            return "'s"  # "Jane's partner John": a possessive acts as a determiner
        return None

    def next_word(self, i: int) -> str | None:
        if i + 1 < len(self.words) and SPACES.fullmatch(self.after(i)):
            return self.low(i + 1)
        return None

    def at_start(self, i: int) -> bool:
        """At the start of a sentence, a line or the text: a capital there says nothing."""
        return i == 0 or bool(_START_GAP.search(self.before(i)))


def usage(c: Scan, u: Unit) -> str:
    """Whether a name that is also a word is used as a name here (item 4)."""
    i = u.i
    w = c.words[i][2]
    start = c.at_start(i)
    capital = w[:1].isupper() and not w.isupper()
    shouting = w.isupper() and len(w) > 1 and not c.caps_style
    key = fold(w)
    prev, nxt = c.prev_word(i), c.next_word(u.j - 1)
    digits_near = bool(_DIGIT_AFTER.match(c.text, u.end)) or bool(
        _DIGIT_BEFORE.search(c.text[max(0, u.start - 8) : u.start])
    )
    if key in MONTH_WORDS and (prev in MONTH_BEFORE or digits_near):
        return ORDINARY  # "in May", "May 2025", "25 May"
    if (capital and not start) or shouting:
        return NAME
    if prev in RELATIONSHIP_WORDS or prev in NAME_INTRO:
        return NAME
    if prev in SUBJECT_PRONOUNS:
        return ORDINARY  # "he rose", "it will", "they rob"
    if prev in DETERMINERS or prev == "'s" or prev in QUALIFIERS:
        return ORDINARY  # "the rose", "a mark", "her hope", "lost faith", "good grace"
    if (
        i >= 2
        and prev is not None
        and prev not in RELATIONSHIP_WORDS
        and c.prev_word(i - 1) in DETERMINERS
        and (c.words[i - 1][2].islower() or c.caps_style)
    ):
        return ORDINARY  # "the window rose", "a red mark"
    if key in MODALS:
        if nxt in MODAL_NEXT:
            return ORDINARY  # "will not", "may be"
        if nxt in SUBJECT_PRONOUNS | {"there"} and (start or prev in {"and", "or", "but", "so"}):
            return ORDINARY  # "Will you ...?"
    if prev in AUXILIARIES:
        return ORDINARY  # "would sue", "did rob"
    if prev == "to" and nxt is not None and nxt not in SPEECH_VERBS:
        return ORDINARY  # "to rob the shop", "to mark it"
    if nxt in SPEECH_VERBS:
        return NAME
    if POSSESSIVE.match(c.text, u.end):
        return NAME
    return UNKNOWN


def scan_unit(c: Scan, i: int) -> Unit | None:
    """The name that starts at word ``i``, if any: the longest joined form first."""
    idx, words, text = c.index, c.words, c.text
    start, _, word = words[i]
    # Initials: "J.D.", "L. J.", and "LJ" (not every capital pair: not "PC" or "TV").
    if len(word) == 1 and word.isupper():
        prev = c.low(i - 1) if i else None
        if prev and fold(prev) in NAME_TITLES and DOT_SPACE.fullmatch(c.before(i)):
            owners = idx.family_initial.get(fold(word).upper())
            if owners:  # "Mrs H", "Mr O'N"
                tail = re.match(rf"[{APOS_CLASS}][^\W\d_]+", text[words[i][1] :])
                j = i + 2 if tail else i + 1
                end = words[i][1] + (tail.end() if tail else 0)
                return Unit(i, j, start, end, set(owners), None)
        letters, k = word, i
        while k + 1 < len(words) and len(words[k + 1][2]) == 1 and words[k + 1][2].isupper():
            if not re.fullmatch(r"\.\s?", c.gap(k, k + 1)):
                break
            k += 1
            letters += words[k][2]
        dotted = text[words[k][1] : words[k][1] + 1] == "."
        key = fold(letters).upper()
        if k > i and dotted and key in idx.initials:
            end = words[k][1]
            if re.match(rf"\.\s*(?:[a-z,;:)]|[{APOS_CLASS}]s)", text[end:]):
                end += 1
            return Unit(i, k + 1, start, end, set(idx.initials[key]), None)
    if 2 <= len(word) <= 4 and word.isupper() and word not in ACRONYMS:
        key, low = fold(word).upper(), fold(word)
        ordinary = low in TWO_LETTER_WORDS if len(low) == 2 else common_word(low)  # "DO", "ME"
        if key in idx.initials and low not in idx.exact and not ordinary:
            return Unit(i, i + 1, start, words[i][1], set(idx.initials[key]), None)
    key = fold(word)
    if key in idx.starts:  # a name written as several words: "O Neill", "Mac Donald"
        for k in range(min(idx.max_words, len(words) - i), 1, -1):
            last = i + k - 1
            gaps = [c.gap(a, a + 1) for a in range(i, last)]
            if any(not _SEP_INSIDE.match(g) or "\n\n" in g for g in gaps):
                continue
            if words[last][2] in {"s", "S"} and APOSTROPHE.fullmatch(gaps[-1]):
                continue  # "Jane's"
            entry = idx.exact.get("".join(fold(words[a][2]) for a in range(i, last + 1)))
            if entry is not None:
                return _found(c, i, last, entry)
    entry = idx.exact.get(key)
    if entry is not None:
        return _found(c, i, i, entry)
    if len(key) >= 4 and len(key) in idx.fuzzy_lengths and not _very_common(word, key):
        capital_mid = word[:1].isupper() and not word.isupper() and not c.at_start(i)
        owners = idx.fuzzy(key) if key not in FUNCTION_WORDS or capital_mid else None
        if owners:  # "Cahterine"; "Later More left" for Moore
            after = c.after(i)
            if APOSTROPHE.fullmatch(after) and c.low(i + 1) in CONTRACTIONS:
                return None
            weak = common_word(key)
            return Unit(i, i + 1, start, words[i][1], set(owners), None, weak=weak)
    return _stranger(c, i)


def name_shaped(c: Scan, i: int, *, surname: bool = False, any_word: bool = False) -> bool:
    """A capitalised word that reads as a name nobody listed (Victoria, Jake, Okafor);
    with ``any_word``, any capitalised word that is not a function word or a title
    ("her friend Sue": after a relationship word a capital is a name)."""
    word = c.words[i][2]
    if not word[:1].isupper() or len(word) < 2:
        return False
    key = fold(word)
    if key in NAME_TITLES or key in RELATIONSHIP_WORDS or is_title(word):
        return False
    if any_word and word[1:].islower() and (word not in STOP_CAPITALISED or key in word_names()):
        return True  # "her brother Will", "her friend Sue"
    if word in STOP_CAPITALISED or key in FUNCTION_WORDS:
        return False
    known = all_given_names() | family_names() if surname else all_given_names()
    return key in known or key in c.index.exact or not common_word(key)


def _stranger(c: Scan, i: int) -> Unit | None:
    """ "her mum Victoria Harrison", "his new partner Dave": a name after a relationship
    word, listed or not, goes with the relationship word kept; "Mrs Green" (nobody
    listed) becomes "another adult"."""
    if not i or not c.words[i][2][:1].isupper():
        return None
    if fold(c.words[i - 1][2]) in NAME_TITLES and DOT_SPACE.fullmatch(c.before(i)):
        if not name_shaped(c, i, any_word=True):
            return None
        j = i + 1
        while j < len(c.words) and j < i + 3 and SPACES.fullmatch(c.before(j)):
            if not name_shaped(c, j, surname=True):
                break
            j += 1
        end = c.words[j - 1][1]
        return Unit(i, j, c.words[i][0], end, set(), None, stranger=True, titled=True)
    if c.low(i - 1) not in RELATIONSHIP_WORDS:
        return None
    if not _REL_GAP.fullmatch(c.before(i)) or not name_shaped(c, i, any_word=True):
        return None
    lead = c.prev_word(i - 1)
    if not (lead in DETERMINERS or lead in RELATION_QUALIFIERS or lead == "'s"):
        return None
    j = i + 1
    while j < len(c.words) and j < i + 3 and SPACES.fullmatch(c.before(j)):
        if not name_shaped(c, j, surname=True):
            break
        j += 1
    return Unit(i, j, c.words[i][0], c.words[j - 1][1], set(), None, stranger=True)


def _very_common(word: str, key: str) -> bool:
    """A lower-case word so frequent ("house", "shouting") that a misspelt name written
    as it would go unread anyway: no need to compare it with every name."""
    return word.islower() and zipf(key) >= VERY_COMMON_ZIPF and key not in given_names()


def _found(c: Scan, i: int, last: int, entry: Entry) -> Unit | None:
    if APOSTROPHE.fullmatch(c.after(last)) and c.low(last + 1) in CONTRACTIONS:
        return None  # "Don't", "Will'll"
    if entry.short and not c.words[i][2][:1].isupper():
        return None
    return Unit(i, last + 1, c.words[i][0], c.words[last][1], set(entry.owners), entry)
