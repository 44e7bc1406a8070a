"""A pupil row of the roll: parsed and checked (``pupil_values``), and made ready to insert
(``PupilRows``) for the first roll, whose rows are prepared apart from the process that
writes them (school_directory/import_workers.py). The single-process import parses with
the same ``pupil_values``; both seal with ``foundations.row_sealing.sealed_rows`` and hash
with ``foundations.crypto.blind_value``, so a roll is the same whichever way it came in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Date, Table

from foundations.crypto import BlindIndex, Encrypted, Keyring, blind_value
from foundations.models import MATCH_RECORD, Pupil
from foundations.nhs_number import nhs_number_problem, normalise_nhs_number
from foundations.row_sealing import encrypted_in, sealed_rows
from school_directory import names
from school_directory.csv_rows import RowError, parse_date, parse_urn
from school_directory.upn import upn_problem

PUPIL_REQUIRED = ("upn", "given_names", "family_name", "date_of_birth", "urn")
PUPIL_OPTIONAL = (
    "preferred_name",
    "gender",
    "postcode",
    "on_roll_from",
    "on_roll_until",
    "nhs_number",
)
# A prepared row's columns, in order: what ``pupil_values`` gives but ``_nhs_problem``.
PREPARED_COLUMNS = (
    "upn", "urn", "given_names", "family_name", "preferred_name", "date_of_birth", "gender",
    "postcode", "match_record", "nhs_number", "nhs_key", "on_roll_from", "on_roll_until",
    "dob_key", "birth_year_key", "postcode_key", "district_key", "family_name_key",
    "given_name_key", "preferred_name_key", "family_key", "given_key",
)  # fmt: skip
# One record of a prepared part of the file: (its line, the error that refused it, the
# warning it was imported with, the row ready to insert: PREPARED_COLUMNS' values).
Item = tuple[int, str | None, str | None, tuple[Any, ...] | None]


def pupil_values(row: dict[str, str], urns: set[str], today: date) -> dict[str, Any]:
    """One record of a pupils file checked and made into a pupil's values; ``RowError``
    says why it is refused. ``_nhs_problem``: why its NHS number is left out, if it is."""
    upn = row["upn"].upper()
    problem = upn_problem(upn)
    if problem:
        raise RowError(problem)
    urn = parse_urn(row["urn"], urns)
    if not row["given_names"] and not row["family_name"]:
        raise RowError("given_names and family_name are both empty")
    born = parse_date(row["date_of_birth"], "date_of_birth", required=True)
    assert born is not None  # required=True refuses a missing date
    if born > today:
        raise RowError("date_of_birth is in the future")
    on_from = parse_date(row["on_roll_from"], "on_roll_from", required=False)
    on_until = parse_date(row["on_roll_until"], "on_roll_until", required=False)
    if on_from and on_until and on_until < on_from:
        raise RowError("on_roll_until is before on_roll_from")
    postcode = names.postcode(row["postcode"])
    personal = {
        "given_names": row["given_names"],
        "family_name": row["family_name"],
        "preferred_name": row["preferred_name"],
        "date_of_birth": born,
        "gender": row["gender"],
        "postcode": postcode,
    }
    nhs = normalise_nhs_number(row["nhs_number"])
    return {
        "upn": upn,
        "urn": urn,
        **personal,
        # the NHS number follows the six only when there is one (models.MATCH_RECORD)
        "match_record": [str(personal[f]) for f in MATCH_RECORD] + ([nhs] if nhs else []),
        "nhs_number": nhs or None,
        "nhs_key": nhs,
        "_nhs_problem": nhs_number_problem(row["nhs_number"]),
        "on_roll_from": on_from,
        "on_roll_until": on_until,
        "dob_key": born.isoformat(),
        "birth_year_key": str(born.year),
        "postcode_key": postcode,
        "district_key": names.postcode_district(postcode),
        "family_name_key": names.normalise(row["family_name"]),
        "given_name_key": names.first_given(row["given_names"]),
        "preferred_name_key": names.normalise(row["preferred_name"]),
        "family_key": names.family_key(row["family_name"]),
        "given_key": names.given_key(row["given_names"]),
    }


def nhs_warning(problem: str) -> str:
    """The warning of a pupil imported without its NHS number (the value not repeated)."""
    return f"nhs_number {problem}; imported without it"


class PupilRows:
    """Records of a pupils file made into ``Item``s: checked, sealed for their rows, their
    blind indexes made, each row a tuple of what the database driver takes as it is (text,
    and dates as text for SQLite, as SQLAlchemy would bind them)."""

    def __init__(
        self, ring: Keyring | None, urns: set[str], today: date, *, dates_as_text: bool
    ) -> None:
        self.ring, self.urns, self.today = ring, urns, today
        self.dates_as_text = dates_as_text
        table: Table = Pupil.__table__  # type: ignore[assignment]
        self.table = table
        self.encrypted = encrypted_in(table)
        kinds = []
        for name in PREPARED_COLUMNS:
            kind = table.c[name].type
            if isinstance(kind, Encrypted):
                kinds.append("sealed" if ring is not None else "dumped")
            elif isinstance(kind, BlindIndex):
                kinds.append("blind")
            elif isinstance(kind, Date) and dates_as_text:
                kinds.append("date")
            else:
                kinds.append("as is")
        self.kinds = tuple(zip(PREPARED_COLUMNS, kinds, strict=True))

    def items(self, records: Iterable[tuple[int, dict[str, str] | str]]) -> list[Item]:
        """Each record as an ``Item``, in the order given."""
        items: list[Item] = []
        good: list[dict[str, Any]] = []
        places: list[int] = []
        for line, row in records:
            if isinstance(row, str):
                items.append((line, row, None, None))
                continue
            try:
                values = pupil_values(row, self.urns, self.today)
            except RowError as exc:
                items.append((line, str(exc), None, None))
                continue
            problem = values.pop("_nhs_problem")
            places.append(len(items))
            items.append((line, None, nhs_warning(problem) if problem else None, None))
            good.append(values)
        if self.ring is not None and good:
            good = sealed_rows(self.ring, self.table, self.encrypted, good, inserting=True)
        for place, values in zip(places, good, strict=True):
            line, _, warning, _ = items[place]
            items[place] = (line, None, warning, self._row(values))
        return items

    def _row(self, values: dict[str, Any]) -> tuple[Any, ...]:
        ring = self.ring
        row: list[Any] = []
        for name, kind in self.kinds:
            value = values[name]
            if kind == "blind":
                value = blind_value(ring, value)
            elif kind == "date":
                value = None if value is None else value.isoformat()
            elif kind == "dumped" and value is not None:
                value = self.table.c[name].type._dump(value)  # type: ignore[attr-defined]
            row.append(value)
        return tuple(row)
