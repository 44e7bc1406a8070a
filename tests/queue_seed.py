"""A Monday morning's review queue, synthetic: incidents of the weekend through the real
pipeline (intake, matching, minimising, the residual check), leaving notifications of
each kind a reviewer meets (issue 15):

- ``release_grade``: the child found exactly, at one school, a sure match;
- ``twins``: two pupil records with the child's names and date of birth (two schools);
- ``not_found``: no pupil record for the child;
- ``account_held``: a sure match whose officer's account names someone, held for a person;
- ``update``: a second revision of an incident whose first notification was sent.

Every name is made up here from syllables; the schools are those of
``tests.factories.write_directory``. Used by the browser test of the queue and by
``bench/queue.py``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.database import transaction
from foundations.models import Notification, NotificationStatus
from foundations.settings import Settings
from tests.factories import import_directory, upn, write_directory

KINDS = ("release_grade", "twins", "not_found", "account_held", "update")
# Two hundred after a weekend: mostly sure matches, and the rest a person must judge.
MONDAY_MIX = {"release_grade": 110, "twins": 24, "not_found": 26, "account_held": 24,
              "update": 16}  # fmt: skip
# The weekend the incidents come from, and the Monday morning the reviewer opens the queue.
SATURDAY = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MONDAY_0730 = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)

GIVEN = ("Ava", "Ben", "Cara", "Dev", "Ella", "Finn", "Gina", "Hugo", "Isla", "Jake", "Kira",
         "Liam", "Mia", "Noah", "Orla", "Pete", "Ruby", "Sam", "Tara", "Umar", "Vera", "Will",
         "Yara", "Zack", "Alba", "Cody", "Demi", "Ezra", "Fern", "Gus")  # fmt: skip
FRONT = ("Ash", "Birch", "Cold", "Dun", "Elm", "Fair", "Glen", "Holl", "Ivy", "Kings", "Lang",
         "Marsh", "North", "Oak", "Pen", "Quin", "Rush", "Stan", "Thorn", "Wood")  # fmt: skip
BACK = ("by", "combe", "dale", "field", "ford", "gate", "ham", "ley", "more", "stead", "ton",
        "well", "worth", "wick", "brook", "cott", "den", "hurst", "mere", "ridge")  # fmt: skip
ADULTS = ("Victoria Harrison", "Marcus Pell", "Joanne Kettering", "Darren Mostyn")


@dataclass
class Seeded:
    """The notifications made, by kind, and what a reviewer needs to finish each."""

    ids: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    # For twins: the pupil record to choose (UPN, URN).
    right_twin: dict[str, tuple[str, str]] = field(default_factory=dict)


def names() -> Iterator[tuple[str, str]]:
    """Given and family names, every pair different (12,000 of them)."""
    for front in FRONT:
        for back in BACK:
            for given in GIVEN:
                yield given, front + back


def _child(
    person_id: str, given: str, family: str, born: date, gender: str, postcode: str
) -> dict[str, Any]:
    return {
        "person_id": person_id, "role": "child", "given_names": given, "family_name": family,
        "date_of_birth": born.isoformat(), "gender": "female" if gender == "F" else "male",
        "address": {"lines": ["1 Example Road"], "postcode": postcode},
        "present": True, "witnessed": True, "injured": False,
    }  # fmt: skip


def _incident(n: int, child: dict[str, Any], rng: random.Random, summary: str) -> dict[str, Any]:
    reported = SATURDAY + timedelta(minutes=rng.randint(0, 44 * 60))
    return {
        "schema": "police.incident/1",
        "incident_id": f"44-{reported:%Y%m%d}-{n:06d}",
        "revision": 1,
        "force_code": "44",
        "occurred_at": (reported - timedelta(minutes=30)).isoformat(timespec="seconds"),
        "reported_at": reported.isoformat(timespec="seconds"),
        "classification": "domestic_abuse",
        "dash_risk": rng.choice(("standard", "medium", "medium", "high")),
        "summary": summary,
        "police_actions": ["dash_completed"],
        "persons": [
            {"person_id": "a1", "role": "victim", "relationship": "parent",
             "given_names": "Alex", "family_name": child["family_name"]},
            {"person_id": "a2", "role": "suspect", "relationship": "parent_partner"},
            child,
        ],
    }  # fmt: skip


def plan(
    mix: dict[str, int], seed: int = 15
) -> tuple[list[dict[str, str]], list[tuple[str, dict[str, Any]]], dict[str, tuple[str, str]]]:
    """The pupil rows of the directory, the incidents in order with their kind, and the
    right twin of each twins incident (by incident id)."""
    rng = random.Random(seed)
    pupils: list[dict[str, str]] = []
    incidents: list[tuple[str, dict[str, Any]]] = []
    right: dict[str, tuple[str, str]] = {}
    pool = names()
    serial = 0

    def pupil(given: str, family: str, born: date, urn: str, gender: str, postcode: str) -> str:
        nonlocal serial
        serial += 1
        number = upn(f"8502001{serial:05d}")
        pupils.append({"upn": number, "given_names": given, "family_name": family,
                       "date_of_birth": born.isoformat(), "urn": urn, "gender": gender,
                       "postcode": postcode,
                       "on_roll_from": "2022-09-01"})  # fmt: skip
        return number

    n = 0
    for kind in KINDS:
        for _ in range(mix.get(kind, 0)):
            n += 1
            given, family = next(pool)
            born = date(2012, 9, 1) + timedelta(days=rng.randint(0, 8 * 365))
            urn = rng.choice(("100001", "100002"))
            gender = rng.choice("FM")
            postcode = (
                f"SO{rng.randint(20, 24)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLN')}"
                f"{rng.choice('PQRSTUWXYZ')}"
            )
            summary = "Police attended after a report of shouting. The child was upstairs."
            if kind == "twins":
                pupil(given, family, born, "100001", gender, postcode)
                right_upn = pupil(given, family, born, "100002", gender, postcode)
            elif kind != "not_found":
                pupil(given, family, born, urn, gender, postcode)
            if kind == "account_held":
                summary = f"The child's mother's friend {rng.choice(ADULTS)} came round. " + summary
            event = _incident(n, _child("c1", given, family, born, gender, postcode), rng, summary)
            if kind == "twins":
                right[event["incident_id"]] = (right_upn, "100002")
            incidents.append((kind, event))
    return pupils, incidents, right


def seed_directory(
    sessions: sessionmaker[Session], folder: Path, pupils: list[dict[str, str]]
) -> None:
    with transaction(sessions) as session:
        import_directory(session, write_directory(folder, pupils))


def seed_queue(
    sessions: sessionmaker[Session],
    settings: Settings,
    folder: Path,
    mix: dict[str, int] = MONDAY_MIX,
    *,
    seed: int = 15,
) -> Seeded:
    """The directory and the weekend's incidents, through the pipeline; ``update`` ones
    are sent (as the delivery worker would mark them) and then revised."""
    pupils, incidents, right = plan(mix, seed)
    seed_directory(sessions, folder, pupils)
    out = Seeded()
    for chunk in range(0, len(incidents), 200):
        with transaction(sessions) as session:
            for kind, event in incidents[chunk : chunk + 200]:
                publish(session, settings, event)
                if kind == "update":
                    _mark_sent(session, event["incident_id"])
                    later = {**event, "revision": 2,
                             "summary": event["summary"] + " Officers returned later."}  # fmt: skip
                    publish(session, settings, later)
    with transaction(sessions) as session:
        for kind, event in incidents:
            found = session.execute(
                select(Notification.id).where(
                    Notification.incident_id == event["incident_id"],
                    Notification.status.in_([NotificationStatus.PENDING_REVIEW,
                                             NotificationStatus.NOT_FOUND]),
                )
            ).scalars().all()  # fmt: skip
            out.ids[kind].extend(found)
            if kind == "twins":
                for nid in found:
                    out.right_twin[nid] = right[event["incident_id"]]
    return out


def publish(session: Session, settings: Settings, event: dict[str, Any]) -> None:
    process_incident(session, settings, parse_incident(json.dumps(event).encode()), "seed/0/0")


def _mark_sent(session: Session, incident_id: str) -> None:
    session.execute(
        update(Notification)
        .where(Notification.incident_id == incident_id)
        .values(status=NotificationStatus.SENT, sent_at=SATURDAY + timedelta(hours=48),
                recipient="dsl@100001.school.example", decided_by="console:seed")
    )  # fmt: skip
