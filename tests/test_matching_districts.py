"""A common name's namesakes far away (issue 16: a lookup at 9 M pupils). Both names and
the birth year (the block that finds a child whose date of birth was recorded wrong
altogether) find hundreds of Oliver Smiths across England, once cut at a hundred in no
particular order. A namesake born on another day whose postcode is in another district
cannot reach the review threshold when the names are that common, so for such a child
the block reads only the child's district and the pupils of no known district. These
tests hold that to its word: the bound is a true bound, a verdict is the one reading
every district gives, and the child recorded with the wrong date is found among the
namesakes that used to crowd them out."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from consumers.match import match_child
from foundations.database import _alembic_config, make_engine, session_factory, transaction, upgrade
from foundations.models import Pupil
from schemas.incident import Person
from school_directory import blocking, frequencies, imports, matching
from school_directory.comparisons import VARIANT_YEARS, compare_dob, dob_levels, dob_variants
from school_directory.match_weights import Rarity, load_weights
from school_directory.matching import (
    MatchOutcome,
    Namesakes,
    PupilRow,
    Ranking,
    Thresholds,
    child_record,
    score,
)
from tests.conftest import TEST_KEYRING
from tests.factories import child, upn, write_directory

DAY = date(2026, 11, 20)
WEIGHTS = load_weights()
GIVEN = ["Oliver", "Olly", "Olivia", "Muhammad", "Mohammed", "Isla", "Jack", "Safa Yasmin"]
FAMILY = ["Smith", "Smyth", "Smith-Jones", "Jones", "Khan", "Kowalski", "Oliver"]
THRESHOLDS = [
    Thresholds(),
    Thresholds(review=0.2, release=0.99),
    Thresholds(review=0.0001, margin_bits=4.0),
    Thresholds(review=0.9, release=0.9999, margin_bits=20.0),
]


@pytest.mark.parametrize("year", [2012, 2016, 2020])
def test_a_date_of_that_year_is_a_likely_corruption_or_a_different_date(year: int) -> None:
    """What the narrow blocks search (``dob_variants``) is every date that compares as
    more than "different": the wide block's other rows are all "different"."""
    rng = random.Random(year)
    for born in (date(year, 1, 1) + timedelta(days=rng.randrange(366)) for _ in range(20)):
        variants = set(dob_variants(born))
        day = date(year, 1, 1)
        while day.year == year:
            assert (day in variants) == (compare_dob(born, day) != "different"), (born, day)
            day += timedelta(days=1)


def _namesake(rng: random.Random, born: date, postcode: str) -> PupilRow:
    """A pupil with the child's names or sound-alikes, born that year on a day that is not
    a likely corruption of the child's, living at ``postcode``."""
    variants = set(dob_variants(born))
    day = born
    while day in variants:
        day = date(born.year, 1, 1) + timedelta(days=rng.randrange(365))
    return PupilRow(
        upn=f"A{rng.randrange(10**12):012d}",
        urn="100001",
        given_names=" ".join(rng.sample(GIVEN, rng.choice([1, 2]))),
        family_name=rng.choice(FAMILY),
        preferred_name=rng.choice(["", "Ollie"]),
        date_of_birth=day,
        gender=rng.choice(["F", "M", ""]),
        postcode=postcode,
        on_roll_from=None,
        on_roll_until=None,
        school_name=rng.choice(["Example Primary School", "Hill Top Academy"]),
        school_open=True,
        nhs_number="",
    )


def _elsewhere(rng: random.Random, postcode: str, reach: Namesakes) -> str:
    """A postcode the wide blocks leave unread at ``reach``: another district's, or (at
    the child's postcode only) another in the child's district, or none."""
    district = postcode.split(" ")[0] if postcode else ""
    if reach is Namesakes.DISTRICT or not postcode:
        other = rng.choice([d for d in ("BH1", "SO24", "PO7", "SO2", "SO233") if d != district])
        return f"{other} {rng.randrange(10)}AB"
    same = rng.choice([f"{district} {rng.randrange(10)}{rng.choice('ABZ')}Q", "", "BH1 1AB"])
    return same if same != postcode else ""


@pytest.mark.parametrize("seed", range(20))
def test_the_namesakes_left_unread_stay_under_the_review_threshold(seed: int) -> None:
    """Whatever the names (as recorded, crosswise, sound-alikes), their rarity, gender,
    school hint and thresholds: a namesake born on another day whom the wide blocks leave
    unread (in another district; or anywhere but the child's postcode) cannot reach the
    review threshold."""
    rng = random.Random(seed)
    reaches = []
    for _ in range(200):
        born = date(2016, 1, 1) + timedelta(days=rng.randrange(365))
        postcode = rng.choice(["SO23 8UJ", "SO22 5HX", ""])
        record = child_record(
            " ".join(rng.sample(GIVEN, rng.choice([1, 1, 2]))),
            rng.choice(FAMILY),
            known_as=rng.choice(["", "Ollie"]),
            date_of_birth=rng.choice([born, born, None]),
            postcode=postcode,
            gender=rng.choice(["F", "M", ""]),
            school_hint=rng.choice(["", "", "Example Primary"]),
        )
        rarity = Rarity(family_bits=rng.uniform(-4, 8), given_bits=rng.uniform(-4, 8))
        thresholds = rng.choice(THRESHOLDS)
        reach = Ranking(record, DAY, WEIGHTS, rarity, thresholds).namesakes_to_read()
        reaches.append(reach)
        if reach is Namesakes.EVERYWHERE:
            continue
        review = matching._bits_at(thresholds.review)  # the ranking's own conversion
        for _ in range(30):
            pupil = _namesake(rng, born, _elsewhere(rng, postcode, reach))
            assert score(record, pupil, DAY, WEIGHTS, rarity).weight < review
    assert set(reaches) == set(Namesakes)  # each reach is taken


def test_a_common_name_reads_the_district_or_none_a_rare_one_every_namesake() -> None:
    """Without a postcode, no namesake born on another day can reach review: those at
    the child's postcode (none) are read."""
    oliver = child_record("Oliver", "Smith", date_of_birth=date(2016, 5, 3), postcode="SO23 8UJ")
    usual = Rarity(family_bits=-0.5, given_bits=-0.5)
    assert Ranking(oliver, DAY, WEIGHTS, usual).namesakes_to_read() is Namesakes.DISTRICT
    nowhere = child_record("Oliver", "Smith", date_of_birth=date(2016, 5, 3))
    assert Ranking(nowhere, DAY, WEIGHTS, usual).namesakes_to_read() is Namesakes.POSTCODE
    rare = Rarity(family_bits=8.0, given_bits=8.0)
    assert Ranking(oliver, DAY, WEIGHTS, rare).namesakes_to_read() is Namesakes.EVERYWHERE
    lenient = Thresholds(review=0.00001)
    assert Ranking(oliver, DAY, WEIGHTS, usual, lenient).namesakes_to_read() is (
        Namesakes.EVERYWHERE
    )


def test_nobody_found_reads_every_namesake_so_the_reason_stays_true() -> None:
    oliver = child_record("Oliver", "Smith", date_of_birth=date(2016, 5, 3))
    ranking = Ranking(oliver, DAY, WEIGHTS, Rarity(family_bits=-4.0, given_bits=-4.0))
    assert ranking.namesakes_to_read() is Namesakes.POSTCODE
    assert ranking.namesakes_to_read([]) is Namesakes.EVERYWHERE


# --- against the database ----------------------------------------------------------------

TRUE_UPN = upn("999999999999")
OLIVER = {"upn": TRUE_UPN, "given_names": "Oliver", "family_name": "Smith",
          "date_of_birth": "2016-05-03", "gender": "M", "postcode": "SO23 8UJ",
          "urn": "100001", "on_roll_from": "2021-09-01"}  # fmt: skip


def _namesakes(count: int, seed: int) -> list[dict[str, str]]:
    """Olly, Ollie, Olliver and Olivier Smyth or Smithe, born in 2016, in other districts:
    the sound keys of Oliver Smith, rarely his names."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        born = date(2016, 1, 1) + timedelta(days=rng.randrange(366))
        rows.append({
            "upn": upn(f"8{seed:03d}{n:08d}"),
            "given_names": rng.choice(["Olly", "Ollie", "Olliver", "Olivier", "Olly James"]),
            "family_name": rng.choice(["Smyth", "Smithe"]), "date_of_birth": born.isoformat(),
            "gender": "M", "postcode": f"{rng.choice(['BH1', 'PO7', 'SO24'])} {n % 10}AB",
            "urn": rng.choice(["100001", "100002"]), "on_roll_from": "2021-09-01",
        })  # fmt: skip
    return rows


def _import(sessions: sessionmaker[Session], folder: Path, pupils: list[dict[str, str]]) -> None:
    files = write_directory(folder, pupils)
    with transaction(sessions) as session:
        imports.import_schools(session, files["schools"])
        imports.import_pupils(session, files["pupils"])


def _police(dob: str, postcode: str, given: str = "Oliver", family: str = "Smith") -> Person:
    address = {"lines": [], "postcode": postcode}
    return Person.model_validate(child("c1", given, family, dob, gender="M", address=address))


def test_a_child_recorded_with_the_wrong_date_is_found_among_namesakes_born_that_year(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """250 namesakes born in 2016 elsewhere, imported first; Oliver lives in the district
    the police recorded (another street) and his date is wrong. Cut at a hundred in the
    index's order, the year blocks could leave him out; now they read his district."""
    _import(sessions, tmp_path / "d", [*_namesakes(250, 1), OLIVER])
    record = child_record("Oliver", "Smith", date_of_birth=date(2016, 11, 27),
                          postcode="SO23 1AB", gender="M")  # fmt: skip
    with transaction(sessions) as session:
        ranking = Ranking(record, DAY, WEIGHTS, frequencies.rarity(session, record))
        assert ranking.namesakes_to_read() is Namesakes.DISTRICT
        nearby = blocking.candidates(session, record, Namesakes.DISTRICT)
        assert TRUE_UPN in {row.upn for row in nearby}
        assert len(nearby) < 10  # not the 250 namesakes
        result = match_child(session, _police("2016-11-27", "SO23 1AB"), DAY, Thresholds())
    assert result.candidates[0].upn == TRUE_UPN
    assert result.outcome is MatchOutcome.PARTIAL  # the date differs: a person decides
    assert not result.releasable


def _verdict(result: Any) -> Any:
    """What a verdict is: outcome, release, the records chosen and every candidate worth
    a reviewer's look with its score (those below the threshold are only the best ten)."""
    review = Thresholds().review
    shown = [(c.upn, c.urn, round(c.weight, 6)) for c in result.candidates if c.score >= review]
    return result.outcome, result.releasable, [(c.upn, c.urn) for c in result.chosen], shown


@pytest.mark.parametrize("seed", range(2))
def test_a_verdict_is_the_one_reading_every_namesake_gives(
    sessions: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """Namesakes fewer than a block's hundred, so that reading all of them cuts none: for
    children recorded with every kind of error, the same verdict either way."""
    pupils = _namesakes(90, seed)
    for n, row in enumerate(pupils[:30]):  # a third live in one district
        row["postcode"] = f"SO23 {n % 10}UJ"
    _import(sessions, tmp_path / "d", [*pupils, OLIVER])
    rng = random.Random(seed)
    police = []
    for row in [*pupils[:20], *pupils[-20:], OLIVER]:
        born = date.fromisoformat(row["date_of_birth"])
        dob = rng.choice([born, born + timedelta(days=rng.randrange(1, 300))])
        postcode = rng.choice([row["postcode"], "SO23 1AB", "SO23 8UJ", "BH1 1AB", ""])
        given, family = rng.choice([(row["given_names"], row["family_name"]), ("Oliver", "Smith")])
        police.append(_police(dob.isoformat(), postcode, given, family))
    reaches: list[Namesakes] = []
    with transaction(sessions) as session:
        monkeypatch.setattr(blocking, "candidates", _counting(blocking.candidates, reaches))
        nearby = [match_child(session, p, DAY, Thresholds()) for p in police]
        monkeypatch.setattr(Ranking, "namesakes_to_read", lambda *_: Namesakes.EVERYWHERE)
        everywhere = [match_child(session, p, DAY, Thresholds()) for p in police]
    assert [_verdict(r) for r in nearby] == [_verdict(r) for r in everywhere]
    assert {Namesakes.DISTRICT, Namesakes.POSTCODE} <= set(reaches)  # the shortcuts are taken


def _counting(candidates: Any, reaches: list[Namesakes]) -> Any:
    def counted(
        session: Session, record: Any, namesakes: Namesakes = Namesakes.EVERYWHERE, **more: Any
    ) -> Any:
        reaches.append(namesakes)
        return candidates(session, record, namesakes, **more)

    return counted


def test_reading_further_reads_the_wide_blocks_only() -> None:
    """Once the rest are ranked, the namesakes read further come from the wide blocks
    alone: the narrow ones (birthday, a digit wrong, postcode, NHS number) are not run
    again."""
    record = child_record("Oliver", "Smith", date_of_birth=date(2016, 5, 3),
                          postcode="SO23 8UJ", nhs_number="9434765919")  # fmt: skip
    found = blocking.search(record, Namesakes.EVERYWHERE, narrow=False)
    assert found is not None
    sql = str(found[0])
    assert "birth_year_key" in sql
    assert "dob_key" not in sql and "nhs_key" not in sql and "postcode_key" not in sql


def test_a_namesake_within_the_margin_is_read_and_still_holds_back_a_release(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """With a margin so wide that a namesake born on another day in another district is
    within it, the namesakes are read after all and the release waits, as it would have
    with every namesake read."""
    likely = set(dob_variants(date(2016, 5, 3)))
    far = [r for r in _namesakes(60, 3) if date.fromisoformat(r["date_of_birth"]) not in likely]
    _import(sessions, tmp_path / "d", [*far, OLIVER])
    police = _police("2016-05-03", "SO23 8UJ")
    with transaction(sessions) as session:
        usual = match_child(session, police, DAY, Thresholds())
        wide = match_child(session, police, DAY, Thresholds(margin_bits=45.0))
    assert usual.releasable and usual.chosen[0].upn == TRUE_UPN
    assert not wide.releasable
    assert wide.reason == "best match not clear of the next pupil"


def test_a_pupil_import_fills_in_a_district_the_row_lacks(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """Rows from before the district was kept hold none (""): every search reads them, and
    the next import of the roll fills it in, as any blind index a row lacks."""
    files = write_directory(tmp_path / "d", _namesakes(20, 4))
    with transaction(sessions) as session:
        imports.import_schools(session, files["schools"])
        imports.import_pupils(session, files["pupils"])
        session.execute(update(Pupil).values(district_key=""))
    with transaction(sessions) as session:
        report = imports.import_pupils(session, files["pupils"])
        missing = session.scalar(
            select(func.count()).select_from(Pupil).where(Pupil.district_key == "")
        )
        total = session.scalar(select(func.count()).select_from(Pupil))
    assert missing == 0 and total
    assert report.updated == total


def test_rows_from_before_migration_0026_are_read_by_every_search_until_an_import(
    database_url: str, tmp_path: Path
) -> None:
    """A roll imported before the district was kept: the upgrade builds one index and
    copies nothing; its rows hold no district (""), so the district's search reads them
    all, as it did before; the next import of the roll fills the district in."""
    upgrade(database_url)
    engine = make_engine(database_url, TEST_KEYRING)
    sessions = session_factory(engine)
    files = write_directory(tmp_path / "d", [*_namesakes(20, 5), OLIVER])
    with transaction(sessions) as session:
        imports.import_schools(session, files["schools"])
        imports.import_pupils(session, files["pupils"])
    command.downgrade(_alembic_config(database_url), "0025")
    upgrade(database_url)
    record = child_record("Oliver", "Smith", date_of_birth=date(2016, 11, 27), postcode="SO23 1AB")
    with transaction(sessions) as session:
        assert (
            session.scalar(select(func.count()).select_from(Pupil).where(Pupil.district_key != ""))
            == 0
        )
        nearby = blocking.candidates(session, record, Namesakes.DISTRICT)
        assert len(nearby) == 21  # every namesake: none has a district yet
        imports.import_pupils(session, files["pupils"])
    with transaction(sessions) as session:
        found = [r.upn for r in blocking.candidates(session, record, Namesakes.DISTRICT)]
    engine.dispose()
    assert found == [TRUE_UPN]


@pytest.fixture
def limit_of_twenty(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A lookup reads at most 20 rows (500 in use); the statements built with it are
    forgotten afterwards."""
    built = (blocking._statement, blocking._fallback_statement, blocking._hinted_statement)
    for cached in built:
        cached.cache_clear()
    monkeypatch.setattr(blocking, "MAX_ROWS", 20)
    yield
    for cached in built:
        cached.cache_clear()


@pytest.mark.usefixtures("limit_of_twenty")
def test_more_rows_than_a_lookup_reads_keep_the_strongest_evidence(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """60 namesakes born the same year, imported before the child: what the limit leaves
    out are namesakes found by the name and year blocks, never the pupil whose names and
    birthday agree, whatever the order of the rows."""
    _import(sessions, tmp_path / "d", [*_namesakes(60, 6), OLIVER])
    record = child_record("Oliver", "Smith", date_of_birth=date(2016, 5, 3), postcode="SO23 8UJ")
    with transaction(sessions) as session:
        rows = blocking.candidates(session, record)
        result = match_child(session, _police("2016-05-03", "SO23 8UJ"), DAY, Thresholds())
    assert len(rows) == 20
    assert TRUE_UPN in {row.upn for row in rows}
    assert result.releasable and result.chosen[0].upn == TRUE_UPN


@pytest.mark.parametrize("born", [date(2012, 2, 29), date(2016, 12, 31), date(2019, 10, 1)])
def test_the_levels_of_a_birthdays_likely_corruptions_are_those_compare_dob_gives(
    born: date,
) -> None:
    """``dob_levels`` (what the ranking reads for each pupil's date of birth): every date
    within ten years not among them compares as "different"."""
    levels = dob_levels(born)
    day = date(born.year - VARIANT_YEARS, 1, 1)
    while day.year <= born.year + VARIANT_YEARS:
        assert levels.get(day, "different") == compare_dob(born, day), (born, day)
        day += timedelta(days=1)
