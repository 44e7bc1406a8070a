"""SPEC section 4: a local agreement may add the police reference, the kind of place, the
child's own words and the risk level, or take default fields away; nothing else, ever."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from consumers.minimise import minimise
from consumers.profiles import ProfileError, load_profiles, parse_profile
from consumers.render import render_email
from schemas.incident import PoliceIncident
from schemas.notification import DEFAULT_PROFILE, FirstResponseContact, MinimisationProfile
from tests.factories import incident

SPEC = PoliceIncident.model_validate(incident())
CHILD = SPEC.children[0]


def notify(profile: MinimisationProfile) -> dict[str, object]:
    return minimise(
        SPEC,
        CHILD,
        reference="N-1",
        school_name="Example Primary School",
        child_name="Amy Doe",
        child_date_of_birth=date(2016, 9, 14),
        deliver_by=datetime(2026, 11, 23, 8, 40, tzinfo=UTC),
        first_response=FirstResponseContact(
            name="FR", email="fr@council.example", phone="0300 000 0000"
        ),
        profile=profile,
    ).model_dump()


def profile(**data: object) -> MinimisationProfile:
    return parse_profile({"name": "test", "version": 2, **data}, "test.toml")[0]


def test_the_default_profile_adds_nothing() -> None:
    n = notify(DEFAULT_PROFILE)
    assert n["police_reference"] is None and n["place_kind"] is None
    assert n["voice_of_child"] is None and n["risk_level"] is None


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("police_reference", "44/123456/26"),
        ("voice_of_child", "hid upstairs"),
        ("risk_level", "medium"),
        ("place_kind", "home"),
    ],
)
def test_each_local_addition_changes_that_field_and_nothing_else(field: str, expected: str) -> None:
    base, added = notify(DEFAULT_PROFILE), notify(profile(include=[field]))
    changed = {k for k in base if base[k] != added[k]}
    assert changed == {field}
    assert expected in str(added[field]).lower() or expected in str(added[field])


def test_a_profile_may_take_default_fields_away() -> None:
    n = notify(profile(omit=["account", "police_actions", "circumstances"]))
    assert n["account"] == "" and n["police_actions"] == [] and n["present"] is None
    text = render_email(
        minimise(
            SPEC,
            CHILD,
            reference="N-1",
            school_name="S",
            child_name="Amy Doe",
            child_date_of_birth=date(2016, 9, 14),
            deliver_by=datetime(2026, 11, 23, tzinfo=UTC),
            first_response=FirstResponseContact(name="FR", email="fr@c.example", phone="1"),
            profile=profile(omit=["account"]),
        )
    ).text
    assert "Not shared under your local agreement" in text


@pytest.mark.parametrize(
    "bad",
    [
        {"include": ["suspect_name"]},
        {"include": ["address"]},
        {"include": ["dash_answers"]},
        {"omit": ["child_name"]},
        {"surprise": True},
        {"applies_to": {"region": ["x"]}},
    ],
)
def test_fields_outside_the_allowed_set_are_refused_when_the_profile_loads(
    bad: dict[str, object],
) -> None:
    with pytest.raises(ProfileError):
        parse_profile({"name": "bad", **bad}, "bad.toml")


def test_the_school_la_wins_over_the_force(tmp_path: Path) -> None:
    (tmp_path / "la.toml").write_text(
        'name = "hampshire"\nversion = 3\napplies_to = { la = ["850"] }\n'
        'include = ["police_reference"]\n'
    )
    (tmp_path / "force.toml").write_text(
        'name = "force-44"\napplies_to = { forces = ["44"] }\ninclude = ["risk_level"]\n'
    )
    book = load_profiles(tmp_path)
    assert book.choose("850", "44").name == "hampshire"
    assert book.choose("851", "44").name == "force-44"
    assert book.choose("851", "99") is DEFAULT_PROFILE


def test_two_profiles_for_one_la_are_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            f'name = "{name}"\napplies_to = {{ la = ["850"] }}\n'
        )
    with pytest.raises(ProfileError, match="already has profile"):
        load_profiles(tmp_path)


def test_profiles_round_trip_through_json_for_the_queue() -> None:
    n = notify(profile(include=["place_kind"], omit=["police_actions"]))
    assert json.loads(json.dumps(n, default=str))["omitted"] == ["police_actions"]
