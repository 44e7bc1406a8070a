"""Scoring only the pupils that can matter (issue 16: a lookup at 9 M pupils): a pupil
whose best possible weight cannot reach the review threshold, the best ten or the best
pupil's rival is left unscored, and the names are read crosswise only when that reading
could win. Neither may change a verdict, a candidate shown or its score: a wrong school
and a missed child are the two failures, and a shortcut must cause neither."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from typing import Any

import pytest

from foundations.nhs_number import with_check_digit
from school_directory import matching
from school_directory.match_weights import Rarity, load_weights
from school_directory.matching import (
    ChildRecord,
    PupilRow,
    Ranking,
    Thresholds,
    child_record,
    decide,
    rank,
    score,
)

DAY = date(2026, 11, 20)
WEIGHTS = load_weights()
GIVEN = ["Oliver", "Olly", "Olivia", "Amelia", "Amelie", "Muhammad", "Mohammed", "Isla", "Noah",
         "Jack", "John", "Aisha", "Ayesha", "Safa Yasmin", "Yasmin Safa", "Alfie"]  # fmt: skip
FAMILY = ["Smith", "Smyth", "Smith-Jones", "Jones", "Khan", "Kahn", "Kowalski", "Kovalski",
          "Brown", "Browne", "Al Hassan", "Alhassan", "Oliver", "Noah"]  # fmt: skip
POSTCODES = ["SO23 8UJ", "SO23 8UL", "SO23 9AA", "SO24 1AB", "BH1 1AA", ""]
NHS = [with_check_digit(f"94347658{n}") for n in range(10)]
BORN = date(2016, 9, 14)


def _born(rng: random.Random) -> date:
    return rng.choice([
        BORN, date(2016, 9, 14), date(2016, 9, 4), date(2016, 9, 15), date(2015, 9, 14),
        BORN + timedelta(days=rng.randrange(-2000, 2000)),
    ])  # fmt: skip


def _pupils(rng: random.Random) -> list[PupilRow]:
    rows = []
    for n in range(rng.randrange(1, 80)):
        upn = f"A{rng.randrange(max(1, n)):012d}"  # some pupils on two schools' rolls
        rows.append(PupilRow(
            upn=upn,
            urn=str(100_000 + n),
            given_names=" ".join(rng.sample(GIVEN, rng.choice([1, 1, 2]))),
            family_name=rng.choice(FAMILY),
            preferred_name=rng.choice(["", "", "", "Ollie", "Mo"]),
            date_of_birth=_born(rng),
            gender=rng.choice(["F", "M", ""]),
            postcode=rng.choice(POSTCODES),
            on_roll_from=date(2021, 9, 1),
            on_roll_until=rng.choice([None, None, date(2025, 7, 20)]),
            school_name=rng.choice(["Example Primary School", "Hill Top Academy"]),
            school_open=rng.random() > 0.05,
            nhs_number=rng.choice(["", "", "", *NHS]) or "",
        ))  # fmt: skip
    return rows


def _child(rng: random.Random, pupils: list[PupilRow]) -> ChildRecord:
    if rng.random() < 0.8:  # one of the pupils as the police recorded them
        p = rng.choice(pupils)
        given, family, born = p.given_names, p.family_name, p.date_of_birth
        postcode, gender, nhs = p.postcode, p.gender, p.nhs_number
    else:  # a child on no roll here
        given, family, born = rng.choice(GIVEN), rng.choice(FAMILY), _born(rng)
        postcode, gender, nhs = rng.choice(POSTCODES), rng.choice(["F", "M"]), ""
    if rng.random() < 0.2:
        given, family = family, given  # recorded the other way round
    return child_record(
        rng.choice([given, given, rng.choice(GIVEN), ""]),
        rng.choice([family, family, rng.choice(FAMILY)]),
        known_as=rng.choice(["", "", "Ollie"]),
        date_of_birth=rng.choice([born, born, _born(rng), None]),
        postcode=rng.choice([postcode, rng.choice(POSTCODES)]),
        gender=rng.choice([gender, ""]),
        school_hint=rng.choice(["", "", "Example Primary"]),
        nhs_number=rng.choice([nhs, "", rng.choice(NHS)]),
    )


def _rarity(rng: random.Random) -> Rarity:
    if rng.random() < 0.3:
        return Rarity()
    return Rarity(
        family_bits=rng.uniform(-4, 8),
        given_bits=rng.uniform(-4, 8),
        family_share=rng.uniform(0.0001, 0.02),
        given_share=rng.uniform(0.0001, 0.02),
        roll=rng.choice([1_000, 1_000_000, 9_000_000]),
    )


def _thresholds(rng: random.Random) -> Thresholds:
    return rng.choice([
        Thresholds(),
        Thresholds(review=0.2, release=0.99),
        Thresholds(review=0.0001, margin_bits=4.0),
        Thresholds(review=0.9, release=0.9999, margin_bits=20.0),
    ])  # fmt: skip


def _every_pupil_scored(child: ChildRecord, pupils: list[PupilRow], rarity: Rarity) -> list[Any]:
    return rank([score(child, p, DAY, WEIGHTS, rarity) for p in pupils])


@pytest.mark.parametrize("seed", range(40))
def test_leaving_pupils_that_cannot_matter_unscored_never_changes_a_verdict(seed: int) -> None:
    """The verdict, every candidate shown with its score and reasons, and the records
    chosen are those of scoring every pupil, for any thresholds."""
    rng = random.Random(seed)
    for _ in range(50):
        pupils = _pupils(rng)
        child, rarity, thresholds = _child(rng, pupils), _rarity(rng), _thresholds(rng)
        expected = decide(_every_pupil_scored(child, pupils, rarity), thresholds)
        found = Ranking(child, DAY, WEIGHTS, rarity, thresholds).of(pupils)
        assert decide(found, thresholds) == expected


@pytest.mark.parametrize("seed", range(10))
def test_names_are_read_crosswise_only_when_that_reading_could_win(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(1_000 + seed)
    cases = []
    for _ in range(100):
        pupils = _pupils(rng)
        cases.append((_child(rng, pupils), pupils, _rarity(rng)))
    shortcut = [_every_pupil_scored(c, p, r) for c, p, r in cases]
    monkeypatch.setattr(matching, "_crossed_bits", lambda *_: math.inf)  # always compare
    assert shortcut == [_every_pupil_scored(c, p, r) for c, p, r in cases]


def _namesakes(n: int) -> list[PupilRow]:
    """``n`` Olivers Smith born years apart, at other postcodes: a common name at 9 M."""
    amy = PupilRow("A000000000001", "100001", "Amy Louise", "Doe", "", BORN, "F", "SO23 8UJ",
                   date(2021, 9, 1), None, "Example Primary School", True)  # fmt: skip
    return [
        amy._replace(
            upn=f"B{k:012d}",
            urn=str(200_000 + k),
            given_names="Oliver",
            family_name="Smith",
            date_of_birth=date(2010 + k % 5, 1 + k % 12, 1 + k % 28),
            gender="M",
            postcode="BH1 1AA",
        )
        for k in range(n)
    ]


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    scored: list[tuple[str, str]] = []
    real = matching._scored

    def counted(child: ChildRecord, pupil: PupilRow, *rest: Any) -> Any:
        scored.append((pupil.upn, pupil.urn))
        return real(child, pupil, *rest)

    monkeypatch.setattr(matching, "_scored", counted)
    return scored


def test_namesakes_born_years_apart_are_not_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Oliver Smith at 9 M: twenty Olivers of other families born the same day outweigh
    any of three hundred Oliver Smiths born years before or after, whatever their names."""
    oliver = _namesakes(1)[0]._replace(upn="C000000000001", date_of_birth=BORN,
                     postcode="SO23 8UJ")  # fmt: skip
    same_day = [
        p._replace(family_name=family, date_of_birth=BORN)
        for p, family in zip(_namesakes(20), ["Brown", "Jones"] * 10, strict=True)
    ]
    far = [p._replace(upn=f"D{p.upn[1:]}", urn=f"4{p.urn[1:]}") for p in _namesakes(300)]
    pupils = [*far, *same_day, oliver]
    child = child_record("Oliver", "Smith", date_of_birth=BORN, postcode="SO23 8UJ", gender="M")
    scored = _counting(monkeypatch)
    found = Ranking(child, DAY, WEIGHTS, Rarity(), Thresholds()).of(pupils)
    assert found[0].upn == oliver.upn
    assert len(scored) == 21  # the child and the twenty born the same day
    assert decide(found, Thresholds()) == decide(
        _every_pupil_scored(child, pupils, Rarity()), Thresholds()
    )


def test_a_pupil_whose_nhs_number_agrees_is_scored_however_unlikely_it_looks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same NHS number decides alone (``decide``): that pupil is never left unscored,
    though nothing else about the record agrees."""
    nhs = NHS[0]
    assert nhs
    named = _namesakes(1)[0]._replace(upn="C000000000002", family_name="Kowalski", gender="F",
                    nhs_number=nhs, date_of_birth=date(2012, 1, 1))  # fmt: skip
    pupils = [*_namesakes(40), named]
    child = child_record("", "Brown", postcode="SO23 8UJ", gender="M", nhs_number=nhs)
    found = decide(Ranking(child, DAY, WEIGHTS, Rarity(), Thresholds()).of(pupils), Thresholds())
    assert found.chosen and found.chosen[0].upn == named.upn
    assert found == decide(_every_pupil_scored(child, pupils, Rarity()), Thresholds())


def test_every_school_a_chosen_pupil_is_on_roll_at_is_scored() -> None:
    """A dual-registered child's second record may look unlikely on its own (the other
    school holds an old address): it is scored all the same, and named."""
    oliver = _namesakes(1)[0]._replace(upn="C000000000003", date_of_birth=BORN,
                     postcode="SO23 8UJ")  # fmt: skip
    second = oliver._replace(urn="300001", postcode="BH1 1AA", date_of_birth=date(2011, 2, 3))
    pupils = [*_namesakes(200), second, oliver]
    child = child_record("Oliver", "Smith", date_of_birth=BORN, postcode="SO23 8UJ", gender="M")
    found = Ranking(child, DAY, WEIGHTS, Rarity(), Thresholds()).of(pupils)
    assert {(c.upn, c.urn) for c in found if c.upn == oliver.upn} == {
        (oliver.upn, oliver.urn),
        (second.upn, second.urn),
    }


def test_records_found_by_a_wider_search_are_ranked_with_those_before_each_scored_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No one likely in the blocks: the wider searches' records join them, and the
    ranking is that of scoring them all together, with no record compared twice."""
    rng = random.Random(99)
    for _ in range(100):
        first, wider = _pupils(rng), _pupils(rng)
        wider = [p._replace(urn=f"9{p.urn}") for p in wider]
        child, rarity, thresholds = _child(rng, first + wider), _rarity(rng), _thresholds(rng)
        scored = _counting(monkeypatch)
        ranking = Ranking(child, DAY, WEIGHTS, rarity, thresholds)
        ranking.of(first)
        found = ranking.of(first + wider)
        assert len(scored) == len(set(scored))  # none compared twice
        expected = _every_pupil_scored(child, first + wider, rarity)
        assert decide(found, thresholds) == decide(expected, thresholds)
        monkeypatch.undo()
