"""What a school receives (SPEC section 4): the ``SchoolNotification`` and its profiles.

A ``SchoolNotification`` is the only object a school's e-mail is ever rendered from. It is
built field by field from an allowlist (``consumers.minimise``); it never holds the police
record. Optional fields stay ``None`` unless a ``MinimisationProfile`` switches them on.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

NonEmpty = Annotated[str, Field(min_length=1)]
# The reference goes into the e-mail subject: no spaces, no line breaks, nothing personal.
Reference = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
# Only web links we made ourselves; never ``javascript:`` or the like.
AckUrl = Annotated[str, Field(pattern=r"^https?://[^\s<>\"']+$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FirstResponseContact(_Frozen):
    """Who the school can call at the council's children's services front door."""

    name: NonEmpty
    email: NonEmpty
    phone: NonEmpty


Omittable = Literal["account", "police_actions", "circumstances"]
OMITTABLE: frozenset[str] = frozenset(get_args(Omittable))


class MinimisationProfile(_Frozen):
    """A locally agreed set of extra fields a notification may carry (all off by default)."""

    name: NonEmpty
    version: int = Field(default=1, ge=1)
    include_police_reference: bool = False
    include_place_kind: bool = False
    include_voice_of_child: bool = False
    include_risk_level: bool = False
    # Default fields a local agreement leaves out (only these may be taken away).
    omit: frozenset[Omittable] = frozenset()


DEFAULT_PROFILE = MinimisationProfile(name="default", version=1)

# Profile switch -> the notification field it allows.
PROFILE_FIELDS: dict[str, str] = {
    "include_police_reference": "police_reference",
    "include_place_kind": "place_kind",
    "include_voice_of_child": "voice_of_child",
    "include_risk_level": "risk_level",
}


class SchoolNotification(_Frozen):
    """The minimal, school-facing notification about one child from one incident."""

    reference: Reference
    school_name: NonEmpty
    child_name: NonEmpty  # as the school knows the child, from the directory
    child_date_of_birth: date
    occurred_at: AwareDatetime
    reported_at: AwareDatetime
    deliver_by: AwareDatetime
    present: bool | None
    witnessed: bool | None
    injured: bool | None
    account: str  # the redacted summary: adults only by relationship to the child
    police_actions: list[str]  # plain words
    social_care_informed: bool
    first_response: FirstResponseContact
    ack_url: AckUrl | None = None
    is_update: bool = False  # this updates an earlier notification
    omitted: list[str] = Field(default_factory=list)  # left out by the local agreement
    # Only a profile may switch these on.
    police_reference: str | None = None
    place_kind: str | None = None  # e.g. "at the child's home"; never an address
    voice_of_child: str | None = None
    risk_level: str | None = None
