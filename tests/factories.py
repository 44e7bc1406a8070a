"""Factories for the aggregates the tests need: directory files, incidents, settings.
Synthetic people only."""

from __future__ import annotations

import base64
import csv
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from foundations.settings import Settings

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
# ENCOMPASS_DATA_KEY for tests: the material of tests.conftest.TEST_KEYRING.
TEST_DATA_KEY = "t1:" + base64.b64encode(b"\x01" * 32).decode()
EXAMPLES = Path(__file__).parents[1] / "schemas" / "examples"


def upn(digits12: str) -> str:
    """A valid UPN for 12 digits: check letter from weights 2..13, modulo 23."""
    total = sum(int(d) * w for d, w in zip(digits12, range(2, 14), strict=True))
    return CHECK_LETTERS[total % 23] + digits12


GIAS_HEADER = [
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (name)",
    "PhaseOfEducation (name)",
    "Postcode",
    "Town",
]


def write_directory(folder: Path, pupils: list[dict[str, str]] | None = None) -> dict[str, Path]:
    """Two open schools and a closed one, with contacts, the SPEC's example child,
    twins, and a dual-registered pupil."""
    folder.mkdir(parents=True, exist_ok=True)
    schools = folder / "edubasealldata20261101.csv"
    with schools.open("w", encoding="cp1252", newline="") as f:
        w = csv.writer(f)
        w.writerow(GIAS_HEADER)
        w.writerow(
            [
                "100001",
                "850",
                "Hampshire",
                "2001",
                "Example Primary School",
                "Community school",
                "Open",
                "Primary",
                "SO23 9AA",
                "Winchester",
            ]
        )
        w.writerow(
            [
                "100002",
                "850",
                "Hampshire",
                "2002",
                "St Mary’s C of E Primary School",
                "Voluntary aided school",
                "Open",
                "Primary",
                "SO22 4BB",
                "Winchester",
            ]
        )
        w.writerow(
            [
                "100003",
                "850",
                "Hampshire",
                "2003",
                "Old Mill Infant School",
                "Community school",
                "Closed",
                "Primary",
                "SO21 1CC",
                "Winchester",
            ]
        )
    contacts = folder / "contacts.csv"
    contacts.write_text(
        "urn,role,name,email,phone,day_start\n"
        "100001,dsl,Alex Example,dsl@100001.school.example,01962 000001,08:40\n"
        "100001,deputy_dsl,Sam Example,deputy@100001.school.example,01962 000002,\n"
        "100002,deputy_dsl,Robin Example,deputy@100002.school.example,01962 000003,\n"
    )
    rows = pupils if pupils is not None else default_pupils()
    pupil_file = folder / "pupils.csv"
    with pupil_file.open("w", newline="") as f:
        fields = [
            "upn",
            "given_names",
            "family_name",
            "preferred_name",
            "date_of_birth",
            "gender",
            "postcode",
            "urn",
            "on_roll_from",
            "on_roll_until",
        ]
        if any("nhs_number" in row for row in rows):  # the optional column, when given
            fields.append("nhs_number")
        w2 = csv.DictWriter(f, fieldnames=fields)
        w2.writeheader()
        for row in rows:
            w2.writerow({k: row.get(k, "") for k in fields})
    calendar = folder / "calendar.csv"
    calendar.write_text(
        "scope,first_day,last_day,kind\n"
        "la:850,2026-09-03,2026-12-18,term\n"
        "la:850,2026-10-26,2026-10-30,holiday\n"
        "la:850,2027-01-05,2027-03-26,term\n"
    )
    return {"schools": schools, "contacts": contacts, "pupils": pupil_file, "calendar": calendar}


AMY_UPN = upn("850200116001")
TWIN_A_UPN = upn("850200116002")
TWIN_B_UPN = upn("850200116003")
DUAL_UPN = upn("850200116004")


def default_pupils() -> list[dict[str, str]]:
    return [
        {
            "upn": AMY_UPN,
            "given_names": "Amy Louise",
            "family_name": "Doe",
            "preferred_name": "Amy",
            "date_of_birth": "2016-09-14",
            "gender": "F",
            "postcode": "SO23 8UJ",
            "urn": "100001",
            "on_roll_from": "2021-09-01",
        },
        {
            "upn": TWIN_A_UPN,
            "given_names": "Leo",
            "family_name": "Twin",
            "date_of_birth": "2017-05-05",
            "urn": "100001",
            "on_roll_from": "2022-09-01",
        },
        {
            "upn": TWIN_B_UPN,
            "given_names": "Leo",
            "family_name": "Twin",
            "date_of_birth": "2017-05-05",
            "urn": "100002",
            "on_roll_from": "2022-09-01",
        },
        {
            "upn": DUAL_UPN,
            "given_names": "Maya",
            "family_name": "Dual",
            "date_of_birth": "2015-01-20",
            "urn": "100001",
            "on_roll_from": "2020-09-01",
        },
        {
            "upn": DUAL_UPN,
            "given_names": "Maya",
            "family_name": "Dual",
            "date_of_birth": "2015-01-20",
            "urn": "100002",
            "on_roll_from": "2020-09-01",
        },
    ]


def incident(name: str = "incident_spec_example.json", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    data.update(changes)
    return data


def child(person_id: str, given: str, family: str, dob: str, **extra: Any) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "role": "child",
        "given_names": given,
        "family_name": family,
        "date_of_birth": dob,
        "present": True,
        "witnessed": False,
        "injured": False,
        **extra,
    }


def isolated_settings(**overrides: Any) -> Settings:
    """Settings whose topics and consumer group belong to one test only."""
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "incidents_topic": f"police.incidents.v1.{tag}",
        "dlq_topic": f"police.incidents.dlq.v1.{tag}",
        "audit_topic": f"encompass.audit.v1.{tag}",
        "consumer_group": f"encompass-test-{tag}",
        "kafka_session_timeout_ms": 3000,
        "delivery_poll_s": 0.2,
        "delivery_backoff_s": 0.2,
        # The console on a port of its own (0: any free one), never another run's 8080.
        "http_port": 0,
        "internal_http_port": 0,  # /metrics and /readyz, likewise
        # Every service a test starts holds the tests' data key (the key of TEST_KEYRING), as
        # every process sharing a database must; and accepts the placeholder First Response
        # address and loopback links, which foundations/startup.py refuses outside tests and demo.
        "data_key": TEST_DATA_KEY,
        "allow_unsafe": "first_response_email,public_url",
    }
    values.update(overrides)
    return Settings(**values)


def import_directory(session: Session, files: dict[str, Path]) -> None:
    """The four directory files through the real imports, in the order they depend."""
    from school_directory import imports

    for kind in ("schools", "contacts", "pupils", "calendar"):
        if kind in files:
            getattr(imports, f"import_{kind}")(session, files[kind])
