"""Synthetic incidents for the demo, the tests and the benchmarks. Synthetic only: every
name comes from Faker or from the synthetic directory, never from a real person."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker


@dataclass(frozen=True)
class PupilSeed:
    """What police might know of a pupil: enough to build a child in an incident."""

    given_names: str
    family_name: str
    preferred_name: str
    date_of_birth: date
    postcode: str
    nhs_number: str = ""  # the pupil's (synthetic, 999 range) when the directory has one


OTHER_ADULTS = (
    ("suspect", "parent_partner"),
    ("suspect", "parent"),
    ("suspect", "step_parent"),
    ("other_adult", "grandparent"),
)
ACTIONS = (
    "suspect_arrested",
    "referral_to_childrens_social_care",
    "advice_given",
    "dash_completed",
    "safeguarding_referral",
)


def _typo(name: str, rng: random.Random) -> str:
    if len(name) < 4:
        return name
    i = rng.randrange(1, len(name) - 1)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :]


def make_incident(
    n: int,
    children: Sequence[PupilSeed | None],
    *,
    rng: random.Random,
    fake: Faker,
    now: datetime | None = None,
    force_code: str = "44",
    typo: bool = False,
) -> dict[str, Any]:
    """One police.incident/1 event; ``None`` in ``children`` is a child with no pupil record."""
    now = now or datetime.now(UTC)
    occurred = now - timedelta(minutes=rng.randint(20, 240))
    family = children[0].family_name if children and children[0] else fake.last_name()
    street = f"{rng.randint(1, 200)} {fake.street_name()}"
    postcode = fake.postcode()
    persons: list[dict[str, Any]] = []
    for i, (role, relationship) in enumerate([("victim", "parent"), rng.choice(OTHER_ADULTS)]):
        persons.append(
            {
                "person_id": f"a{i + 1}",
                "role": role,
                "relationship": relationship,
                "given_names": fake.first_name(),
                "family_name": family if relationship == "parent" else fake.last_name(),
                "date_of_birth": fake.date_of_birth(minimum_age=22, maximum_age=60).isoformat(),
                "address": {"lines": [street, fake.city()], "postcode": postcode},
            }
        )
    for i, seed in enumerate(children):
        if seed is None:
            given, fam = fake.first_name(), fake.last_name()
            dob = fake.date_of_birth(minimum_age=5, maximum_age=15)
        else:
            given = seed.given_names.split()[0]
            given = _typo(given, rng) if typo else given
            fam, dob = seed.family_name, seed.date_of_birth
        persons.append(
            {
                "person_id": f"c{i + 1}",
                "role": "child",
                "given_names": given,
                "family_name": fam,
                "date_of_birth": dob.isoformat(),
                "known_as": seed.preferred_name if seed and seed.preferred_name else None,
                "address": {"lines": [street], "postcode": postcode},
                "present": rng.random() < 0.8,
                "witnessed": rng.random() < 0.5,
                "injured": rng.random() < 0.05,
                "voice_of_child": "The child said they were scared."
                if rng.random() < 0.3
                else None,
            }
        )
        if seed is not None and seed.nhs_number:  # police who know it record it
            persons[-1]["nhs_number"] = seed.nhs_number
    victim = next(p for p in persons if p["role"] == "victim")
    suspect = next((p for p in persons if p["role"] == "suspect"), persons[1])
    summary = (
        f"Police were called to {street}, {postcode} after {suspect['given_names']} "
        f"{suspect['family_name']} argued with {victim['given_names']}. "
        f"{victim['given_names']}'s phone 07700 900{rng.randint(100, 999)} was damaged. "
        "The children were in the house."
    )
    return {
        "schema": "police.incident/1",
        "incident_id": f"{force_code}-{occurred:%Y%m%d}-{n:06d}",
        "revision": 1,
        "force_code": force_code,
        "occurred_at": occurred.isoformat(timespec="seconds"),
        "reported_at": (occurred + timedelta(minutes=25)).isoformat(timespec="seconds"),
        "classification": "domestic_abuse",
        "dash_risk": rng.choice(["standard", "medium", "high"]),
        "crime_reference": f"{force_code}/{rng.randint(100000, 999999)}/26",
        "location": {"lines": [street, fake.city()], "postcode": postcode},
        "summary": summary,
        "police_actions": rng.sample(ACTIONS, 2),
        "officer": {
            "collar_number": str(rng.randint(1000, 9999)),
            "name": f"PC {fake.last_name()}",
        },
        "persons": persons,
    }


def incident_stream(
    seeds: Sequence[PupilSeed],
    count: int,
    *,
    seed: int = 11,
    start: int = 1,
    unknown_rate: float = 0.05,
    typo_rate: float = 0.1,
) -> Iterator[dict[str, Any]]:
    """``count`` incidents with one to three children drawn from ``seeds``."""
    rng = random.Random(seed)
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    for n in range(start, start + count):
        k = rng.choice((1, 1, 2, 3))
        kids: list[PupilSeed | None] = [
            None if rng.random() < unknown_rate else rng.choice(seeds) for _ in range(k)
        ]
        yield make_incident(n, kids, rng=rng, fake=fake, typo=rng.random() < typo_rate)
