"""The consistent child identifier (issue 17, item 4): the NHS number on the police record
and on the pupil record. Validated by its modulus-11 check digit, stored encrypted with a
blind index, and read by the matcher as a caseworker would: the same number is decisive,
two different numbers are two children, a number on one side only says nothing. Never a
reason to refuse an event or hold a notification back; never in a school's e-mail or a
log. Every number here is from the 999 range the NHS keeps for tests."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction
from consumers.intake import parse_incident
from consumers.match import match_child
from consumers.pipeline import process_incident
from consumers.redact import redact
from foundations.database import transaction
from foundations.models import AuditEvent, Notification, Pupil
from foundations.nhs_number import (
    check_digit,
    nhs_number_problem,
    normalise_nhs_number,
    with_check_digit,
)
from foundations.settings import ReviewPolicy, Settings
from schemas.incident import Person, incident_json_schema
from school_directory import blocking, imports
from school_directory.comparisons import compare_nhs_number
from school_directory.match_weights import load_weights
from school_directory.matching import (
    NHS_DIFFERS,
    MatchOutcome,
    PupilRow,
    Thresholds,
    child_record,
    decide,
    rank,
    score,
)
from school_directory.synthetic import (
    synthetic_nhs_numbers,
    synthetic_pupil_rows,
    synthetic_schools,
)
from tests.factories import child, incident, upn
from tests.factories import write_directory as write_files

# Test numbers (999 range), their check digits valid.
AMY_NHS = "9991234543"
OTHER_NHS = "9991234519"
THIRD_NHS = "9991234527"
CHECK_TEN = "999123456"  # its nine digits give a check digit of 10: no such number
DAY = date(2026, 11, 20)
AMY = upn("850200116001")
NAMESAKE = upn("850200116021")
RENAMED = upn("850200116022")


# --- the check digit -----------------------------------------------------------------------


@pytest.mark.parametrize("written", [AMY_NHS, "999 123 4543", "999-123-4543", " 999 123 4543 "])
def test_a_valid_number_in_any_accepted_form_is_its_ten_digits(written: str) -> None:
    assert nhs_number_problem(written) is None
    assert normalise_nhs_number(written) == AMY_NHS


def test_the_check_digit_is_modulus_11_with_eleven_read_as_nought() -> None:
    # 9,9,9,1,2,3,4,5,4 weighted 10..2: 90+81+72+7+12+15+16+15+8 = 316; 316 mod 11 = 8
    assert check_digit("999123454") == 11 - 8 == 3
    assert with_check_digit("999000005") == "9990000050"  # 11 - 0 = 11, read as 0
    assert nhs_number_problem("9990000050") is None


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("9991234544", "fails its check digit"),
        ("999 123 4534", "fails its check digit"),  # two neighbouring digits swapped
        (CHECK_TEN + "0", "has no valid check digit (its first nine digits give 10)"),
        ("999123454", "is not ten digits (or 3-3-4 with spaces or hyphens)"),
        ("99912345430", "is not ten digits (or 3-3-4 with spaces or hyphens)"),
        ("999 1234543", "is not ten digits (or 3-3-4 with spaces or hyphens)"),
        ("999-123 4543", "is not ten digits (or 3-3-4 with spaces or hyphens)"),
        ("999.123.4543", "is not ten digits (or 3-3-4 with spaces or hyphens)"),
        ("not known", "is not ten digits (or 3-3-4 with spaces or hyphens)"),
        ("０９９９１２３４５４３"[1:], "is not ten digits (or 3-3-4 with spaces or hyphens)"),
        ("0000000000", "is one digit repeated (a placeholder, not a number)"),
        ("1111111111", "is one digit repeated (a placeholder, not a number)"),
    ],
)
def test_an_invalid_number_says_why_without_repeating_it(written: str, problem: str) -> None:
    assert nhs_number_problem(written) == problem
    assert normalise_nhs_number(written) == ""
    assert written.strip() not in problem


def test_nothing_recorded_is_no_problem_and_no_number() -> None:
    for empty in (None, "", "  "):
        assert nhs_number_problem(empty) is None
        assert normalise_nhs_number(empty) == ""


def test_a_json_number_is_read_as_its_digits() -> None:
    assert normalise_nhs_number(9991234543) == AMY_NHS
    assert nhs_number_problem(999123454) is not None  # a leading digit lost is not valid


def test_synthetic_numbers_are_distinct_valid_and_in_the_test_range() -> None:
    numbers = [n for _, n in zip(range(20_000), synthetic_nhs_numbers(), strict=False)]
    assert len(set(numbers)) == len(numbers) == 20_000
    assert all(n.startswith("999") and nhs_number_problem(n) is None for n in numbers)


def test_some_synthetic_pupils_carry_an_nhs_number_the_same_on_both_rolls() -> None:
    rows = list(synthetic_pupil_rows(synthetic_schools(20, 3), 2_000, 3))
    carried = [r for r in rows if r["nhs_number"]]
    assert 0.25 < len(carried) / len(rows) < 0.45
    by_number: dict[str, set[str]] = {}
    for r in carried:
        by_number.setdefault(r["nhs_number"], set()).add(r["upn"])
    assert all(len(upns) == 1 for upns in by_number.values())  # one child, one number


# --- the police record --------------------------------------------------------------------


def _with_nhs(value: Any) -> dict[str, Any]:
    data = incident()
    data["persons"][-1]["nhs_number"] = value
    return data


@pytest.mark.parametrize("value", [AMY_NHS, "999 123 4543", 9991234543, "9991234544", "n/k"])
def test_an_incident_with_an_nhs_number_valid_or_not_is_accepted(value: Any) -> None:
    found = parse_incident(json.dumps(_with_nhs(value)).encode())
    assert found.children[0].nhs_number == value


def test_the_json_schema_documents_the_nhs_number_of_a_person() -> None:
    field = incident_json_schema()["$defs"]["Person"]["properties"]["nhs_number"]  # type: ignore[index]
    kinds = {branch["type"] for branch in field["anyOf"]}
    assert kinds == {"string", "integer", "null"}
    string = next(b for b in field["anyOf"] if b["type"] == "string")
    assert string["maxLength"] >= 12 and "check digit" in string["description"]


def test_the_two_children_example_carries_an_nhs_number() -> None:
    example = Path(__file__).parents[1] / "schemas" / "examples" / "incident_two_children.json"
    found = parse_incident(example.read_bytes())
    assert any(nhs_number_problem(c.nhs_number) is None and c.nhs_number for c in found.children)


# --- comparing and deciding ---------------------------------------------------------------


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


def verdict(record: Any, *rows: PupilRow) -> Any:
    weights = load_weights()
    return decide(rank([score(record, row, DAY, weights) for row in rows]), Thresholds())


def test_two_valid_numbers_are_the_same_or_not_and_one_missing_says_nothing() -> None:
    assert compare_nhs_number(AMY_NHS, AMY_NHS) == "exact"
    assert compare_nhs_number(AMY_NHS, OTHER_NHS) == "different"
    assert compare_nhs_number(AMY_NHS, "") is None
    assert compare_nhs_number("", AMY_NHS) is None


def test_an_invalid_number_on_the_police_record_is_ignored_for_matching() -> None:
    assert child_record("Amy", "Doe", nhs_number="9991234544").nhs_number == ""
    assert child_record("Amy", "Doe", nhs_number="999 123 4543").nhs_number == AMY_NHS


def test_the_same_number_decides_for_a_child_whose_family_name_changed() -> None:
    record = child_record("Amy", "Roe", date_of_birth=date(2016, 9, 14), nhs_number=AMY_NHS)
    found = verdict(record, pupil(nhs_number=AMY_NHS))
    assert (found.outcome, found.releasable) == (MatchOutcome.CONFIDENT, True)
    assert found.reason == "NHS number agrees"
    assert "nhs_number" in found.candidates[0].agreed
    # without the number the same record is held: the family name differs
    assert not verdict(child_record("Amy", "Roe", date_of_birth=date(2016, 9, 14)),
                       pupil(nhs_number=AMY_NHS)).releasable  # fmt: skip


def test_the_same_number_is_not_held_back_by_a_namesake_born_the_same_day() -> None:
    record = child_record("Amy", "Doe", date_of_birth=date(2016, 9, 14), nhs_number=AMY_NHS)
    namesake = pupil(upn=NAMESAKE, urn="100002", postcode="SO22 4BB")
    found = verdict(record, pupil(nhs_number=AMY_NHS), namesake)
    assert (found.outcome, found.releasable) == (MatchOutcome.EXACT, True)
    assert [c.upn for c in found.chosen] == [AMY]
    assert found.candidates[0].upn == AMY
    # with no number on either pupil the two are too close to tell apart
    plain = verdict(child_record("Amy", "Doe", date_of_birth=date(2016, 9, 14)), pupil(), namesake)
    assert plain.outcome is MatchOutcome.AMBIGUOUS


def test_a_different_number_vetoes_the_pupil_however_well_the_rest_agrees() -> None:
    record = child_record("Amy Louise", "Doe", date_of_birth=date(2016, 9, 14),
                          postcode="SO23 8UJ", gender="F", nhs_number=OTHER_NHS)  # fmt: skip
    found = verdict(record, pupil(nhs_number=AMY_NHS))
    assert (found.outcome, found.releasable, found.chosen) == (MatchOutcome.PARTIAL, False, ())
    best = found.candidates[0]
    assert (best.upn, best.live, best.note) == (AMY, False, NHS_DIFFERS)
    assert "nhs_number" in best.disagreed and best.as_dict()["note"] == NHS_DIFFERS


def test_the_same_number_never_outvotes_a_different_given_name() -> None:
    """A brother's number copied onto his sister's record: the given name says otherwise."""
    record = child_record("Ben", "Doe", date_of_birth=date(2016, 9, 14), nhs_number=AMY_NHS)
    found = verdict(record, pupil(nhs_number=AMY_NHS))
    assert not found.releasable and found.candidates[0].note == "given name differs"


def test_two_pupils_carrying_the_same_number_wait_for_a_person() -> None:
    record = child_record("Amy", "Doe", date_of_birth=date(2016, 9, 14), nhs_number=AMY_NHS)
    found = verdict(record, pupil(nhs_number=AMY_NHS),
                    pupil(upn=NAMESAKE, urn="100002", nhs_number=AMY_NHS))  # fmt: skip
    assert (found.outcome, found.releasable) == (MatchOutcome.AMBIGUOUS, False)
    assert found.reason == "2 pupil records carry the NHS number recorded"


def test_the_same_number_never_releases_to_a_school_the_child_left() -> None:
    record = child_record("Amy", "Doe", date_of_birth=date(2016, 9, 14), nhs_number=AMY_NHS)
    found = verdict(record, pupil(nhs_number=AMY_NHS, on_roll_until=date(2026, 7, 20)))
    assert (found.outcome, found.releasable) == (MatchOutcome.PARTIAL, False)


@pytest.mark.parametrize("side", ["police", "school"])
def test_a_number_on_one_side_only_changes_nothing(side: str) -> None:
    police = AMY_NHS if side == "police" else None
    school = AMY_NHS if side == "school" else ""
    weights = load_weights()
    for given, family, born in [("Amy", "Doe", date(2016, 9, 14)), ("Amy", "Roe", None),
                                ("Amelia", "Doe", date(2016, 9, 15))]:  # fmt: skip
        with_one = score(child_record(given, family, date_of_birth=born, nhs_number=police),
                         pupil(nhs_number=school), DAY, weights)  # fmt: skip
        without = score(child_record(given, family, date_of_birth=born), pupil(), DAY, weights)
        assert with_one == without


# --- the directory ------------------------------------------------------------------------


def _pupils(*extra: dict[str, str]) -> list[dict[str, str]]:
    base = {"gender": "F", "urn": "100001", "on_roll_from": "2021-09-01"}
    return [
        {**base, "upn": AMY, "given_names": "Amy Louise", "family_name": "Doe",
         "date_of_birth": "2016-09-14", "postcode": "SO23 8UJ", "nhs_number": "999 123 4543"},
        {**base, "upn": RENAMED, "given_names": "Maisie", "family_name": "Okafor",
         "date_of_birth": "2015-06-30", "postcode": "SO23 9ZZ", "urn": "100002",
         "nhs_number": OTHER_NHS},
        {**base, "upn": NAMESAKE, "given_names": "Leo", "family_name": "Brown",
         "date_of_birth": "2017-05-05", "postcode": "SO22 4BB", "nhs_number": THIRD_NHS},
        *extra,
    ]  # fmt: skip


def _import(sessions: sessionmaker[Session], folder: Path, rows: list[dict[str, str]]) -> Any:
    files = write_files(folder, rows)
    with transaction(sessions) as session:
        imports.import_schools(session, files["schools"])
        return imports.import_pupils(session, files["pupils"])


@pytest.fixture
def directory(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    report = _import(sessions, tmp_path / "directory", _pupils())
    assert not report.errors and not report.warnings
    return sessions


def test_the_pupil_import_keeps_the_number_encrypted_with_a_blind_index(
    directory: sessionmaker[Session],
) -> None:
    with transaction(directory) as session:
        amy = session.execute(select(Pupil).where(Pupil.upn == AMY)).scalar_one()
        assert amy.nhs_number == AMY_NHS  # normalised from 999 123 4543
        assert amy.match_record is not None and amy.match_record[6:] == [AMY_NHS]
        raw = session.execute(
            text("SELECT nhs_number, nhs_key, match_record FROM pupils WHERE upn = :u"), {"u": AMY}
        ).one()
        assert all(AMY_NHS not in value and "4543" not in value for value in raw)
        assert (
            raw.nhs_key
            == session.execute(select(Pupil.nhs_key).where(Pupil.nhs_key == AMY_NHS)).scalar_one()
        )  # looked up by the blind index, hashed the same way


def test_a_pupils_file_without_the_column_imports_as_before(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [{k: v for k, v in r.items() if k != "nhs_number"} for r in _pupils()]
    report = _import(sessions, tmp_path / "plain", rows)
    assert (report.inserted, report.errors, report.warnings) == (3, [], [])
    with transaction(sessions) as session:
        found = session.execute(select(Pupil.nhs_number, Pupil.nhs_key, Pupil.match_record)).all()
        assert all(n is None and k == "" and len(m or []) == 6 for n, k, m in found)
    again = _import(sessions, tmp_path / "plain", rows)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


def test_an_invalid_number_is_reported_by_line_and_the_pupil_imported_without_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = _pupils()
    rows[1] = {**rows[1], "nhs_number": "999 123 4518"}  # line 3: check digit wrong
    rows[2] = {**rows[2], "nhs_number": "unknown"}  # line 4
    report = _import(sessions, tmp_path / "bad", rows)
    assert report.inserted == 3 and not report.errors
    assert report.warnings == [
        (3, "nhs_number fails its check digit; imported without it"),
        (4, "nhs_number is not ten digits (or 3-3-4 with spaces or hyphens); imported without it"),
    ]
    assert "4518" not in report.summary() and "line 3: warning: nhs_number" in report.summary()
    with transaction(sessions) as session:
        kept = {upn: nhs for upn, nhs in session.execute(select(Pupil.upn, Pupil.nhs_number))}
        assert kept == {AMY: AMY_NHS, RENAMED: None, NAMESAKE: None}
    again = _import(sessions, tmp_path / "bad", rows)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


def test_a_number_added_later_updates_the_pupil(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    rows = [{k: v for k, v in r.items() if k != "nhs_number"} for r in _pupils()]
    _import(sessions, tmp_path / "before", rows)
    report = _import(sessions, tmp_path / "after", _pupils())
    assert (report.inserted, report.updated) == (0, 3)
    with transaction(sessions) as session:
        assert session.execute(select(Pupil.upn).where(Pupil.nhs_key == OTHER_NHS)).scalar_one() \
            == RENAMED  # fmt: skip


def test_the_number_finds_a_pupil_no_name_or_date_block_finds(
    directory: sessionmaker[Session],
) -> None:
    """Family name changed, a digit of the date wrong, no address: only the number finds her."""
    record = child_record("Maisie", "Adeyemi", date_of_birth=date(2015, 6, 20))
    with transaction(directory) as session:
        assert blocking.candidates(session, record) == []
        numbered = child_record(
            "Maisie", "Adeyemi", date_of_birth=date(2015, 6, 20), nhs_number=OTHER_NHS
        )
        found = blocking.candidates(session, numbered)
        assert [row.upn for row in found] == [RENAMED]
        assert found[0].nhs_number == OTHER_NHS


# --- end to end: the pipeline ---------------------------------------------------------------


def _process(sessions: sessionmaker[Session], children: list[dict[str, Any]]) -> dict[str, Any]:
    data = incident(incident_id="44-20261121-000970",
                    persons=[*incident()["persons"][:2], *children])  # fmt: skip
    settings = Settings(review_policy=ReviewPolicy.AUTO_RELEASE_CONFIDENT)
    with transaction(sessions) as session:
        process_incident(session, settings, parse_incident(json.dumps(data).encode()), "t/0/0")
    with transaction(sessions) as session:
        return {n.person_id: n for n in session.execute(select(Notification)).scalars()}


def test_a_match_decided_by_nhs_number_is_released_and_one_vetoed_by_it_is_held(
    directory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    found = _process(directory, [
        # a different family name, a digit of the date wrong: the number decides
        child("c1", "Maisie", "Adeyemi", "2015-06-20", nhs_number="999-123-4519"),
        # names, date of birth and address agree exactly, but the number is another child's
        child("c2", "Amy Louise", "Doe", "2016-09-14", address={"postcode": "SO23 8UJ"},
              nhs_number=THIRD_NHS),
    ])  # fmt: skip
    renamed, vetoed = found["c1"], found["c2"]
    assert (renamed.status, renamed.urn, renamed.upn) == ("approved", "100002", RENAMED)
    assert renamed.releasable and renamed.reason == "released by policy: NHS number agrees"
    assert (vetoed.status, vetoed.urn, vetoed.releasable) == ("pending_review", None, False)
    assert vetoed.candidates[0]["upn"] == AMY
    assert vetoed.candidates[0]["note"] == NHS_DIFFERS
    assert "nhs_number" in vetoed.candidates[0]["disagreed"]
    # never in what the school is sent, nor in a log line
    assert renamed.content is not None
    sent = json.dumps(renamed.content)
    for number in (OTHER_NHS, "999-123-4519", "4519"):
        assert number not in sent
    assert not any(n in caplog.text for n in (OTHER_NHS, "4519", AMY_NHS, THIRD_NHS, "4527"))


def test_an_invalid_number_is_never_a_reason_to_refuse_or_hold_and_is_audited_without_it(
    directory: sessionmaker[Session],
) -> None:
    amy_wrong_digit = child(
        "c1", "Amy Louise", "Doe", "2016-09-14", address={"postcode": "SO23 8UJ"},
        nhs_number="9991234544",
    )  # fmt: skip
    found = _process(directory, [amy_wrong_digit])
    amy = found["c1"]
    assert (amy.status, amy.urn, amy.upn) == ("approved", "100001", AMY)
    assert "NHS number recorded fails its check digit; ignored for matching" in amy.reason
    with transaction(directory) as session:
        matched = session.execute(
            select(AuditEvent).where(AuditEvent.action == AuditAction.MATCHED.value)
        ).scalar_one()
        details = json.dumps(matched.details)
    assert "the NHS number recorded fails its check digit; ignored for matching" in details
    assert "9991234544" not in details and "4544" not in details


def test_a_child_with_no_number_matches_a_pupil_with_one_as_before(
    directory: sessionmaker[Session],
) -> None:
    found = _process(directory, [child("c1", "Amy Louise", "Doe", "2016-09-14",
                                       address={"postcode": "SO23 8UJ"})])  # fmt: skip
    assert (found["c1"].status, found["c1"].upn) == ("approved", AMY)
    assert "nhs_number" not in json.dumps(found["c1"].candidates)


def test_match_child_reads_the_number_as_recorded(directory: sessionmaker[Session]) -> None:
    person = Person.model_validate(child("c1", "Maisie", "Adeyemi", "2015-06-20",
                                         nhs_number=int(OTHER_NHS)))  # fmt: skip
    with transaction(directory) as session:
        found = match_child(session, person, DAY, Thresholds())
    assert (found.outcome, [c.upn for c in found.chosen]) == (MatchOutcome.CONFIDENT, [RENAMED])


def test_an_nhs_number_in_the_officers_words_never_reaches_the_school() -> None:
    data = incident()
    data["summary"] = "Amy's NHS number is 999 123 4543, her brother's 999-123-4519 and 9991234527."
    found = parse_incident(json.dumps(data).encode())
    account = redact(found.summary, found, found.children[0])
    assert not any(n in account for n in ("4543", "4519", "4527")), account
