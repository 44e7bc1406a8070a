"""The PoliceIncident event on ``police.incidents.v1`` (SPEC section 3).

This model is the contract police system suppliers build against: its JSON Schema is
generated into ``schemas/police.incident.1.json`` and a test keeps the copy current.

Every string has a maximum length, and every value kept in a column of its own fits that
column (``foundations/models/``, migration 0014): an event the schema accepts must never be
one the database refuses, or it would be retried instead of dead-lettered with its reason.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

SCHEMA_ID = "police.incident/1"

# Lengths in characters.
ID_MAX = 64  # incident_id, person_id: columns of incidents, notifications, audit_events
FORCE_CODE_MAX = 16  # two digits today (Home Office force codes), room for other schemes
CLASSIFICATION_MAX = 64  # incidents.classification
CODE_MAX = 32  # dash_risk, gender, an officer's collar number
REFERENCE_MAX = 64  # crime_reference
NAME_MAX = 200  # a given name, a family name, known_as, an officer's name, a school hint
LINE_MAX = 200  # one line of an address; one police action
POSTCODE_MAX = 16
NHS_NUMBER_MAX = 64  # ten digits, 3-3-4 with spaces; room for whatever a system puts there
PHONE_MAX = 40
EMAIL_MAX = 254  # RFC 5321's limit on a path
TEXT_MAX = 20_000  # the officer's summary; the voice of the child
ADDRESS_LINES_MAX = 10
POLICE_ACTIONS_MAX = 50
PERSONS_MAX = 100
REVISION_MAX = 2**31 - 1  # an INTEGER column on every database
# Instants and dates within these years: Python cannot convert an instant near year 1 or
# 9999 to UTC, nor count a deadline from it.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class _NoControlCharacters:
    """Refuses C0 and C1 control characters (NUL among them, which PostgreSQL text cannot
    hold), less those ``allowed``; the JSON Schema says the same with a pattern."""

    def __init__(self, allowed: str = "") -> None:
        codes = [c for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in allowed]
        ranges = ""
        for c in codes:  # runs of consecutive codes as ranges: \x00-\x08\x0b...
            if c - 1 in codes and c + 1 in codes:
                ranges += "" if ranges.endswith("-") else "-"
            else:
                ranges += f"\\x{c:02x}"
        self.pattern = f"^[^{ranges}]*$"
        self.forbidden = re.compile(f"[{ranges}]")
        self.message = (
            "control characters other than tab and line breaks are not allowed"
            if allowed
            else "control characters (a line break, NUL, ...) are not allowed here"
        )

    def check(self, value: str) -> str:
        if self.forbidden.search(value):
            raise ValueError(self.message)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


ONE_LINE = _NoControlCharacters()
MULTI_LINE = _NoControlCharacters(allowed="\t\n\r")


def _has_offset(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("instant must carry a UTC offset, e.g. 2026-11-21T22:40:00+00:00")
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"instant must lie in the years {EARLIEST.year} to {LATEST.year - 1}")
    return value


def _plausible(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"date must lie in the years {EARLIEST.year} to {LATEST.year - 1}")
    return value


Instant = Annotated[datetime, AfterValidator(_has_offset)]
Day = Annotated[date, AfterValidator(_plausible)]
Id = Annotated[str, Field(min_length=1, max_length=ID_MAX), ONE_LINE]
Code = Annotated[str, Field(max_length=CODE_MAX), ONE_LINE]
Name = Annotated[str, Field(max_length=NAME_MAX), ONE_LINE]
Line = Annotated[str, Field(max_length=LINE_MAX), ONE_LINE]
Text = Annotated[str, Field(max_length=TEXT_MAX), MULTI_LINE]
# The child's NHS number as recorded (foundations.nhs_number): text, or a JSON number read
# as its digits. Its check digit is NOT a reason to refuse the event: an NHS number that
# is not valid is ignored for matching and said so in the audit trail (docs/matching.md),
# so a typing slip can never hold a notification back.
NhsNumber = (
    Annotated[
        str,
        Field(
            max_length=NHS_NUMBER_MAX,
            description=(
                "The child's NHS number: ten digits, or 3-3-4 with spaces or hyphens. "
                "Optional. One failing its modulus-11 check digit is not refused: it is "
                "ignored for matching and recorded as not valid."
            ),
        ),
        ONE_LINE,
    ]
    | int  # read as its digits: a number that lost a leading zero is simply not valid
)


class Role(StrEnum):
    VICTIM = "victim"
    SUSPECT = "suspect"
    OTHER_ADULT = "other_adult"
    CHILD = "child"


class Relationship(StrEnum):
    PARENT = "parent"
    STEP_PARENT = "step_parent"
    PARENT_PARTNER = "parent_partner"
    GRANDPARENT = "grandparent"
    SIBLING = "sibling"
    OTHER_RELATIVE = "other_relative"
    OTHER = "other"


IN_SCOPE_CLASSIFICATION = "domestic_abuse"


class _Open(BaseModel):
    """Fields may be added to the contract (SPEC preamble): unknown ones are kept."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Address(_Open):
    lines: list[Line] = Field(default_factory=list, max_length=ADDRESS_LINES_MAX)
    postcode: Annotated[str, Field(max_length=POSTCODE_MAX), ONE_LINE] | None = None


class Officer(_Open):
    collar_number: Code | None = None
    name: Name | None = None


class Person(_Open):
    person_id: Id
    role: Role
    given_names: Name | None = None
    family_name: Name | None = None
    known_as: Name | None = None
    date_of_birth: Day | None = None
    gender: Code | None = None
    relationship: Relationship | None = None
    address: Address | None = None
    phone: Annotated[str, Field(max_length=PHONE_MAX), ONE_LINE] | None = None
    email: Annotated[str, Field(max_length=EMAIL_MAX), ONE_LINE] | None = None
    # Only meaningful for children.
    present: bool | None = None
    witnessed: bool | None = None
    injured: bool | None = None
    voice_of_child: Text | None = None
    school_hint: Name | None = None
    nhs_number: NhsNumber | None = None  # children only: the consistent child identifier


class PoliceIncident(_Open):
    schema_: Literal["police.incident/1"] = Field(alias="schema")
    incident_id: Id
    revision: int = Field(ge=1, le=REVISION_MAX)
    force_code: Annotated[str, Field(min_length=1, max_length=FORCE_CODE_MAX), ONE_LINE]
    occurred_at: Instant
    reported_at: Instant
    classification: Annotated[str, Field(min_length=1, max_length=CLASSIFICATION_MAX), ONE_LINE]
    dash_risk: Code | None = None
    crime_reference: Annotated[str, Field(max_length=REFERENCE_MAX), ONE_LINE] | None = None
    location: Address | None = None
    summary: Text = ""
    police_actions: list[Line] = Field(default_factory=list, max_length=POLICE_ACTIONS_MAX)
    officer: Officer | None = None
    persons: list[Person] = Field(min_length=1, max_length=PERSONS_MAX)

    @property
    def in_scope(self) -> bool:
        return self.classification == IN_SCOPE_CLASSIFICATION

    @property
    def children(self) -> list[Person]:
        return [p for p in self.persons if p.role is Role.CHILD]

    @property
    def adults(self) -> list[Person]:
        return [p for p in self.persons if p.role is not Role.CHILD]


def incident_json_schema() -> dict[str, object]:
    schema = PoliceIncident.model_json_schema(by_alias=True)
    schema["$id"] = "https://encompass.example/schemas/police.incident.1.json"
    schema["title"] = SCHEMA_ID
    return schema
