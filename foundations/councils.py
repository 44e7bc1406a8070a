"""The councils one deployment serves, and the neighbouring councils whose schools its
children attend: one TOML file per council in ``ENCOMPASS_COUNCILS_DIR``, read and checked
once when a process starts (docs/councils.md). A file that cannot be used stops the start
with its name and the reason: a half-configured council would send its children's e-mails
with another council's contact, or its alerts to nobody.

    # councils/850.toml: a council this deployment serves
    la_code = "850"
    name = "Hampshire"
    kind = "member"                       # member (the default) or neighbour
    postcode_prefixes = ["SO", "GU51"]    # where its children live (member only)
    lead = true                           # one member: takes children placed nowhere else
    review_policy = "all"                 # default: ENCOMPASS_REVIEW_POLICY
    profile = "hampshire-2026"            # its schools' minimisation profile, by name
    no_roll_profile = "hampshire-no-roll" # for its ehe/cme officers (optional)

    [first_response]
    name = "Hampshire Children's Services Front Door"
    email = "front.door@hants.example"
    phone = "0300 555 1384"
    duty_email = "fr.duty@hants.example"  # its alerts; default: email

    # councils/673.toml: a neighbour, whose schools some of our children attend
    la_code = "673"
    name = "Neighbouring council"
    kind = "neighbour"
    handling = "direct"                   # send to the school itself, or "first_response":
                                          # send to the neighbour's First Response
    [first_response]                      # needed for first_response handling
    ...

Without ``ENCOMPASS_COUNCILS_DIR`` the deployment is one council, as it always was: its
First Response is ``ENCOMPASS_FIRST_RESPONSE_*``, every account sees every notification, and
:func:`single_council` describes it with ``la_code`` None ("any").
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from foundations.settings import ReviewPolicy, Settings

LA_CODE = re.compile(r"^\d{3}$")  # England 201-938, Wales 660-681 (GIAS "LA (code)")
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"  # the placeholder check is foundations/startup.py's


class CouncilError(ValueError):
    """A council file that cannot be used, and why (its name first)."""


class CouncilKind(StrEnum):
    MEMBER = "member"  # this deployment serves it: its reviewers, its First Response
    NEIGHBOUR = "neighbour"  # some of our children attend its schools


class Handling(StrEnum):
    """What happens to a notification for a school in a neighbouring council."""

    DIRECT = "direct"  # to the school's own safeguarding lead (its contacts are known)
    FIRST_RESPONSE = "first_response"  # to the neighbour's First Response, for onward handling


class FirstResponse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=EMAIL, max_length=254)
    phone: str = Field(min_length=1, max_length=40)
    duty_email: str | None = Field(default=None, pattern=EMAIL, max_length=254)  # alerts

    @property
    def duty_inbox(self) -> str:
        return self.duty_email or self.email


class Council(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    la_code: str | None = Field(pattern=LA_CODE.pattern)  # None: the single-council default
    name: str = Field(min_length=1, max_length=100)
    kind: CouncilKind = CouncilKind.MEMBER
    handling: Handling | None = None  # neighbours only
    postcode_prefixes: tuple[str, ...] = ()
    lead: bool = False
    review_policy: ReviewPolicy | None = None  # None: ENCOMPASS_REVIEW_POLICY
    profile: str | None = None  # a minimisation profile's name; None: by LA/force as before
    no_roll_profile: str | None = None
    first_response: FirstResponse | None = None

    @model_validator(mode="after")
    def _whole(self) -> Council:
        if self.kind is CouncilKind.MEMBER:
            if self.first_response is None:
                raise ValueError("a member council needs [first_response] name, email, phone")
            if self.handling is not None:
                raise ValueError("handling is for neighbouring councils only")
        else:
            if self.handling is None:
                raise ValueError('a neighbour needs handling = "direct" or "first_response"')
            if self.handling is Handling.FIRST_RESPONSE and self.first_response is None:
                raise ValueError("handling = first_response needs [first_response]")
            if self.lead or self.postcode_prefixes:
                raise ValueError("lead and postcode_prefixes are for member councils only")
            if self.review_policy is not None or self.no_roll_profile is not None:
                raise ValueError("review_policy and no_roll_profile are for member councils")
        return self

    @property
    def label(self) -> str:
        return f"{self.name} ({self.la_code})" if self.la_code else self.name


def _postcode_key(postcode: str | None) -> str:
    return re.sub(r"\s+", "", postcode or "").upper()


@dataclass(frozen=True)
class Councils:
    """The deployment's councils. ``scoped`` is False for the single-council default, where
    accounts carry no councils and see everything."""

    members: dict[str, Council] = field(default_factory=dict)
    neighbours: dict[str, Council] = field(default_factory=dict)
    default: Council | None = None  # the single-council deployment's one council

    @property
    def scoped(self) -> bool:
        return bool(self.members)

    @property
    def lead(self) -> Council:
        if self.default is not None:
            return self.default
        return next(c for c in self.members.values() if c.lead)

    def member(self, la_code: str | None) -> Council | None:
        """The member council of this LA code; in a single-council deployment, its one."""
        if self.default is not None:
            return self.default
        return self.members.get(la_code or "")

    def neighbour(self, la_code: str | None) -> Council | None:
        return None if self.default is not None else self.neighbours.get(la_code or "")

    def get(self, la_code: str | None) -> Council | None:
        return self.member(la_code) or self.neighbour(la_code)

    def home(self, postcode: str | None) -> Council:
        """The member council where a child lives, by the longest postcode prefix that
        matches; the lead council when none does (someone always reads it)."""
        key = _postcode_key(postcode)
        best: tuple[int, Council] | None = None
        if key and self.default is None:
            for council in self.members.values():
                for prefix in council.postcode_prefixes:
                    p = _postcode_key(prefix)
                    if key.startswith(p) and (best is None or len(p) > best[0]):
                        best = (len(p), council)
        return best[1] if best else self.lead

    def owner(self, school_la: str | None, home_postcode: str | None) -> str | None:
        """The member council that owns a notification: its school's, when the school is in
        a member council; otherwise (a neighbour's school, a council the deployment has no
        file for, no school) the child's home council. None in a single-council deployment."""
        if self.default is not None:
            return None
        if school_la and school_la in self.members:
            return school_la
        return self.home(home_postcode).la_code

    def first_response(self, la_code: str | None) -> FirstResponse:
        """The First Response for a notification owned by this council (the lead's when the
        code is unknown: an e-mail never goes without a contact)."""
        council = self.get(la_code)
        if council is not None and council.first_response is not None:
            return council.first_response
        contact = self.lead.first_response
        assert contact is not None  # a member always has one (validated)
        return contact

    def review_policy(self, la_code: str | None, default: ReviewPolicy) -> ReviewPolicy:
        council = self.member(la_code)
        return council.review_policy if council and council.review_policy else default

    def duty_inboxes(self) -> dict[str | None, str]:
        if self.default is not None:
            assert self.default.first_response is not None
            return {None: self.default.first_response.duty_inbox}
        return {
            code: c.first_response.duty_inbox
            for code, c in self.members.items()
            if c.first_response is not None
        }


def single_council(settings: Settings) -> Councils:
    """The deployment without a councils folder: one council, everything visible to all."""
    contact = FirstResponse.model_construct(
        name=settings.first_response_name,
        email=settings.first_response_email,
        phone=settings.first_response_phone,
        duty_email=settings.first_response_duty_email,
    )
    one = Council.model_construct(
        la_code=None,
        name=settings.first_response_name,
        kind=CouncilKind.MEMBER,
        handling=None,
        postcode_prefixes=(),
        lead=True,
        review_policy=None,
        profile=None,
        no_roll_profile=None,
        first_response=contact,
    )
    return Councils(default=one)


def parse_council(data: dict[str, Any], where: str) -> Council:
    try:
        council = Council.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "file"
        raise CouncilError(f"{where}: {loc}: {first['msg']}") from None
    if council.la_code is None:
        raise CouncilError(f"{where}: la_code is required")
    stem = Path(where).stem
    if stem != council.la_code:
        raise CouncilError(
            f"{where}: the file of LA {council.la_code} is named {council.la_code}.toml"
        )
    return council


def load_councils(directory: Path) -> Councils:
    if not directory.is_dir():
        raise CouncilError(f"ENCOMPASS_COUNCILS_DIR {str(directory)!r} is not a folder")
    members: dict[str, Council] = {}
    neighbours: dict[str, Council] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CouncilError(f"{path.name}: not valid TOML: {exc}") from None
        council = parse_council(data, path.name)
        code = council.la_code or ""
        (members if council.kind is CouncilKind.MEMBER else neighbours)[code] = council
    if not members:
        raise CouncilError(
            f"ENCOMPASS_COUNCILS_DIR {str(directory)!r} names no member council: "
            "add a file per council this deployment serves (docs/councils.md)"
        )
    leads = [c.la_code for c in members.values() if c.lead]
    if len(members) == 1 and not leads:
        only = next(iter(members))
        members[only] = members[only].model_copy(update={"lead": True})
    elif len(leads) != 1:
        raise CouncilError(
            "exactly one member council is the lead (lead = true), which takes the children "
            f"whose home council is not known; found {len(leads)}: {sorted(map(str, leads))}"
        )
    prefixes: dict[str, str] = {}
    for code, council in members.items():
        for prefix in council.postcode_prefixes:
            key = _postcode_key(prefix)
            if not key or key in prefixes:
                raise CouncilError(
                    f"{code}.toml: postcode prefix {prefix!r} is "
                    + ("empty" if not key else f"also {prefixes[key]}'s")
                )
            prefixes[key] = code
    return Councils(members=members, neighbours=neighbours)


@lru_cache(maxsize=8)
def _load_cached(directory: str) -> Councils:
    return load_councils(Path(directory))


def councils_for(settings: Settings) -> Councils:
    """The deployment's councils: loaded once per process (a change takes effect on
    restart); the single-council default when no folder is set."""
    if settings.councils_dir is None:
        return single_council(settings)
    return _load_cached(str(settings.councils_dir))
