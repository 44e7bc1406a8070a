"""Field comparisons: each field the police recorded against the same field of a pupil
record, to a level ("exact", "nickname", "one_digit", "different"...), or None when either
side did not record it. Pure functions; the matcher compares each pair once a lookup
(``matching.Pairs``), and the parts of names many children share are cached here.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from foundations.vocabulary import PARTICLES
from school_directory import names


def _similarity(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b) if a and b else 0.0


@lru_cache(maxsize=16_384)
def _formal(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f for w in words for f in names.formal(w))


@lru_cache(maxsize=16_384)
def _sounds(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names.phonetic(w) for w in words)


def compare_given(
    child_given: tuple[str, ...], known_as: tuple[str, ...], pupil_given: tuple[str, ...],
    preferred: tuple[str, ...],
) -> str | None:  # fmt: skip
    """The given-name level: names in any order, known-as, nicknames, typos. The first
    names are compared before the rest: "Waleed Karim" for pupil "Walid Karim" is one
    first name transliterated (``phonetic``), stronger evidence than the middle name
    that a brother "Omar Karim" shares too (``exact_other``)."""
    theirs = child_given + known_as
    if not theirs or not (pupil_given or preferred):
        return None
    first = child_given[:1] + known_as[:1]
    pupil_first = pupil_given[:1] + preferred[:1]
    ours = set(pupil_given + preferred)
    if len(set(child_given)) > 1 and set(child_given) == set(pupil_given):
        return "exact_all"
    if set(first) & set(pupil_first) or "".join(child_given) == "".join(pupil_given):
        return "exact"
    if _formal(first) & _formal(pupil_first):
        return "nickname"
    if _sounds(first) & _sounds(pupil_first):
        return "phonetic"
    if set(theirs) & ours:
        return "exact_other"
    mine = pupil_given + preferred
    if _formal(theirs) & _formal(mine):
        return "nickname"
    best = max(_similarity(a, b) for a in theirs for b in ours)
    if best >= 0.92 or _sounds(theirs) & _sounds(mine):
        return "phonetic"
    return "similar" if best >= 0.80 else "different"


def compare_family(child_family: tuple[str, ...], pupil_family: tuple[str, ...]) -> str | None:
    """The family-name level: whole name, one part of it, sound, typos."""
    if not child_family or not pupil_family:
        return None
    theirs, ours = "".join(child_family), "".join(pupil_family)
    if theirs == ours:
        return "exact"
    significant = set(child_family) - PARTICLES
    if significant & (set(pupil_family) - PARTICLES):
        return "part"
    best = max(
        _similarity(theirs, ours),
        max(_similarity(a, b) for a in child_family for b in pupil_family),
    )
    if best >= 0.92 or names.phonetic(theirs) == names.phonetic(ours):
        return "phonetic"
    return "similar" if best >= 0.80 else "different"


def compare_dob(recorded: date | None, pupil: date) -> str | None:
    """Exact, day and month swapped, one digit wrong or two neighbours swapped, or not."""
    if recorded is None:
        return None
    if recorded == pupil:
        return "exact"
    if (recorded.year, recorded.month, recorded.day) == (pupil.year, pupil.day, pupil.month):
        return "day_month_swapped"
    a, b = _digits(recorded), _digits(pupil)
    diffs = [i for i in range(8) if a[i] != b[i]]
    if len(diffs) == 1:
        return "one_digit"
    i = diffs[0]
    if len(diffs) == 2 and diffs[1] == i + 1 and (a[i], a[i + 1]) == (b[i + 1], b[i]):
        return "one_digit"
    return "different"


@lru_cache(maxsize=16_384)
def _digits(day: date) -> str:
    return day.strftime("%Y%m%d")


def compare_postcode(recorded: str, pupil: str) -> str | None:
    """The same postcode, sector, district or none of them (a postcode not in its written
    form has neither sector nor district)."""
    if not recorded or not pupil:
        return None
    if recorded == pupil:
        return "exact"
    sector = names.postcode_sector(recorded)
    if sector and sector == names.postcode_sector(pupil):
        return "sector"
    district = names.postcode_district(recorded)
    return "district" if district and district == names.postcode_district(pupil) else "different"


@lru_cache(maxsize=4_096)
def compare_school(hint: str, school_name: str) -> str | None:
    if not hint:
        return None
    school = " ".join(names.parts(school_name))
    return "same" if fuzz.token_set_ratio(hint, school) >= 90 else "different"


def compare_nhs_number(recorded: str, pupil: str) -> str | None:
    """Both NHS numbers valid (the import and ``child_record`` keep no other): the same or
    not. None when either side has none: no evidence either way."""
    if not recorded or not pupil:
        return None
    return "exact" if recorded == pupil else "different"
