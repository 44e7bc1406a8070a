"""Minimisation profiles: one TOML file per local agreement between a force and a council,
saying which optional fields its schools receive and which default ones it leaves out.

    # profiles/hampshire.toml
    name = "hampshire-2026"
    version = 3
    applies_to = { la = ["850"], forces = ["44"] }
    include = ["police_reference", "place_kind"]   # police_reference, place_kind,
                                                   # voice_of_child, risk_level
    omit = []                                      # account, police_actions, circumstances

A profile named by the school's council in its file (``profile = "hampshire-2026"``,
docs/councils.md) wins; then a profile for the school's LA, over one for the incident's
force; otherwise the SPEC's minimal default applies. A file naming any other field is
refused when it loads, and so is a council naming a profile that does not exist
(:func:`check_profiles`, at start).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from foundations.settings import Settings
from foundations.startup import StartupRefused, councils_or_refuse
from schemas.notification import DEFAULT_PROFILE, OMITTABLE, PROFILE_FIELDS, MinimisationProfile

INCLUDABLE = {v: k for k, v in PROFILE_FIELDS.items()}  # field name -> profile switch


class ProfileError(ValueError):
    """A profile file that cannot be used, and why."""


@dataclass(frozen=True)
class ProfileBook:
    by_la: dict[str, MinimisationProfile] = field(default_factory=dict)
    by_force: dict[str, MinimisationProfile] = field(default_factory=dict)
    by_name: dict[str, MinimisationProfile] = field(default_factory=dict)

    def named(self, name: str) -> MinimisationProfile:
        """The profile of this ``name`` (a council's file names one: docs/councils.md);
        ``ProfileError`` when there is none."""
        found = self.by_name.get(name)
        if found is None:
            known = ", ".join(sorted(self.by_name)) or "none (ENCOMPASS_PROFILES_DIR)"
            raise ProfileError(f"no minimisation profile named {name!r}; known: {known}")
        return found

    def choose(
        self, la_code: str | None, force_code: str | None, *, named: str | None = None
    ) -> MinimisationProfile:
        """The council's named profile (``named``), else the one for the school's LA, else
        the force's, else the SPEC's minimal default."""
        if named:
            return self.named(named)
        if la_code and la_code in self.by_la:
            return self.by_la[la_code]
        if force_code and force_code in self.by_force:
            return self.by_force[force_code]
        return DEFAULT_PROFILE


def parse_profile(data: dict[str, Any], where: str) -> tuple[MinimisationProfile, dict[str, Any]]:
    unknown = set(data) - {"name", "version", "applies_to", "include", "omit"}
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    include = data.get("include", [])
    omit = data.get("omit", [])
    if not isinstance(include, list) or not isinstance(omit, list):
        raise ProfileError(f"{where}: include and omit are lists of field names")
    refused = [f for f in include if f not in INCLUDABLE]
    if refused:
        raise ProfileError(
            f"{where}: a profile may not add {refused}; it may add only "
            f"{sorted(INCLUDABLE)}. Adults' details, addresses, officer details and DASH "
            "answers are never sent under any profile"
        )
    not_omittable = [f for f in omit if f not in OMITTABLE]
    if not_omittable:
        raise ProfileError(
            f"{where}: a profile may leave out only {sorted(OMITTABLE)}, not {not_omittable}"
        )
    try:
        profile = MinimisationProfile(
            name=data.get("name", ""),
            version=data.get("version", 1),
            omit=frozenset(omit),
            **{INCLUDABLE[f]: True for f in include},
        )
    except ValidationError as exc:
        raise ProfileError(f"{where}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
    applies = data.get("applies_to", {})
    if not isinstance(applies, dict) or set(applies) - {"la", "forces"}:
        raise ProfileError(f"{where}: applies_to takes la = [...] and forces = [...]")
    return profile, applies


def load_profiles(directory: Path) -> ProfileBook:
    book = ProfileBook()
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"{path.name}: not valid TOML: {exc}") from exc
        profile, applies = parse_profile(data, path.name)
        if profile.name in book.by_name:
            raise ProfileError(f"{path.name}: another file is also named {profile.name!r}")
        book.by_name[profile.name] = profile
        for kind, table in (("la", book.by_la), ("forces", book.by_force)):
            for code in applies.get(kind, []):
                code = str(code)
                if code in table:
                    raise ProfileError(
                        f"{path.name}: {kind} {code} already has profile {table[code].name!r}"
                    )
                table[code] = profile
    return book


@lru_cache(maxsize=8)
def profiles_for(directory: str | None) -> ProfileBook:
    """Loaded once per process; a change of agreement takes effect on restart."""
    return load_profiles(Path(directory)) if directory else ProfileBook()


def check_profiles(settings: Settings) -> None:
    """At start: the profile files load, and every council's ``profile`` and
    ``no_roll_profile`` names one of them. ``StartupRefused`` names what is wrong: a
    council's children would otherwise be sent under the wrong agreement, or not at all."""
    directory = str(settings.profiles_dir) if settings.profiles_dir else None
    try:
        book = profiles_for(directory)
    except (ProfileError, OSError) as exc:
        raise StartupRefused(f"ENCOMPASS_PROFILES_DIR: {exc}") from None
    councils = councils_or_refuse(settings)
    for council in (*councils.members.values(), *councils.neighbours.values()):
        for key in ("profile", "no_roll_profile"):
            name = getattr(council, key)
            if name and name not in book.by_name:
                known = ", ".join(sorted(book.by_name)) or "none"
                raise StartupRefused(
                    f"ENCOMPASS_COUNCILS_DIR: {council.la_code}.toml: {key} {name!r} is not "
                    f"a minimisation profile in ENCOMPASS_PROFILES_DIR (known: {known})"
                )
