"""The scored matcher, case by case as a caseworker would put them: nicknames, typos,
swapped dates, twins, children who left the school or moved, and the end-to-end release
of a confident match while a twin waits for a person."""

from __future__ import annotations

import json
import random
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from consumers import review
from consumers.intake import parse_incident
from consumers.match import match_child
from consumers.pipeline import process_incident
from foundations.database import transaction
from foundations.models import NameFrequency, Notification, Pupil
from foundations.settings import ReviewPolicy, Settings
from schemas.incident import Person
from school_directory import blocking, frequencies, imports, names
from school_directory.comparisons import (
    compare_dob,
    compare_family,
    compare_given,
    compare_postcode,
    dob_variants,
)
from school_directory.match_weights import Rarity, load_weights, name_share, rarity_bits
from school_directory.matching import (
    Candidate,
    MatchOutcome,
    Namesakes,
    PupilRow,
    Thresholds,
    child_record,
    decide,
    rank,
    score,
)
from tests.factories import TWIN_A_UPN, TWIN_B_UPN, child, default_pupils, incident, upn
from tests.factories import write_directory as write_files

DAY = date(2026, 11, 20)
ALFRED_UPN = upn("850200116010")
MOVER_UPN = upn("850200116011")
LEFT_UPN = upn("850200116012")


def pupil(given: str = "Amy Louise", family: str = "Doe", **changes: Any) -> PupilRow:
    values: dict[str, Any] = {
        "upn": AMY,
        "urn": "100001",
        "given_names": given,
        "family_name": family,
        "preferred_name": "",
        "date_of_birth": date(2016, 9, 14),
        "gender": "F",
        "postcode": "SO23 8UJ",
        "on_roll_from": date(2021, 9, 1),
        "on_roll_until": None,
        "school_name": "Example Primary School",
        "school_open": True,
    }
    values.update(changes)
    return PupilRow(**values)


AMY = upn("850200116001")


def given(recorded: str, school: str, known_as: str = "", preferred: str = "") -> str | None:
    return compare_given(
        names.parts(recorded), names.parts(known_as), names.parts(school), names.parts(preferred)
    )


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "school"),
    [("Alfie", "Alfred"), ("Maisie", "Margaret"), ("Peggy", "Margaret"), ("Bill", "William"),
     ("Mohamed", "Muhammad"), ("Mohammed", "Muhammad James")],
)  # fmt: skip
def test_a_nickname_or_another_spelling_is_the_same_given_name(recorded: str, school: str) -> None:
    assert given(recorded, school) == "nickname"


def test_given_names_agree_in_any_order_and_through_known_as() -> None:
    assert given("Louise Amy", "Amy Louise") == "exact_all"
    assert given("Amy", "Amy Louise") == "exact"
    assert given("Louise", "Amy Louise") == "exact_other"
    assert given("Amelia", "Amy Louise", known_as="Amy") == "exact"
    assert given("Amy", "Amelia Rose", preferred="Amy") == "exact"


def test_a_first_name_spelt_another_way_outranks_a_shared_middle_name() -> None:
    # a brother "Omar Karim" shares the middle name; only the child shares the first
    assert given("Waleed Karim", "Walid Karim") == "phonetic"
    assert given("Mohamed Ali", "Muhammad Ali") == "nickname"
    assert given("Omar Karim", "Walid Karim") == "exact_other"


def test_a_typo_in_a_name_is_close_but_not_equal() -> None:
    assert given("Jessicca", "Jessica") == "phonetic"
    assert compare_family(names.parts("Smiht"), names.parts("Smith")) == "phonetic"
    assert compare_family(names.parts("Kovalski"), names.parts("Kowalski")) == "phonetic"
    assert given("Zoe", "Oliver") == "different"


def test_part_of_a_hyphenated_or_double_barrelled_family_name_agrees() -> None:
    assert compare_family(names.parts("Jones"), names.parts("Smith-Jones")) == "part"
    assert compare_family(names.parts("Smith Jones"), names.parts("Smith-Jones")) == "exact"
    assert compare_family(names.parts("O'Brien"), names.parts("OBrien")) == "exact"
    assert compare_family(names.parts("Hassan"), names.parts("Al-Hassan")) == "part"


def test_sound_keys_forgive_spelling_and_accents() -> None:
    assert names.family_key("Al-Hassan") == names.family_key("Alhassan")
    assert names.family_key("Al Hasan") == names.family_key("Alhassan")
    assert names.family_key("Kowalski") == names.family_key("Kovalski")
    assert names.given_key("Alfie") == names.given_key("Alfred James")
    assert names.normalise("Michał Zoë") == "michalzoe"
    assert names.postcode("so238uj") == "SO23 8UJ"


def test_given_and_family_names_recorded_the_other_way_round_are_compared_crosswise() -> None:
    swapped = child_record("Doe", "Amy", date_of_birth=date(2016, 9, 14))
    found = score(swapped, pupil(), DAY, load_weights())
    assert "names_swapped" in found.agreed and "family_name" in found.agreed


def test_a_rare_name_agreeing_says_more_than_a_common_one() -> None:
    weights = load_weights()
    roll = 1_000_000
    rare = rarity_bits(2, roll, weights, "family_name")  # Maszkiewicz: two on the roll
    common = rarity_bits(10_000, roll, weights, "family_name")  # Smith: one in a hundred
    assert rare > 0 > common
    low, high = weights.rarity_range
    assert low <= common and rare <= high
    # A small roll says little about rarity: the counts are smoothed towards the average.
    assert abs(rarity_bits(1, 20, weights, "family_name")) < 0.5
    assert rarity_bits(5, 0, weights, "family_name") == 0.0


def test_rarity_adds_to_exact_name_agreement_only() -> None:
    weights, rare = load_weights(), Rarity(family_bits=3.0, given_bits=2.0)
    record = child_record("Amy", "Doe", date_of_birth=date(2016, 9, 14))
    plain = score(record, pupil(), DAY, weights)
    assert score(record, pupil(), DAY, weights, rare).weight == pytest.approx(plain.weight + 5)
    typo = child_record("Amy", "Dow", date_of_birth=date(2016, 9, 14))
    assert score(typo, pupil(), DAY, weights, rare).weight == pytest.approx(
        score(typo, pupil(), DAY, weights).weight + 2
    )


# --- dates and places --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "level"),
    [(date(2016, 9, 14), "exact"), (date(2016, 3, 4), "different"),
     (date(2016, 9, 15), "one_digit"),
     (date(2015, 9, 14), "one_digit"), (None, None)],
)  # fmt: skip
def test_date_of_birth_distance(recorded: date | None, level: str | None) -> None:
    assert compare_dob(recorded, date(2016, 9, 14)) == level


def test_day_and_month_swapped_and_neighbouring_digits_swapped() -> None:
    assert compare_dob(date(2016, 4, 9), date(2016, 9, 4)) == "day_month_swapped"
    assert compare_dob(date(2016, 12, 12), date(2016, 12, 21)) == "one_digit"
    variants = dob_variants(date(2016, 9, 4))
    assert date(2016, 4, 9) in variants and date(2016, 9, 5) in variants
    assert date(2016, 9, 4) in variants and len(variants) < 60


def test_postcode_exact_sector_district_or_moved() -> None:
    assert compare_postcode("SO23 8UJ", "SO23 8UJ") == "exact"
    assert compare_postcode("SO23 8AB", "SO23 8UJ") == "sector"
    assert compare_postcode("SO23 1AB", "SO23 8UJ") == "district"
    assert compare_postcode("PO1 1AA", "SO23 8UJ") == "different"
    assert compare_postcode("", "SO23 8UJ") is None


def test_postcodes_compare_by_the_sector_and_district_names_gives_them() -> None:
    """``compare_postcode`` reads the sector and district in line: the same answers as
    ``names.postcode_sector`` and ``names.postcode_district``, for written postcodes and
    for anything else a record may hold."""

    def by_names(recorded: str, pupil: str) -> str | None:
        if not recorded or not pupil:
            return None
        if recorded == pupil:
            return "exact"
        sector = names.postcode_sector(recorded)
        if sector and sector == names.postcode_sector(pupil):
            return "sector"
        district = names.postcode_district(recorded)
        same = district and district == names.postcode_district(pupil)
        return "district" if same else "different"

    rng = random.Random(8)
    for _ in range(20_000):
        a, b = ("".join(rng.choice("AB1 2") for _ in range(rng.randrange(8))) for _ in "ab")
        for recorded, pupil in ((a, b), (names.postcode(a), names.postcode(b)), (a, a[:-1] + "2")):
            assert compare_postcode(recorded, pupil) == by_names(recorded, pupil), (recorded, pupil)


# --- weights and decisions ---------------------------------------------------------------


def test_the_weights_file_is_a_proper_set_of_m_and_u_probabilities() -> None:
    raw = json.loads(resources.files("school_directory").joinpath("match_weights.json").read_text())
    for name, levels in raw["fields"].items():
        for side in ("m", "u"):
            total = sum(v[side] for k, v in levels.items() if not k.startswith("_"))
            assert total == pytest.approx(1.0, abs=1e-6), (name, side)


def test_every_candidate_carries_a_probability_and_its_reasons() -> None:
    record = child_record(
        "Amy", "Doe", date_of_birth=date(2016, 9, 14), postcode="SO23 8UJ", gender="female"
    )
    found = score(record, pupil(), DAY, load_weights())
    assert 0.999 < found.score <= 1.0 and found.exact and found.live
    assert set(found.agreed) >= {"given_name", "family_name", "date_of_birth", "postcode"}
    stranger = score(record, pupil("Oscar", "Ng", date_of_birth=date(2013, 1, 2)), DAY,
                     load_weights())  # fmt: skip
    assert 0.0 <= stranger.score < 1e-4 and "family_name" in stranger.disagreed


def candidate(upn_: str, weight: float, **extra: Any) -> Candidate:
    return Candidate(upn_, extra.pop("urn", "100001"), 1 / (1 + 2**-weight), weight=weight,
                     **extra)  # fmt: skip


def test_twins_and_same_name_children_are_never_released_on_a_guess() -> None:
    result = decide(rank([candidate("A", 30), candidate("B", 29)]), Thresholds())
    assert result.outcome is MatchOutcome.AMBIGUOUS and not result.chosen
    assert not result.releasable and [c.upn for c in result.candidates] == ["A", "B"]


def test_a_confident_match_clear_of_the_rest_names_each_school_on_roll() -> None:
    dual = [candidate("A", 30), candidate("A", 30, urn="100002"), candidate("B", 5)]
    result = decide(rank(dual), Thresholds())
    assert result.outcome is MatchOutcome.CONFIDENT and result.releasable
    assert [c.urn for c in result.chosen] == ["100001", "100002"]


def test_a_child_who_left_the_school_is_shown_but_never_released() -> None:
    left = score(
        child_record("Amy", "Doe", date_of_birth=date(2016, 9, 14), postcode="SO23 8UJ"),
        pupil(on_roll_until=date(2026, 10, 1)), DAY, load_weights(),
    )  # fmt: skip
    assert not left.live and left.note == "left the school on 2026-10-01"
    result = decide([left], Thresholds())
    assert result.outcome is MatchOutcome.PARTIAL and "left the school" in result.reason
    assert result.candidates == (left,) and not result.chosen


def test_a_twin_whose_sibling_is_not_on_the_roll_is_never_released() -> None:
    """Everything agrees but the given name: that is what a twin looks like."""
    twin = child_record(
        "Mia", "Doe", date_of_birth=date(2016, 9, 14), postcode="SO23 8UJ", gender="female",
        school_hint="Example Primary",
    )  # fmt: skip
    found = score(twin, pupil("Amy"), DAY, load_weights())
    assert found.score > 0.999 and not found.live and found.note == "given name differs"
    result = decide([found], Thresholds())
    assert result.outcome is MatchOutcome.PARTIAL and not result.releasable


def test_no_candidate_above_the_review_threshold_is_not_found_but_still_listed() -> None:
    result = decide([candidate("A", -12)], Thresholds())
    assert result.outcome is MatchOutcome.NONE and [c.upn for c in result.candidates] == ["A"]


def test_every_namesake_worth_a_look_is_listed_not_ten_picked_by_upn() -> None:
    namesakes = [candidate(f"N{i:02}", 0) for i in range(14)]  # no birthday: all alike
    strangers = [candidate(f"S{i:02}", -20) for i in range(20)]
    shown = decide(rank(namesakes + strangers), Thresholds()).candidates
    assert {c.upn for c in shown} == {c.upn for c in namesakes}
    crowd = decide(rank([candidate(f"N{i:02}", 0) for i in range(50)]), Thresholds())
    assert len(crowd.candidates) == 30  # a list a person can still read
    few = decide(rank(strangers), Thresholds()).candidates
    assert len(few) == 10  # nobody worth a look: the best ten, as before


# --- against the database ----------------------------------------------------------------


def extra_pupils() -> list[dict[str, str]]:
    base = {"gender": "M", "on_roll_from": "2022-09-01"}
    return [
        *default_pupils(),
        {**base, "upn": ALFRED_UPN, "given_names": "Alfred James", "family_name": "Smith",
         "date_of_birth": "2017-03-02", "postcode": "SO22 4BB", "urn": "100002"},
        # moved: left Example Primary in October, joined St Mary's
        {**base, "upn": MOVER_UPN, "given_names": "Maisie", "family_name": "Okafor",
         "date_of_birth": "2015-06-30", "postcode": "SO23 9ZZ", "urn": "100001",
         "on_roll_until": "2026-10-16"},
        {**base, "upn": MOVER_UPN, "given_names": "Maisie", "family_name": "Okafor",
         "date_of_birth": "2015-06-30", "postcode": "SO23 9ZZ", "urn": "100002",
         "on_roll_from": "2026-10-19"},
        {**base, "upn": LEFT_UPN, "given_names": "Bilal", "family_name": "Hussain",
         "date_of_birth": "2014-02-11", "postcode": "SO23 7AA", "urn": "100001",
         "on_roll_until": "2026-07-20"},
    ]  # fmt: skip


@pytest.fixture
def directory(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    files = write_files(tmp_path / "directory", extra_pupils())
    with transaction(sessions) as session:
        imports.import_schools(session, files["schools"])
        imports.import_pupils(session, files["pupils"])
    return sessions


def person(given_names: str, family: str, dob: str | None, **extra: Any) -> Person:
    return Person.model_validate(child("c1", given_names, family, dob or "2000-01-01", **extra)
                                 | ({} if dob else {"date_of_birth": None}))  # fmt: skip


def test_a_nickname_and_a_typo_find_alfred_at_his_school(directory: Any) -> None:
    alfie = person("Alfie", "Smiht", "2017-03-02", address={"postcode": "so224bb"})
    with transaction(directory) as session:
        found = match_child(session, alfie, DAY, Thresholds())
    assert found.candidates[0].upn == ALFRED_UPN
    assert found.outcome is MatchOutcome.CONFIDENT and [c.urn for c in found.chosen] == ["100002"]
    assert {"given_name:nickname", "family_name:phonetic"} <= set(found.candidates[0].agreed)


def test_with_the_date_swapped_and_no_address_alfred_is_first_but_waits(directory: Any) -> None:
    alfie = person("Alfie", "Smiht", "2017-02-03")
    with transaction(directory) as session:
        found = match_child(session, alfie, DAY, Thresholds())
    assert found.candidates[0].upn == ALFRED_UPN and not found.releasable
    assert "date_of_birth:day_month_swapped" in found.candidates[0].agreed


def test_a_child_who_moved_school_is_found_at_the_new_school_only(directory: Any) -> None:
    maisie = person("Maisy", "Okafor", "2015-06-30", address={"postcode": "SO23 9ZZ"})
    with transaction(directory) as session:
        found = match_child(session, maisie, DAY, Thresholds())
    assert {(c.urn, c.live) for c in found.candidates} == {("100001", False), ("100002", True)}
    assert found.releasable and [c.urn for c in found.chosen] == ["100002"]


def test_a_child_who_left_the_school_waits_for_a_person(directory: Any) -> None:
    bilal = person("Bilal", "Hussain", "2014-02-11", address={"postcode": "SO23 7AA"})
    with transaction(directory) as session:
        found = match_child(session, bilal, DAY, Thresholds())
    assert found.outcome is MatchOutcome.PARTIAL and not found.chosen
    assert found.candidates[0].upn == LEFT_UPN and "left the school" in found.reason


def test_a_typo_in_one_name_and_a_digit_wrong_in_the_date_are_found_by_the_wider_search(
    directory: Any,
) -> None:
    # "Snith" sounds unlike Smith and 7 March is not his birthday: no block finds him, so
    # the wider search tries his given name with every likely corruption of the date
    alfred = person("Alfred", "Snith", "2017-03-07")
    record = child_record("Alfred", "Snith", date_of_birth=date(2017, 3, 7))
    with transaction(directory) as session:
        assert ALFRED_UPN not in {row.upn for row in blocking.candidates(session, record)}
        assert ALFRED_UPN in {row.upn for row in blocking.fallback(session, record)}
        found = match_child(session, alfred, DAY, Thresholds())
    assert found.candidates[0].upn == ALFRED_UPN and not found.releasable
    assert "date_of_birth:one_digit" in found.candidates[0].agreed


def test_the_officers_school_hint_is_looked_up_by_the_words_of_school_names(
    directory: Any,
) -> None:
    with transaction(directory) as session:
        assert blocking.hinted_schools(session, "st marys primary") == ["100002"]
        assert blocking.hinted_schools(session, "example primary") == ["100001"]
        assert blocking.hinted_schools(session, "the primary school") == []  # nothing distinctive
        # a family name alone, with the year of birth, at the school the officer named
        alfred = child_record(
            "", "Smith", date_of_birth=date(2017, 11, 20), school_hint="St Mary's Primary"
        )
        assert ALFRED_UPN in {row.upn for row in blocking.hinted(session, alfred)}
        statement = blocking._schools_named().params(word="marys")
        compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        if session.get_bind().dialect.name == "sqlite":
            plan = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            steps = " | ".join(str(row[-1]) for row in plan)
            assert "SCAN" not in steps, steps  # no school name is read to find the word


def test_the_wider_search_never_looks_for_a_name_the_police_did_not_record(
    directory: Any, tmp_path: Path
) -> None:
    # a pupil the school knows by family name only, born a digit away from the date
    no_given = {"upn": upn("850200116020"), "given_names": "", "family_name": "Smith",
                "date_of_birth": "2017-03-02", "urn": "100002"}  # fmt: skip
    nameless = child_record("", "", date_of_birth=date(2017, 3, 7), postcode="SO22 4BB")
    with transaction(directory) as session:
        roll = write_files(tmp_path / "roll", [*extra_pupils(), no_given])["pupils"]
        assert imports.import_pupils(session, roll).inserted == 1
        assert blocking.fallback(session, nameless) == []


def test_pupils_imported_before_the_match_record_are_read_field_by_field(
    directory: Any, tmp_path: Path
) -> None:
    alfie = person("Alfie", "Smiht", "2017-03-02", address={"postcode": "so224bb"})
    records = select(Pupil.match_record)
    with transaction(directory) as session:
        sealed = match_child(session, alfie, DAY, Thresholds())
        assert None not in session.scalars(records).all()
        session.execute(update(Pupil).values(match_record=None))  # as migration 0009 leaves them
        separate = match_child(session, alfie, DAY, Thresholds())
        assert separate == sealed and separate.releasable
        # the next import of the same roll fills the match records in
        imports.import_pupils(session, write_files(tmp_path / "again", extra_pupils())["pupils"])
        assert None not in session.scalars(records).all()


def test_the_pupil_import_counts_each_name_for_the_matcher(directory: Any) -> None:
    with transaction(directory) as session:
        counts = {(f.kind, f.key): f.pupils for f in session.scalars(select(NameFrequency))}
        pupils = session.execute(text("select count(*) from pupils")).scalar_one()
        assert counts[frequencies.ROLL] == pupils
        assert sum(n for (kind, _), n in counts.items() if kind == "family") == pupils
        # the twins share their family name; the counts are kept by blind index
        leos = len(session.scalars(select(Pupil.id).where(Pupil.given_name_key == "leo")).all())
        record = child_record("Leo", "Twin", date_of_birth=date(2017, 5, 5))
        assert frequencies.rarity(session, record) == Rarity(
            family_bits=rarity_bits(2, pupils, load_weights(), "family_name"),
            given_bits=rarity_bits(leos, pupils, load_weights(), "given_name"),
            family_share=name_share(2, pupils, load_weights(), "family_name"),
            given_share=name_share(leos, pupils, load_weights(), "given_name"),
            roll=pupils,
        )
        nobody = child_record("Zebedee", "Quux", date_of_birth=date(2017, 5, 5))
        assert frequencies.rarity(session, nobody).family_bits > 0


@pytest.mark.parametrize("search", [*Namesakes, "further", "wider"])
def test_a_lookup_searches_indexes_and_never_scans_the_roll(directory: Any, search: str) -> None:
    record = child_record("Alfie", "Smith", date_of_birth=date(2017, 3, 2), postcode="SO22 4BB")
    with transaction(directory) as session:
        if search == "wider":
            found = blocking.fallback_search(record)
        elif search == "further":
            found = blocking.search(record, narrow=False)
        else:
            found = blocking.search(record, Namesakes(search))
        assert found is not None
        query, params = found
        compiled = query.params(**params).compile(
            session.get_bind(), compile_kwargs={"literal_binds": True}
        )
        if session.get_bind().dialect.name == "sqlite":
            plan = session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
            steps = " | ".join(str(row[-1]) for row in plan)
            assert "USING" in steps
            assert "SCAN pupils" not in steps.replace("SCAN pupils USING", ""), steps
        else:  # PostgreSQL: with sequential scans priced out, only a missing index scans
            session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = session.execute(text(f"EXPLAIN {compiled}")).all()
            steps = " | ".join(str(row[0]) for row in plan)
            assert "Index" in steps and "Seq Scan on pupils" not in steps, steps


def test_end_to_end_a_nickname_and_typo_child_is_released_while_a_twin_waits(
    directory: Any,
) -> None:
    data = incident(
        incident_id="44-20261121-000900",
        persons=[
            *incident()["persons"][:2],
            child("c1", "Alfie", "Smiht", "2017-03-02", address={"postcode": "SO22 4BB"},
                  gender="male"),
            child("c2", "Leo", "Twin", "2017-05-05"),
        ],
    )  # fmt: skip
    settings = Settings(review_policy=ReviewPolicy.AUTO_RELEASE_CONFIDENT)
    with transaction(directory) as session:
        process_incident(session, settings, parse_incident(json.dumps(data).encode()), "t/0/0")
    with transaction(directory) as session:
        found = {n.person_id: n for n in session.execute(select(Notification)).scalars()}
        alfie, twin = found["c1"], found["c2"]
        assert (alfie.status, alfie.urn, alfie.upn) == ("approved", "100002", ALFRED_UPN)
        assert alfie.content is not None and alfie.content["child_name"] == "Alfred James Smith"
        assert (twin.status, twin.urn) == ("pending_review", None)
        assert {c["upn"] for c in twin.candidates} == {TWIN_A_UPN, TWIN_B_UPN}
        scores = [c["score"] for c in twin.candidates]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_migration_0002_fills_the_keys_of_pupils_already_imported(sqlite_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from foundations.database import MIGRATIONS_DIR, sqlalchemy_url

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(sqlite_url))
    command.upgrade(config, "0001")
    engine = create_engine(sqlalchemy_url(sqlite_url))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO schools (urn, name, la_code, la_name, status, phase, "
                "type, postcode) VALUES ('1', 'A', '850', 'H', 'Open', '', '', '')"
            )
        )
        conn.execute(text(
            "INSERT INTO pupils (upn, urn, given_names, family_name, preferred_name, "
            "date_of_birth, gender, postcode, family_name_key, given_name_key, "
            "preferred_name_key) VALUES ('A850200116001', '1', 'Alfie', 'Al-Hassan', '', "
            "'2017-03-02', '', 'so238uj', '', '', '')"
        ))  # fmt: skip
    command.upgrade(config, "0002")
    with engine.begin() as conn:
        row = conn.execute(text("SELECT family_key, given_key, postcode FROM pupils")).one()
    assert tuple(row) == (names.family_key("Alhassan"), names.given_key("Alfred"), "SO23 8UJ")
    command.downgrade(config, "0001")
    engine.dispose()


def test_a_changed_review_threshold_reaches_the_wider_search_gate(
    directory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Alfie with his birthday's day and month swapped and no address: the blocks find
    # Alfred at about 0.08, likely enough under the default review threshold (0.01), so
    # no wider search is made; under a configured 0.5 no one is likely, and it is.
    searched: list[object] = []
    real = blocking.fallback

    def fallback(session: Session, record: Any) -> Any:
        searched.append(record)
        return real(session, record)

    monkeypatch.setattr(blocking, "fallback", fallback)
    for n, (threshold, widened) in enumerate([(0.01, False), (0.5, True)]):
        searched.clear()
        data = incident(
            incident_id=f"44-20261121-00091{n}",
            persons=[*incident()["persons"][:2], child("c1", "Alfie", "Smiht", "2017-02-03")],
        )
        with transaction(directory) as session:
            process_incident(
                session,
                Settings(match_review_threshold=threshold),
                parse_incident(json.dumps(data).encode()),
                f"t/0/{n}",
            )
            [made] = session.scalars(
                select(Notification).where(Notification.incident_id == data["incident_id"])
            ).all()
        assert bool(searched) is widened, threshold
        assert made.urn is None and not made.releasable
    assert "no pupil scores above the review threshold" in made.reason


def test_the_matchers_verdict_is_kept_on_the_notification_with_the_configured_thresholds(
    directory: Any,
) -> None:
    alfie = child("c1", "Alfie", "Smiht", "2017-03-02", address={"postcode": "SO22 4BB"})
    persons = [*incident()["persons"][:2], alfie]
    for n, (release, kept) in enumerate([(0.999, True), (1.0, False)]):
        data = incident(incident_id=f"44-20261121-00092{n}", persons=persons)
        with transaction(directory) as session:
            process_incident(
                session,
                Settings(match_release_threshold=release),
                parse_incident(json.dumps(data).encode()),
                f"t/1/{n}",
            )
            [made] = session.scalars(
                select(Notification).where(Notification.incident_id == data["incident_id"])
            ).all()
            # above a release threshold of 1.0 no one is sure: a person chooses the school
            assert made.status == "pending_review" and (made.urn == "100002") is kept
            assert made.releasable is kept and review.release_grade(made) is kept, release
