"""The PoliceIncident event on ``police.incidents.v1`` (SPEC section 3).

This model is the contract police system suppliers build against: its JSON Schema is
generated into ``schemas/police.incident.1.json`` and a test keeps the copy current.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SCHEMA_ID = "police.incident/1"


def _has_offset(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("instant must carry a UTC offset, e.g. 2026-11-21T22:40:00+00:00")
    return value


Instant = Annotated[datetime, AfterValidator(_has_offset)]
NonEmpty = Annotated[str, Field(min_length=1)]


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
    lines: list[str] = Field(default_factory=list)
    postcode: str | None = None


class Officer(_Open):
    collar_number: str | None = None
    name: str | None = None


class Person(_Open):
    person_id: NonEmpty
    role: Role
    given_names: str | None = None
    family_name: str | None = None
    known_as: str | None = None
    date_of_birth: date | None = None
    gender: str | None = None
    relationship: Relationship | None = None
    address: Address | None = None
    phone: str | None = None
    email: str | None = None
    # Only meaningful for children.
    present: bool | None = None
    witnessed: bool | None = None
    injured: bool | None = None
    voice_of_child: str | None = None
    school_hint: str | None = None


class PoliceIncident(_Open):
    schema_: Literal["police.incident/1"] = Field(alias="schema")
    incident_id: NonEmpty
    revision: int = Field(ge=1)
    force_code: NonEmpty
    occurred_at: Instant
    reported_at: Instant
    classification: NonEmpty
    dash_risk: str | None = None
    crime_reference: str | None = None
    location: Address | None = None
    summary: str = ""
    police_actions: list[str] = Field(default_factory=list)
    officer: Officer | None = None
    persons: list[Person] = Field(min_length=1)

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
