"""Scoring a police-recorded child against pupil records, as a careful caseworker would.

Pure rules, no I/O: each field is compared to a level (exact, nickname, one digit wrong,
...), each level weighs log2(m/u) bits from ``match_weights.json`` (Fellegi-Sunter), and
the sum with the prior gives the probability that the pupil record is the child. ``decide``
then says whether the best pupil may be released: above the release threshold, on roll,
and clear of the next pupil by a margin, so twins and same-name children wait for a person.
The indexed candidate search that feeds these rules is in ``school_directory.blocking``,
the field comparisons in ``school_directory.comparisons``, the weights in
``school_directory.match_weights``.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from foundations.nhs_number import normalise_nhs_number
from foundations.vocabulary import gender_code
from school_directory import names
from school_directory.comparisons import (
    VARIANT_YEARS,
    compare_dob,
    compare_family,
    compare_given,
    compare_nhs_number,
    compare_postcode,
    compare_school,
    dob_levels,
)
from school_directory.match_weights import Rarity, Weights

NO_RARITY = Rarity()  # frozen: one shared default is safe
FIELDS = ("given_name", "family_name", "date_of_birth", "postcode", "gender", "school_hint",
          "nhs_number")  # fmt: skip
NHS_DIFFERS = "NHS number differs"  # the veto's note: never released to that school


class Namesakes(StrEnum):
    """Which namesakes the wide name blocks read (``Ranking.namesakes_to_read``)."""

    EVERYWHERE = "everywhere"
    DISTRICT = "district"  # the child's postcode district's, and those of no known district
    POSTCODE = "postcode"  # those at the child's postcode (none when it has no postcode)


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
    # Exact only: how many children of a roll this size are expected to share these names
    # and this birthday, over how likely the same child is to be recorded as the police
    # recorded this one (``namesake_ratio``); None when it cannot be told.
    namesakes: float | None = None
    # The same valid NHS number on both sides, and neither the given name nor the date of
    # birth says another child: decisive (``decide``), whatever the rest of the record.
    decisive: bool = False
    # The directory's row this candidate was scored from (decrypted by the blocking read):
    # the notification reads the chosen pupil's names from it instead of reading the row
    # again. Not part of the candidate's identity, never in its repr (personal data).
    pupil: PupilRow | None = field(default=None, compare=False, repr=False)

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
    # What the police record held that the matcher could not use, said without the value
    # (an NHS number that fails its check digit): for the audit trail and the reviewer.
    warnings: tuple[str, ...] = ()

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
    # An exact match below ``release`` only because the address differs is released when
    # fewer than this many namesakes born the same day are expected off the roll.
    namesake_odds: float = 0.001
    off_roll_share: float = 0.08  # of the children the police meet, on no roll we hold


# School years a roll spans (reception to year 13): its children per birth year.
SCHOOL_YEARS = 14
DAYS_A_YEAR = 365.25


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
    nhs_number: str = ""  # ten digits when valid; "" when not recorded or not valid


class PupilRow(NamedTuple):
    """The columns of one pupil record the matcher reads, and its school. A named tuple,
    not a frozen dataclass: a common name's lookup builds hundreds (a tenth the cost)."""

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
    nhs_number: str = ""  # ten digits, valid when the import kept it; "" when none


def child_record(
    given_names: str | None,
    family_name: str | None,
    *,
    known_as: str | None = None,
    date_of_birth: date | None = None,
    postcode: str | None = None,
    gender: str | None = None,
    school_hint: str | None = None,
    nhs_number: str | int | None = None,
) -> ChildRecord:
    """``nhs_number`` as recorded: kept only when valid (``foundations.nhs_number``)."""
    return ChildRecord(
        given=names.parts(given_names),
        known_as=names.parts(known_as),
        family=names.parts(family_name),
        date_of_birth=date_of_birth,
        postcode=names.postcode(postcode),
        gender=gender_code(gender),
        school_hint=" ".join(names.parts(school_hint)),
        nhs_number=normalise_nhs_number(nhs_number),
    )


def on_roll_note(pupil: PupilRow, on_date: date) -> str:
    """Why this record cannot be told: left the school, not yet joined, school closed."""
    if pupil.on_roll_until and on_date > pupil.on_roll_until:
        return f"left the school on {pupil.on_roll_until.isoformat()}"
    if pupil.on_roll_from and on_date < pupil.on_roll_from:
        return f"joins the school on {pupil.on_roll_from.isoformat()}"
    return "" if pupil.school_open else "the school is closed"


def namesakes_on_roll(rarity: Rarity) -> float | None:
    """The expected number of children of the roll's size who share this child's first
    given name, family name and birthday (docs/matching.md, "Namesakes"):

        roll / 14 school years x share(given) x share(family) / 365.25

    None without the roll's name counts."""
    if rarity.given_share is None or rarity.family_share is None or rarity.roll <= 0:
        return None
    per_year = rarity.roll / SCHOOL_YEARS
    return per_year * rarity.given_share * rarity.family_share / DAYS_A_YEAR


def namesake_ratio(rarity: Rarity, levels: Levels, weights: Weights) -> float | None:
    """``namesakes_on_roll`` over the chance that the same child is recorded with these
    names, this birthday and this address (the m of each level, ``match_weights.json``):
    a namesake must be likelier than the child's own record, not than nothing."""
    on_roll = namesakes_on_roll(rarity)
    if on_roll is None:
        return None
    same = 1.0
    for name, level in zip(FIELDS[:4], levels[:4], strict=True):
        if level is not None:
            same *= weights.m[name][level]
    return on_roll / same


def namesakes_off_roll(ratio: float, off_roll_share: float) -> float:
    """The odds that the child is a namesake on no roll the directory knows rather than
    this pupil: there are share / (1 - share) such children for each one on the roll."""
    return ratio * off_roll_share / (1 - off_roll_share)


def probability(weight: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-weight)) if weight > -1000 else 0.0


def score(
    child: ChildRecord,
    pupil: PupilRow,
    on_date: date,
    weights: Weights,
    rarity: Rarity = NO_RARITY,
) -> Candidate:
    """Compare field by field; the match weight is the prior plus each level's bits, and
    an exact agreement on a name counts for more the rarer the name (``rarity``)."""
    pairs = Pairs(child)
    return _scored(pairs, pupil, pairs.others(pupil), on_date, weights, rarity)


class Pairs:
    """One child's field comparisons with pupil records, each pair compared once and
    forgotten with the lookup. A process-wide cache of pairs kept a key for each new pair,
    and a new child's pairs are mostly new (two in three given-name pairs over 3,000
    lookups at 9 M pupils): the garbage collector walked those keys over and over
    (docs/performance.md)."""

    __slots__ = ("_dates", "_family", "_gender", "_given", "_school", "child")

    def __init__(self, child: ChildRecord) -> None:
        self.child = child
        # the levels of the likely corruptions of the child's date of birth: every other
        # date within VARIANT_YEARS is "different" (comparisons.dob_levels)
        born = child.date_of_birth
        self._dates = dob_levels(born) if born is not None else {}
        self._gender: dict[str, str | None] = {}
        self._school: dict[str, str | None] = {}
        # keyed by the pupil's side, and whether the child's names are read crosswise
        self._family: dict[tuple[tuple[str, ...], bool], str | None] = {}
        self._given: dict[tuple[tuple[str, ...], tuple[str, ...], bool], str | None] = {}

    def others(self, pupil: PupilRow) -> Levels:
        """The levels of every field but the names (``FIELDS[2:]``): cheap to compare, and
        enough with the names' best levels to bound what a pupil can score (``Ranking``)."""
        child = self.child
        if (gender := self._gender.get(pupil.gender, _UNKNOWN)) is _UNKNOWN:
            gender = self._gender[pupil.gender] = _gender_level(child.gender, pupil.gender)
        born = pupil.date_of_birth
        if (dob := self._dates.get(born)) is None and (recorded := child.date_of_birth):
            far = abs(born.year - recorded.year) > VARIANT_YEARS
            dob = compare_dob(recorded, born) if far else "different"
        school = self._school.get(pupil.school_name, _UNKNOWN) if child.school_hint else None
        if school is _UNKNOWN:
            school = self._school[pupil.school_name] = compare_school(
                child.school_hint, pupil.school_name
            )
        return (
            dob,
            compare_postcode(child.postcode, pupil.postcode),
            gender,
            school,
            compare_nhs_number(child.nhs_number, pupil.nhs_number),
        )

    def family(self, pupil_family: tuple[str, ...], crossed: bool = False) -> str | None:
        """The pupil's family name against the child's (``crossed``: given) names."""
        key = (pupil_family, crossed)
        if (level := self._family.get(key, _UNKNOWN)) is _UNKNOWN:
            child = self.child
            level = compare_family(child.given if crossed else child.family, pupil_family)
            self._family[key] = level
        return level

    def given(
        self, pupil_given: tuple[str, ...], preferred: tuple[str, ...], crossed: bool = False
    ) -> str | None:
        """The pupil's given and preferred names against the child's given and known-as
        names (``crossed``: the child's family name)."""
        key = (pupil_given, preferred, crossed)
        if (level := self._given.get(key, _UNKNOWN)) is _UNKNOWN:
            child = self.child
            if crossed:
                level = compare_given(child.family, (), pupil_given, preferred)
            else:
                level = compare_given(child.given, child.known_as, pupil_given, preferred)
            self._given[key] = level
        return level


_UNKNOWN = "not compared yet"  # not a level (None is one: not recorded)


def _gender_level(child_gender: str, pupil_gender: str) -> str | None:
    """The same gender or not; None when either side has none the vocabulary knows."""
    if not child_gender or not (theirs := gender_code(pupil_gender)):
        return None
    return "same" if child_gender == theirs else "different"


def _scored(
    pairs: Pairs,
    pupil: PupilRow,
    others: Levels,
    on_date: date,
    weights: Weights,
    rarity: Rarity,
) -> Candidate:
    child = pairs.child
    pupil_given = names.parts(pupil.given_names)
    preferred = names.parts(pupil.preferred_name)
    pupil_family = names.parts(pupil.family_name)
    given = pairs.given(pupil_given, preferred)
    family = pairs.family(pupil_family)
    swapped = False
    if given not in _SURE_NAMES or family not in _SURE_NAMES:  # worth reading them crosswise?
        crossed_family = pairs.family(pupil_family, crossed=True)
        # The given-name comparison is the dearer one: made only when, at its best, the
        # names read crosswise could be the likelier reading.
        if _crossed_bits(child, crossed_family, weights) > _name_bits((given, family), weights):
            crossed = (pairs.given(pupil_given, preferred, crossed=True), crossed_family)
            swapped = _names_read_crosswise((given, family), crossed, weights)
            if swapped:
                given, family = crossed
    levels = (given, family, *others)
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
        namesakes=namesake_ratio(rarity, levels, weights) if verdict.exact else None,
        decisive=verdict.decisive,
        pupil=pupil,
    )


def _crossed_bits(child: ChildRecord, crossed_family: str | None, weights: Weights) -> float:
    """The most the names read crosswise can weigh, their family-name level known: the
    child's family name against the pupil's given names at its best level, less the cost
    of the swap. ("exact_all" needs a family name of two or more words.)"""
    given = _best_bits("given_name", len(set(child.family)) > 1, 0.0, weights)
    family = _name_bits((None, crossed_family), weights)
    return given + family + weights.of("names_swapped", "yes")


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
    decisive: bool = False


@lru_cache(maxsize=4_096)
def _names_read_crosswise(straight: Levels, crossed: Levels, weights: Weights) -> bool:
    """Given and family names recorded the other way round: a likelier reading crosswise."""
    as_read, other_way = _name_bits(straight, weights), _name_bits(crossed, weights)
    return other_way + weights.of("names_swapped", "yes") > as_read


@lru_cache(maxsize=4_096)
def _name_bits(levels: Levels, weights: Weights) -> float:
    """What the given and family names' levels weigh together (None: not recorded)."""
    return _bits(dict(zip(FIELDS[:2], levels, strict=True)), weights)


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
    veto = _veto(named)
    decisive = named["nhs_number"] == "exact" and not veto
    return _Verdict(
        weight, probability(weight), tuple(agreed), tuple(disagreed), veto, exact, decisive
    )


def _veto(levels: dict[str, str | None]) -> str:
    """Evidence no weight can outvote: a twin differs only by given name, a sibling also
    by date of birth, so a release needs both to agree (a near miss is agreement). Two
    different valid NHS numbers are two children. The same NHS number stands in for a
    given name not recorded, never for one that differs (a brother's number copied)."""
    if levels["nhs_number"] == "different":
        return NHS_DIFFERS
    if levels["given_name"] is None and levels["nhs_number"] == "exact":
        return "date of birth differs" if levels["date_of_birth"] == "different" else ""
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


class Ranking:
    """One child's pupil records ranked as far as ``decide`` reads them, scoring only the
    records that could be in it.

    Each record's ceiling is the most it could weigh: its other fields and its family
    names compared (cheap, and each family name once a lookup), its given name at its best
    level. Records are scored best ceiling first, and the rest are left unscored once a
    ceiling falls below the review threshold, below the ``KEEP`` best weights and below
    the best pupil's rival: such a record cannot be shown to a reviewer, held for review,
    released or change a verdict. A record whose NHS number agrees is always scored (it
    can decide alone), and so is every record of a pupil already scored (``decide``
    names each school a chosen pupil is on roll at). At 9 M pupils a common name's blocks find
    hundreds of namesakes born on other days or in other families; most are never
    compared by given name (docs/matching.md, "Scoring only what can matter").

    ``of`` may be asked again with more records (the wider searches): a record is
    compared and scored once."""

    def __init__(
        self,
        child: ChildRecord,
        on_date: date,
        weights: Weights,
        rarity: Rarity = NO_RARITY,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.child, self.on_date, self.weights, self.rarity = child, on_date, weights, rarity
        thresholds = thresholds or Thresholds()
        self._review, self._margin = _bits_at(thresholds.review), thresholds.margin_bits
        self._most = _best_name_bits(child, weights, rarity)
        # what a namesake found only by both names and the birth year can weigh (born on
        # another day): in another district, or in the child's (not at the same postcode)
        self._far = _wide_ceiling(child, weights, self._most, "different")
        self._near = _wide_ceiling(child, weights, self._most, "sector")
        several = len(set(child.given)) > 1
        self._given_most = _best_bits("given_name", several, rarity.given_bits, weights)
        self._pairs = Pairs(child)
        # each record's ceiling and the levels of its other fields; what each family
        # name adds to a ceiling (a common name's blocks find a few dozen family names)
        self._bounds: dict[tuple[str, str], tuple[float, Levels]] = {}
        self._named: dict[str, float] = {}
        self._scores: dict[tuple[str, str], Candidate] = {}

    def of(self, pupils: list[PupilRow]) -> list[Candidate]:
        queue = [(-self._ceiling(p)[0], n, p) for n, p in enumerate(pupils)]
        heapq.heapify(queue)  # best ceiling first
        best_weights: list[float] = []  # a min-heap of the KEEP best weights so far
        best: Candidate | None = None
        rival = -math.inf  # the best weight of any pupil but the best one
        scored: list[Candidate] = []
        while queue:
            ceiling, _, pupil = queue[0]
            kept = best_weights[0] if len(best_weights) == KEEP else -math.inf
            if -ceiling + _ROUNDING < min(self._review, kept, rival):
                break  # no record left could be shown, held, released or change the verdict
            heapq.heappop(queue)
            found = self._score(pupil)
            scored.append(found)
            if len(best_weights) < KEEP:
                heapq.heappush(best_weights, found.weight)
            else:
                heapq.heappushpop(best_weights, found.weight)
            if best is None or found.upn == best.upn:
                best = found if best is None or found.weight > best.weight else best
            elif found.weight > best.weight:
                best, rival = found, best.weight
            else:
                rival = max(rival, found.weight)
        upns = {c.upn for c in scored}
        scored += [self._score(pupil) for *_, pupil in queue if pupil.upn in upns]
        return rank(scored)

    def namesakes_to_read(self, found: list[Candidate] | None = None) -> Namesakes:
        """Which namesakes the wide name blocks (both names and the birth year, or both
        names alone) need to read: those that could change the verdict, born on another
        day (a likely corruption of the date the narrow blocks find). Before any record is
        read (``found`` None): those that could reach the review threshold. Once
        ``found`` is ranked: also those that could be the rival, within the margin, of a
        best pupil above it (a release held back: "not clear of the next pupil"); and all
        of them when nothing was found, so that "no pupil record shares a search key" is
        never said of a roll that has namesakes."""
        if found is not None and not found:
            return Namesakes.EVERYWHERE
        best = found[0] if found else None
        for reach, ceiling in ((Namesakes.EVERYWHERE, self._far), (Namesakes.DISTRICT, self._near)):
            ceiling += _ROUNDING
            if ceiling >= self._review or (
                best is not None and best.weight >= self._review
                and ceiling > best.weight - self._margin
            ):  # fmt: skip
                return reach
        return Namesakes.POSTCODE

    def _ceiling(self, pupil: PupilRow) -> tuple[float, Levels]:
        """The most a record could weigh (infinite when its NHS number agrees: it is
        always scored): its other fields and its family names compared, its given name at
        its best; and the levels of its other fields."""
        key = (pupil.upn, pupil.urn)
        if (known := self._bounds.get(key)) is None:
            others = self._pairs.others(pupil)
            if others[_NHS_NUMBER] == "exact":
                ceiling = math.inf
            else:
                if (most := self._named.get(pupil.family_name)) is None:
                    most = self._named[pupil.family_name] = self._names_most(pupil.family_name)
                ceiling = self.weights.prior_bits + _other_bits(others, self.weights) + most
            known = self._bounds[key] = (ceiling, others)
        return known

    def _names_most(self, family_name: str) -> float:
        """The most the names can weigh with this family name: the family names compared,
        read as recorded and crosswise; the given name, the dearer comparison, at its
        best."""
        weights = self.weights
        pupil_family = names.parts(family_name)
        family = self._pairs.family(pupil_family)
        family_bits = 0.0 if family is None else weights.of("family_name", family)
        if family == "exact":
            family_bits += self.rarity.family_bits
        straight = self._given_most + family_bits + weights.of("names_swapped", "no")
        crossed_family = self._pairs.family(pupil_family, crossed=True)
        return max(straight, _crossed_bits(self.child, crossed_family, weights))

    def _score(self, pupil: PupilRow) -> Candidate:
        key = (pupil.upn, pupil.urn)
        if (found := self._scores.get(key)) is None:
            others = self._ceiling(pupil)[1]
            found = self._scores[key] = _scored(
                self._pairs, pupil, others, self.on_date, self.weights, self.rarity
            )
        return found


KEEP, MOST = 10, 30  # candidates a reviewer sees: the best KEEP, or all worth a look to MOST
_NHS_NUMBER = FIELDS.index("nhs_number") - 2  # its place among the other levels
_ROUNDING = 1e-6  # bits: a ceiling and a weight are sums of the same terms, in another order


def _bits_at(probability_: float) -> float:
    """The least match weight whose probability reaches ``probability_``."""
    if probability_ <= 0.0:
        return -math.inf
    if probability_ >= 1.0:
        return math.inf
    return math.log2(probability_ / (1.0 - probability_))


@lru_cache(maxsize=1_024)
def _other_bits(levels: Levels, weights: Weights) -> float:
    return _bits(dict(zip(FIELDS[2:], levels, strict=True)), weights)


def _wide_ceiling(child: ChildRecord, weights: Weights, name_bits: float, postcode: str) -> float:
    """The most a record can weigh whose date of birth is not the child's nor a likely
    corruption of it (the narrow blocks find those) and whose postcode compares at best
    at level ``postcode``: its names at their best (``name_bits``), its gender and school
    agreeing, its NHS number not known (the child's own number finds its pupil by its own
    block)."""
    levels = (
        "different" if child.date_of_birth else None,
        postcode if child.postcode else None,
        "same" if child.gender else None,
        "same" if child.school_hint else None,
        None,
    )
    return weights.prior_bits + _other_bits(levels, weights) + name_bits


def _best_name_bits(child: ChildRecord, weights: Weights, rarity: Rarity) -> float:
    """The most a pupil's names can weigh against this child's, read as recorded (with
    the rarity of an exact name) or crosswise."""
    given = _best_bits("given_name", len(set(child.given)) > 1, rarity.given_bits, weights)
    family = _best_bits("family_name", True, rarity.family_bits, weights)
    straight = given + family + weights.of("names_swapped", "no")
    crossed = (
        _best_bits("given_name", len(set(child.family)) > 1, 0.0, weights)
        + _best_bits("family_name", True, 0.0, weights)
        + weights.of("names_swapped", "yes")
    )
    return max(straight, crossed)


@lru_cache(maxsize=256)
def _best_bits(field_name: str, several_words: bool, rarity_bits: float, weights: Weights) -> float:
    """A name field's best level: an agreement counts its rarity too ("exact_all" needs
    two or more words on the police side); 0 when either side has none."""
    best = 0.0
    for level, bits in weights.bits[field_name].items():
        if level == "exact_all" and not several_words:
            continue
        agrees = level in _AGREE if field_name == "given_name" else level == "exact"
        best = max(best, bits + (rarity_bits if agrees else 0.0))
    return best


def moved_house(best: Candidate, thresholds: Thresholds) -> bool:
    """An exact match held back only by its address (a family that has moved, or fled to
    a refuge): nothing else disagrees, and a namesake born the same day on no roll the
    directory knows is less likely than ``namesake_odds``."""
    if best.namesakes is None or not all(d.startswith("postcode") for d in best.disagreed):
        return False
    return namesakes_off_roll(best.namesakes, thresholds.off_roll_share) < thresholds.namesake_odds


def decide(
    ranked: list[Candidate], thresholds: Thresholds, *, keep: int = KEEP, most: int = MOST
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
    decided = next((c for c in ranked if c.decisive), None)
    if decided is not None:
        return _decided_by_nhs_number(decided, ranked, shown)
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
        if not sure and moved_house(best, thresholds):
            odds = namesakes_off_roll(best.namesakes or 0.0, thresholds.off_roll_share)
            one_in = f"1 in {1 / odds:,.0f}" if odds > 0 else "none"
            reason = (
                "names and date of birth agree; only the address differs, and a namesake "
                f"born the same day on no roll is unlikely ({one_in})"
            )
            return MatchResult(MatchOutcome.EXACT, shown, reason, records, releasable=True)
        reason = "names and date of birth agree"
        return MatchResult(MatchOutcome.EXACT, shown, reason, records, releasable=sure)
    if sure:
        reason = f"match probability {best.score:.6f}"
        return MatchResult(MatchOutcome.CONFIDENT, shown, reason, records, releasable=True)
    return MatchResult(
        MatchOutcome.PARTIAL, shown, f"best match {best.score:.4f} is below the release threshold"
    )


def _decided_by_nhs_number(
    decided: Candidate, ranked: list[Candidate], shown: tuple[Candidate, ...]
) -> MatchResult:
    """The same valid NHS number on the police record and on one pupil's, and neither the
    given name nor the date of birth says another child: that pupil, whatever the address,
    the family name or a namesake with the same birthday (a namesake whose number differs
    is vetoed, one without a number is no rival to a number that agrees). Held only when
    another pupil (another UPN) carries the same number too, or the pupil is off roll.
    The pupil's records are listed first, so the reviewer sees the one the number names."""
    first = [c for c in ranked if c.upn == decided.upn]
    shown = tuple(first + [c for c in shown if c.upn != decided.upn])
    others = {c.upn for c in ranked if c.upn != decided.upn and "nhs_number" in c.agreed}
    if others:
        return MatchResult(
            MatchOutcome.AMBIGUOUS,
            shown,
            f"{len(others) + 1} pupil records carry the NHS number recorded",
        )
    records = tuple(c for c in ranked if c.upn == decided.upn and c.live)
    if not records:
        return MatchResult(MatchOutcome.PARTIAL, shown, f"NHS number agrees; {decided.note}")
    if decided.exact:
        reason = "NHS number, names and date of birth agree"
        return MatchResult(MatchOutcome.EXACT, shown, reason, records, releasable=True)
    reason = "NHS number agrees"
    return MatchResult(MatchOutcome.CONFIDENT, shown, reason, records, releasable=True)
