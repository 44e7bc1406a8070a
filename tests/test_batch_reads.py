"""The intake batch's shared reads give what the per-child reads give: the name counts
read for a whole batch (``frequencies.read_counts``), the pupil row matching read (carried
on the candidate) and a school read with its calendar (``calendar_for_school``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consumers.match import match_child
from foundations.database import transaction
from foundations.models import Pupil, School
from school_directory import frequencies, imports
from school_directory.calendar import calendar_for_school, school_of
from school_directory.matching import Thresholds, child_record
from tests.factories import write_directory as write_files
from tests.test_matching import DAY, extra_pupils, person


@pytest.fixture
def directory(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    files = write_files(tmp_path / "directory", extra_pupils())
    with transaction(sessions) as session:
        imports.import_schools(session, files["schools"])
        imports.import_pupils(session, files["pupils"])
    return sessions


def test_the_batch_s_name_counts_weigh_as_each_child_s_own_read(directory: Any) -> None:
    children = [
        child_record("Leo", "Twin", date_of_birth=date(2017, 5, 5)),
        child_record("Alfie", "Smith", date_of_birth=date(2017, 3, 2)),
        child_record("Zebedee", "Quux", date_of_birth=date(2017, 5, 5)),  # on no roll
        child_record("", "Smith"),
        child_record(None, None, date_of_birth=date(2017, 5, 5)),  # no name to count
    ]
    with transaction(directory) as session:
        one_by_one = [frequencies.rarity(session, c) for c in children]
    with transaction(directory) as session:
        frequencies.read_counts(session, children)
        assert [frequencies.rarity(session, c) for c in children] == one_by_one
        # a new roll's counts: what the transaction kept is forgotten
        frequencies.refresh(session)
        assert frequencies._KEPT not in session.info.get("_per_transaction", (None, {}))[1]


def test_the_notification_s_pupil_is_the_row_matching_read(directory: Any) -> None:
    alfie = person("Alfie", "Smiht", "2017-03-02", address={"postcode": "so224bb"})
    with transaction(directory) as session:
        match = match_child(session, alfie, DAY, Thresholds())
        assert match.releasable and match.exact_schools
        for chosen in match.exact_schools:
            row = chosen.pupil
            assert row is not None and "Alfie" not in repr(chosen)
            pupil = session.execute(
                select(Pupil).where(Pupil.upn == chosen.upn, Pupil.urn == chosen.urn)
            ).scalar_one()
            assert (row.upn, row.urn) == (pupil.upn, pupil.urn)
            assert (row.given_names, row.family_name, row.preferred_name, row.date_of_birth) == (
                pupil.given_names,
                pupil.family_name,
                pupil.preferred_name,
                pupil.date_of_birth,
            )


def test_a_school_read_with_its_calendar_is_the_school(directory: Any) -> None:
    with transaction(directory) as session:
        urn = session.scalars(select(School.urn).limit(1)).one()
        calendar_for_school(session, urn)
        assert school_of(session, urn) is session.get(School, urn)
        assert school_of(session, "999999") is None
