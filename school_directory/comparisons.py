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


VARIANT_YEARS = 10  # how far from the recorded year ``dob_variants`` looks


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


@lru_cache(maxsize=4_096)  # a few thousand birthdays, each asked about again and again
def dob_variants(born: date, *, years: int = VARIANT_YEARS) -> tuple[date, ...]:
    """The date itself, day and month swapped, every one-digit change and every swap of
    two neighbouring digits that is still a real date within ``years`` of it: every date
    within ``years`` that ``compare_dob`` finds more than "different"."""
    found = {born}
    swapped = _valid(born.year, born.day, born.month)
    if swapped:
        found.add(swapped)
    digits = born.strftime("%Y%m%d")
    spellings = {digits[:i] + d + digits[i + 1 :] for i in range(8) for d in "0123456789"}
    spellings |= {digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :] for i in range(7)}
    for text in spellings:
        day = _valid(int(text[:4]), int(text[4:6]), int(text[6:]))
        if day is not None and abs(day.year - born.year) <= years:
            found.add(day)
    return tuple(sorted(found))


@lru_cache(maxsize=4_096)  # as dob_variants: per birthday, not per pair
def dob_levels(born: date) -> dict[date, str]:
    """``compare_dob(born, day)`` of each date more than "different" within
    ``VARIANT_YEARS``; any other date of those years is "different" (``dob_variants``).
    A common name's lookup compares hundreds of dates of birth."""
    return {day: level for day in dob_variants(born) if (level := compare_dob(born, day))}


@lru_cache(maxsize=16_384)
def _digits(day: date) -> str:
    return day.strftime("%Y%m%d")


def compare_postcode(recorded: str, pupil: str) -> str | None:
    """The same postcode, sector, district or none of them (a postcode not in its written
    form has neither sector nor district: ``names.postcode_sector``, ``postcode_district``,
    here in line, as a common name's lookup compares hundreds of postcodes)."""
    if not recorded or not pupil:
        return None
    if recorded == pupil:
        return "exact"
    if " " not in recorded or " " not in pupil:
        return "different"
    if (sector := recorded[:-2]) and sector == pupil[:-2]:
        return "sector"
    district = recorded.partition(" ")[0]
    return "district" if district and district == pupil.partition(" ")[0] else "different"


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
