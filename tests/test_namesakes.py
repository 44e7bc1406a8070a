"""Fewer children held who need not be (issue 17, item 5): a child whose names and date of
birth agree exactly with one pupil record, with no rival, is released although the police
recorded another address (a family that has moved, or fled to a refuge), unless the names
are common enough that a namesake born the same day and on no roll is likelier than 1 in
1,000 (docs/matching.md, "Namesakes")."""

from __future__ import annotations

import pytest

from consumers.match import match_thresholds
from foundations.settings import Settings
from school_directory.match_weights import Rarity, load_weights
from school_directory.matching import (
    Candidate,
    MatchOutcome,
    Thresholds,
    decide,
    namesake_ratio,
    namesakes_off_roll,
    namesakes_on_roll,
    probability,
)

ROLL = 1_000_000


def exact(namesakes: float | None, disagreed: tuple[str, ...] = ("postcode",)) -> Candidate:
    """An exact match on names and date of birth that the address alone keeps below the
    release threshold (0.997 < 0.999)."""
    weight = 8.4
    assert 0.996 < probability(weight) < 0.999
    return Candidate(
        upn="A123456789012", urn="100001", score=probability(weight), weight=weight,
        agreed=("given_name", "family_name", "date_of_birth"), disagreed=disagreed,
        exact=True, namesakes=namesakes,
    )  # fmt: skip


def on_roll(given_share: float, family_share: float) -> float | None:
    return namesakes_on_roll(Rarity(given_share=given_share, family_share=family_share, roll=ROLL))


def test_the_expected_namesakes_follow_the_documented_sum() -> None:
    # a million pupils over 14 school years, names shared by 1 in 1,000 and 1 in 2,000
    expected = ROLL / 14 * (1 / 1000) * (1 / 2000) / 365.25
    assert on_roll(1 / 1000, 1 / 2000) == pytest.approx(expected)
    assert namesakes_off_roll(expected, 0.08) == pytest.approx(expected * 0.08 / 0.92)
    assert namesakes_on_roll(Rarity()) is None  # no counts: cannot be told


def test_a_family_that_moved_is_released_when_a_namesake_is_unlikely() -> None:
    result = decide([exact(on_roll(1 / 2000, 1 / 5000))], Thresholds())
    assert result.outcome is MatchOutcome.EXACT and result.releasable
    assert "only the address differs" in result.reason
    assert result.chosen[0].urn == "100001"


def test_common_names_are_held_for_a_person() -> None:
    # "Oliver Smith": about 1 in 100 each; a namesake born the same day off the roll is
    # about 1 in 60 (far likelier than 1 in 1,000)
    common = on_roll(1 / 100, 1 / 100)
    assert common is not None and namesakes_off_roll(common, 0.08) > 0.001
    result = decide([exact(common)], Thresholds())
    assert result.outcome is MatchOutcome.EXACT and not result.releasable


@pytest.mark.parametrize(
    "disagreed", [("postcode", "gender"), ("school_hint",), ("gender",)], ids=str
)
def test_anything_but_the_address_disagreeing_still_waits(disagreed: tuple[str, ...]) -> None:
    result = decide([exact(on_roll(1 / 2000, 1 / 5000), disagreed)], Thresholds())
    assert not result.releasable


def test_without_the_rolls_counts_nothing_is_released_this_way() -> None:
    assert not decide([exact(None)], Thresholds()).releasable


def test_a_rival_still_holds_it() -> None:
    best = exact(on_roll(1 / 2000, 1 / 5000))
    twin = Candidate(upn="B123456789012", urn="100001", score=0.9, weight=best.weight - 2)
    result = decide([best, twin], Thresholds())
    assert result.outcome is MatchOutcome.AMBIGUOUS and not result.releasable


def test_the_odds_and_the_off_roll_share_are_settings() -> None:
    thresholds = match_thresholds(Settings(match_namesake_odds=0, match_off_roll_share=0.2))
    assert (thresholds.namesake_odds, thresholds.off_roll_share) == (0, 0.2)
    assert not decide([exact(on_roll(1 / 2000, 1 / 5000))], thresholds).releasable


def test_a_namesake_is_weighed_against_how_the_same_child_would_be_recorded() -> None:
    rarity = Rarity(given_share=1 / 500, family_share=1 / 1000, roll=ROLL)
    moved = ("exact", "exact", "exact", "different", None, None)
    same_child = 0.6 * 0.86 * 0.92 * 0.14  # m of each level in match_weights.json
    ratio = namesake_ratio(rarity, moved, load_weights())
    assert ratio == pytest.approx(namesakes_on_roll(rarity) / same_child)  # type: ignore[operator]
    assert 1 / namesakes_off_roll(ratio, 0.08) == pytest.approx(1954, rel=0.01)  # type: ignore[arg-type]
