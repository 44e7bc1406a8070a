"""SPEC section 3: what intake accepts, and what it refuses with a reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consumers.intake import Refused, parse_incident
from schemas.incident import PoliceIncident, incident_json_schema

EXAMPLES = Path(__file__).parents[1] / "schemas" / "examples"
COMMITTED_SCHEMA = Path(__file__).parents[1] / "schemas" / "police.incident.1.json"


def example(name: str = "incident_spec_example.json") -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("incident_*.json")), ids=lambda p: p.stem)
def test_every_shipped_example_is_accepted(path: Path) -> None:
    incident = parse_incident(path.read_bytes())
    assert isinstance(incident, PoliceIncident)


def test_the_spec_example_is_in_scope_with_one_child() -> None:
    incident = parse_incident(json.dumps(example()).encode())
    assert incident.in_scope
    assert [c.person_id for c in incident.children] == ["c1"]


def test_other_classifications_parse_but_are_out_of_scope() -> None:
    assert not parse_incident((EXAMPLES / "incident_out_of_scope.json").read_bytes()).in_scope


def test_fields_may_be_added_to_the_contract() -> None:
    data = example() | {"new_field_from_a_later_version": {"x": 1}}
    assert parse_incident(json.dumps(data).encode()).incident_id == "44-20261121-000123"


def _without(key: str) -> dict[str, Any]:
    data = example()
    del data[key]
    return data


REFUSED: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{this is not json", "not JSON"),
    ("not UTF-8", b"\xff\xfe{}", "not UTF-8"),
    ("a JSON array", b"[1, 2]", "not an object"),
    (
        "another schema",
        json.dumps(example() | {"schema": "police.incident/2"}).encode(),
        "not a police.incident/1 event",
    ),
    ("no schema", json.dumps(_without("schema")).encode(), "schema: required field missing"),
    (
        "missing incident_id",
        json.dumps(_without("incident_id")).encode(),
        "incident_id: required field missing",
    ),
    (
        "missing reported_at",
        json.dumps(_without("reported_at")).encode(),
        "reported_at: required field missing",
    ),
    ("no persons", json.dumps(example() | {"persons": []}).encode(), "no persons"),
    (
        "instant without offset",
        json.dumps(example() | {"occurred_at": "2026-11-21T22:40:00"}).encode(),
        "occurred_at",
    ),
    (
        "malformed date",
        json.dumps(example() | {"reported_at": "21/11/2026 23:05"}).encode(),
        "reported_at",
    ),
    (
        "unknown role",
        json.dumps(example() | {"persons": [{"person_id": "x", "role": "bystander"}]}).encode(),
        "persons.0.role",
    ),
    ("revision zero", json.dumps(example() | {"revision": 0}).encode(), "revision"),
]


@pytest.mark.parametrize(("case", "raw", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_input_is_refused_with_a_reason(case: str, raw: bytes, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_incident(raw)
    assert reason in refused.value.reason


def test_the_committed_json_schema_is_current() -> None:
    committed = json.loads(COMMITTED_SCHEMA.read_text())
    assert committed == incident_json_schema(), (
        "schemas/police.incident.1.json is stale: run `python -m schemas.generate`"
    )
