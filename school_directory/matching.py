"""Scoring a police-recorded child against pupil records, as a careful caseworker would.

Pure rules, no I/O: each field is compared to a level (exact, nickname, one digit wrong,
...), each level weighs log2(m/u) bits from ``match_weights.json`` (Fellegi-Sunter), and
the sum with the prior gives the probability that the pupil record is the child. ``decide``
then says whether the best pupil may be released: above the release threshold, on roll,
and clear of the next pupil by a margin, so twins and same-name children wait for a person.
The indexed candidate search that feeds these rules is in ``school_directory.blocking``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler

from school_directory import names

FIELDS = ("given_name", "family_name", "date_of_birth", "postcode", "gender", "school_hint")


class MatchOutcome(StrEnum):
    EXACT = "exact"  # names and date of birth agree exactly; one child, clear of the rest
    CONFIDENT = "confident"  # above the release threshold and clear of the rest
    AMBIGUOUS = "ambiguous"  # two or more children score too close to tell apart
    PARTIAL = "partial"  # a likely pupil, but not sure enough to release (or not on roll)
    NONE = "none"  # no pupil above the review threshold: "not found"


@dataclass(frozen=True)
class Candidate:
    """One pupil record (a UPN on one school's roll) and why it does or does not fit."""

    upn: str
    urn: str
    score: float  # posterior probability that this record is the child, 0..1
    agreed: tuple[str, ...] = ()
    disagreed: tuple[str, ...] = ()
    weight: float = 0.0  # match weight in bits, the log2 odds behind ``score``
    live: bool = True  # may be told: on roll at an open school, nothing vetoes a release
    exact: bool = False  # given name, family name and date of birth all exactly equal
    note: str = ""  # why not: left the school, school closed, given name differs

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {
            "upn": self.upn,
            "urn": self.urn,
            "score": round(self.score, 6),
            "weight": round(self.weight, 2),
            "agreed": list(self.agreed),
            "disagreed": list(self.disagreed),
        }
        if self.note:
            found["note"] = self.note
        return found


@dataclass(frozen=True)
class MatchResult:
    outcome: MatchOutcome
    candidates: tuple[Candidate, ...] = field(default_factory=tuple)  # best first
    reason: str = ""
    chosen: tuple[Candidate, ...] = ()  # the chosen child's live records, one per school
    releasable: bool = False  # above the release threshold and clear of the rest by margin

    @property
    def exact_schools(self) -> tuple[Candidate, ...]:
        """The records to notify: one per school the chosen child is on roll at."""
        return self.chosen


@dataclass(frozen=True)
class Thresholds:
    """Release and review thresholds on the posterior probability, and the margin in bits
    the best child needs over the next one (a 2**margin times likelier explanation)."""

    release: float = 0.999
    review: float = 0.01
    margin_bits: float = 10.0


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: verdicts are cached
class Weights:
    prior_bits: float
    bits: dict[str, dict[str, float]]
    # Term frequencies: the u of an exact agreement by field, and how the roll's counts
    # are smoothed and bounded (``rarity_bits``).
    exact_u: dict[str, float] = field(default_factory=dict)
    pseudo_pupils: float = 0.0
    rarity_range: tuple[float, float] = (0.0, 0.0)

    def of(self, field_name: str, level: str) -> float:
        return self.bits[field_name][level]


@cache
def load_weights(text: str | None = None) -> Weights:
    """The documented m/u file shipped with the package, or ``text`` in the same form."""
    source = text or resources.files("school_directory").joinpath("match_weights.json")
    raw: dict[str, Any] = json.loads(source if isinstance(source, str) else source.read_text())
    prior = float(raw["prior_match_probability"])
    bits = {
        name: {
            level: math.log2(float(mu["m"]) / float(mu["u"]))
            for level, mu in levels.items()
            if not level.startswith("_")
        }
        for name, levels in raw["fields"].items()
    }
    fields = raw["fields"]
    tf = raw.get("term_frequency", {})
    return Weights(
        math.log2(prior / (1 - prior)),
        bits,
        exact_u={f: float(fields[f]["exact"]["u"]) for f in ("family_name", "given_name")},
        pseudo_pupils=float(tf.get("pseudo_pupils", 0.0)),
        rarity_range=(float(tf.get("min_bits", 0.0)), float(tf.get("max_bits", 0.0))),
    )


@dataclass(frozen=True)
class Rarity:
    """Bits added to an exact agreement on this child's family name and first given
    name: positive for a name rarer than average on the roll, negative for a common one."""

    family_bits: float = 0.0
    given_bits: float = 0.0


def rarity_bits(pupils: int, roll: int, weights: Weights, field_name: str) -> float:
    """Term-frequency adjustment: an exact agreement on a name ``pupils`` of the ``roll``
    share has u = pupils / roll, not the average u of the weights file. The count is
    smoothed towards that average by ``pseudo_pupils`` imaginary pupils (a small roll
    says little about rarity), and the adjustment is kept within ``rarity_range``."""
    average = weights.exact_u[field_name]
    pseudo = weights.pseudo_pupils
    if roll <= 0 or pseudo <= 0:
        return 0.0
    u = (pupils + pseudo * average) / (roll + pseudo)
    low, high = weights.rarity_range
    return max(low, min(high, math.log2(average / u)))


@dataclass(frozen=True)
class ChildRecord:
    """What the police recorded about a child, normalised once for every comparison."""

    given: tuple[str, ...]
    known_as: tuple[str, ...]
    family: tuple[str, ...]
    date_of_birth: date | None
    postcode: str
    gender: str
    school_hint: str


@dataclass(frozen=True)
class PupilRow:
    """The columns of one pupil record the matcher reads, and its school."""

    upn: str
    urn: str
    given_names: str
    family_name: str
    preferred_name: str
    date_of_birth: date
    gender: str
    postcode: str
    on_roll_from: date | None
    on_roll_until: date | None
    school_name: str
    school_open: bool


def gender_code(value: str | None) -> str:
    """ "female", "F", "girl" -> "f"; "male", "M", "boy" -> "m"; else ""."""
    v = (value or "").strip().lower()
    return {"f": "f", "female": "f", "girl": "f", "m": "m", "male": "m", "boy": "m"}.get(v, "")


def child_record(
    given_names: str | None,
    family_name: str | None,
    *,
    known_as: str | None = None,
    date_of_birth: date | None = None,
    postcode: str | None = None,
    gender: str | None = None,
    school_hint: str | None = None,
) -> ChildRecord:
    return ChildRecord(
        given=names.parts(given_names),
        known_as=names.parts(known_as),
        family=names.parts(family_name),
        date_of_birth=date_of_birth,
        postcode=names.postcode(postcode),
        gender=gender_code(gender),
        school_hint=" ".join(names.parts(school_hint)),
    )


# --- field comparisons ---------------------------------------------------------------------


def _similarity(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b) if a and b else 0.0


@lru_cache(maxsize=16_384)
def _formal(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f for w in words for f in names.formal(w))


@lru_cache(maxsize=16_384)
def _sounds(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(names.phonetic(w) for w in words)


@lru_cache(maxsize=16_384)
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


@lru_cache(maxsize=16_384)
def compare_family(child_family: tuple[str, ...], pupil_family: tuple[str, ...]) -> str | None:
    """The family-name level: whole name, one part of it, sound, typos."""
    if not child_family or not pupil_family:
        return None
    theirs, ours = "".join(child_family), "".join(pupil_family)
    if theirs == ours:
        return "exact"
    significant = set(child_family) - names.PARTICLES
    if significant & (set(pupil_family) - names.PARTICLES):
        return "part"
    best = max(
        _similarity(theirs, ours),
        max(_similarity(a, b) for a in child_family for b in pupil_family),
    )
    if best >= 0.92 or names.phonetic(theirs) == names.phonetic(ours):
        return "phonetic"
    return "similar" if best >= 0.80 else "different"


@lru_cache(maxsize=16_384)
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
    if not recorded or not pupil:
        return None
    if recorded == pupil:
        return "exact"
    if names.postcode_sector(recorded) and (
        names.postcode_sector(recorded) == names.postcode_sector(pupil)
    ):
        return "sector"
    district = names.postcode_district(recorded)
    return "district" if district and district == names.postcode_district(pupil) else "different"


@lru_cache(maxsize=4_096)
def compare_school(hint: str, school_name: str) -> str | None:
    if not hint:
        return None
    school = " ".join(names.parts(school_name))
    return "same" if fuzz.token_set_ratio(hint, school) >= 90 else "different"


def on_roll_note(pupil: PupilRow, on_date: date) -> str:
    """Why this record cannot be told: left the school, not yet joined, school closed."""
    if pupil.on_roll_until and on_date > pupil.on_roll_until:
        return f"left the school on {pupil.on_roll_until.isoformat()}"
    if pupil.on_roll_from and on_date < pupil.on_roll_from:
        return f"joins the school on {pupil.on_roll_from.isoformat()}"
    return "" if pupil.school_open else "the school is closed"


def probability(weight: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-weight)) if weight > -1000 else 0.0


def score(
    child: ChildRecord,
    pupil: PupilRow,
    on_date: date,
    weights: Weights,
    rarity: Rarity = Rarity(),  # frozen: one shared default is safe
) -> Candidate:
    """Compare field by field; the match weight is the prior plus each level's bits, and
    an exact agreement on a name counts for more the rarer the name (``rarity``)."""
    pupil_given = names.parts(pupil.given_names)
    preferred = names.parts(pupil.preferred_name)
    pupil_family = names.parts(pupil.family_name)
    given = compare_given(child.given, child.known_as, pupil_given, preferred)
    family = compare_family(child.family, pupil_family)
    swapped = False
    if given not in _SURE_NAMES or family not in _SURE_NAMES:  # worth reading them crosswise?
        crossed = (compare_given(child.family, (), pupil_given, preferred),
                   compare_family(child.given, pupil_family))  # fmt: skip
        swapped = _names_read_crosswise((given, family), crossed, weights)
        if swapped:
            given, family = crossed
    gender = None
    if child.gender and (theirs := gender_code(pupil.gender)):
        gender = "same" if child.gender == theirs else "different"
    levels = (
        given,
        family,
        compare_dob(child.date_of_birth, pupil.date_of_birth),
        compare_postcode(child.postcode, pupil.postcode),
        gender,
        compare_school(child.school_hint, pupil.school_name),
    )
    verdict = _verdict(levels, swapped, weights)
    note = on_roll_note(pupil, on_date) or verdict.veto
    weight, chance = verdict.weight, verdict.score
    if not swapped and (rarity.family_bits or rarity.given_bits):
        weight += rarity.family_bits if family == "exact" else 0.0
        weight += rarity.given_bits if given in _AGREE else 0.0
        chance = probability(weight)
    return Candidate(
        upn=pupil.upn,
        urn=pupil.urn,
        score=chance,
        agreed=verdict.agreed,
        disagreed=verdict.disagreed,
        weight=weight,
        live=not note,
        exact=verdict.exact,
        note=note,
    )


Levels = tuple[str | None, ...]  # one level (or None, not recorded) per field, as FIELDS


@dataclass(frozen=True)
class _Verdict:
    """What one combination of levels means; the same for every pupil that shows it, so
    worked out once (a common name's hundred namesakes mostly share a handful)."""

    weight: float
    score: float
    agreed: tuple[str, ...]
    disagreed: tuple[str, ...]
    veto: str
    exact: bool


@lru_cache(maxsize=4_096)
def _names_read_crosswise(straight: Levels, crossed: Levels, weights: Weights) -> bool:
    """Given and family names recorded the other way round: a likelier reading crosswise."""
    fields = FIELDS[:2]
    as_read = _bits(dict(zip(fields, straight, strict=True)), weights)
    other_way = _bits(dict(zip(fields, crossed, strict=True)), weights)
    return other_way + weights.of("names_swapped", "yes") > as_read


@lru_cache(maxsize=16_384)
def _verdict(levels: Levels, swapped: bool, weights: Weights) -> _Verdict:
    named = dict(zip(FIELDS, levels, strict=True))
    order = "yes" if swapped else "no"
    weight = weights.prior_bits + _bits(named, weights) + weights.of("names_swapped", order)
    agreed, disagreed = _reasons(named)
    if swapped:
        agreed.append("names_swapped")
    exact = not swapped and all(
        named[f] in _AGREE for f in ("given_name", "family_name", "date_of_birth")
    )
    return _Verdict(
        weight, probability(weight), tuple(agreed), tuple(disagreed), _veto(named), exact
    )


def _veto(levels: dict[str, str | None]) -> str:
    """Evidence no weight can outvote: a twin differs only by given name, a sibling also
    by date of birth, so a release needs both to agree (a near miss is agreement)."""
    if levels["given_name"] not in _SURE_GIVEN:
        return "given name not recorded" if levels["given_name"] is None else "given name differs"
    if levels["date_of_birth"] == "different":
        return "date of birth differs"
    return ""


def _bits(levels: dict[str, str | None], weights: Weights) -> float:
    return sum(weights.of(f, lv) for f, lv in levels.items() if lv is not None)


_AGREE = frozenset({"exact", "exact_all", "same"})
_SURE_NAMES = frozenset({"exact", "exact_all", "exact_other", "nickname", "part"})
_SURE_GIVEN = frozenset({"exact", "exact_all", "exact_other", "nickname", "phonetic"})
_DISAGREE = frozenset({"different"})


def _reasons(levels: dict[str, str | None]) -> tuple[list[str], list[str]]:
    """``family_name`` when exact; ``given_name:nickname`` for a partial agreement;
    disagreements likewise; missing fields appear in neither list."""
    agreed: list[str] = []
    disagreed: list[str] = []
    for name in FIELDS:
        level = levels.get(name)
        if level is None:
            continue
        if level in _AGREE:
            agreed.append(name)
        elif level in _DISAGREE:
            disagreed.append(name)
        elif level == "similar":
            disagreed.append(f"{name}:similar")
        else:
            agreed.append(f"{name}:{level}")
    return agreed, disagreed


# --- the decision ----------------------------------------------------------------------------


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Best first: match weight, then live records before those that cannot be told."""
    return sorted(candidates, key=lambda c: (-c.weight, not c.live, c.upn, c.urn))


def decide(
    ranked: list[Candidate], thresholds: Thresholds, *, keep: int = 10, most: int = 30
) -> MatchResult:
    """Release the best child only when it is above the release threshold, on roll, and
    clear of every other child by the margin; otherwise say why a person must look.

    The reviewer sees the best ``keep`` candidates, or every one at or above the review
    threshold up to ``most``: twelve namesakes with no birthday recorded are all listed,
    not ten of them picked by UPN."""
    if not ranked:
        return MatchResult(MatchOutcome.NONE, reason="no pupil record shares a search key")
    best = ranked[0]
    worth_a_look = sum(1 for c in ranked if c.score >= thresholds.review)
    shown = tuple(ranked[: max(keep, min(worth_a_look, most))])
    rival = next((c for c in ranked if c.upn != best.upn), None)
    margin = best.weight - rival.weight if rival else math.inf
    if best.score < thresholds.review:
        return MatchResult(
            MatchOutcome.NONE, shown, f"no pupil scores above the review threshold "
            f"(best {best.score:.3f})"
        )  # fmt: skip
    if rival is not None and rival.score >= thresholds.review and margin < thresholds.margin_bits:
        return MatchResult(
            MatchOutcome.AMBIGUOUS,
            shown,
            f"{len({c.upn for c in ranked if c.score >= thresholds.review})} pupils score "
            f"within {thresholds.margin_bits:g} bits (twins or same-name children?)",
        )
    records = tuple(c for c in ranked if c.upn == best.upn and c.live)
    if not records:
        return MatchResult(MatchOutcome.PARTIAL, shown, f"best match: {best.note}")
    if margin < thresholds.margin_bits:
        return MatchResult(MatchOutcome.PARTIAL, shown, "best match not clear of the next pupil")
    sure = best.score >= thresholds.release
    if best.exact:
        reason = "names and date of birth agree"
        return MatchResult(MatchOutcome.EXACT, shown, reason, records, releasable=sure)
    if sure:
        reason = f"match probability {best.score:.6f}"
        return MatchResult(MatchOutcome.CONFIDENT, shown, reason, records, releasable=True)
    return MatchResult(
        MatchOutcome.PARTIAL, shown, f"best match {best.score:.4f} is below the release threshold"
    )
