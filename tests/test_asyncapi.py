"""The committed AsyncAPI document (docs/asyncapi.json) is what FastStream generates from
the service today, names exactly the registry's topics, and is valid AsyncAPI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from broker import asyncapi
from broker.kafka_security import topic_configs
from broker.topics import DEFAULT_TOPICS
from foundations.models import AuditEvent
from schemas.incident import PoliceIncident
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent
VALIDATOR = ROOT / "deploy" / "validate"


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(asyncapi.TARGET.read_text(encoding="utf-8"))
    return document


def test_the_committed_document_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment must not leak in: the output is the same on every machine.
    monkeypatch.setenv("ENCOMPASS_INCIDENTS_TOPIC", "somewhere.else")
    monkeypatch.setenv("ENCOMPASS_TOPIC_PARTITIONS", "17")
    assert asyncapi.TARGET.read_text(encoding="utf-8") == asyncapi.render(), (
        "docs/asyncapi.json is out of date: run `python -m broker.asyncapi` and commit it"
    )


def test_it_names_exactly_the_registrys_topics(committed: dict[str, Any]) -> None:
    addresses = [c["address"] for c in committed["channels"].values()]
    assert sorted(addresses) == sorted(DEFAULT_TOPICS.all())
    bound = [c["bindings"]["kafka"]["topic"] for c in committed["channels"].values()]
    assert sorted(bound) == sorted(DEFAULT_TOPICS.all())


def test_operations_receive_incidents_and_send_the_rest(committed: dict[str, Any]) -> None:
    by_topic: dict[str, str] = {}
    for operation in committed["operations"].values():
        channel = committed["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        by_topic[channel["address"]] = operation["action"]
    assert by_topic == {
        DEFAULT_TOPICS.incidents: "receive",
        DEFAULT_TOPICS.dlq: "send",
        DEFAULT_TOPICS.audit: "send",
    }


def test_topic_settings_are_those_the_broker_creates(committed: dict[str, Any]) -> None:
    configs = topic_configs(asyncapi.document_settings(Path("/nonexistent")))
    for channel in committed["channels"].values():
        binding = channel["bindings"]["kafka"]
        config = configs[channel["address"]]
        assert binding["topicConfiguration"]["retention.ms"] == int(config["retention.ms"])
        assert binding["replicas"] == asyncapi.REPLICAS


def _message(document: dict[str, Any], topic: str) -> dict[str, Any]:
    (channel,) = [c for c in document["channels"].values() if c["address"] == topic]
    (ref,) = [m["$ref"] for m in channel["messages"].values()]
    message: dict[str, Any] = document["components"]["messages"][ref.rsplit("/", 1)[1]]
    return message


def test_incident_payload_is_the_committed_schema_with_its_examples(
    committed: dict[str, Any],
) -> None:
    message = _message(committed, DEFAULT_TOPICS.incidents)
    assert message["payload"] == {"$ref": "#/components/schemas/PoliceIncident"}
    schema = committed["components"]["schemas"]["PoliceIncident"]
    assert schema["title"] == "police.incident/1"
    assert message["examples"]
    for example in message["examples"]:
        PoliceIncident.model_validate(example["payload"])


def test_dead_letters_carry_their_reason_headers(committed: dict[str, Any]) -> None:
    headers = _message(committed, DEFAULT_TOPICS.dlq)["headers"]
    assert set(headers["required"]) == {"x-error", "x-error-at", "x-source"}


def test_audit_message_fields_match_the_ledger_rows(committed: dict[str, Any]) -> None:
    row = AuditEvent(
        seq=1,
        at=datetime.now(UTC),
        action="received",
        actor="system:intake",
        incident_id="44-1",
        notification_id=None,
        details={},
        content_sha256=None,
        prev_hash="0" * 64,
        hash="1" * 64,
    )
    schema = committed["components"]["schemas"]["AuditEventMessage"]
    assert set(schema["properties"]) == set(row.as_message())
    asyncapi.AuditEventMessage.model_validate(row.as_message())


def test_the_asyncapi_parser_finds_no_error() -> None:
    node = shutil.which("node")
    if node is None or not (VALIDATOR / "node_modules" / "@asyncapi" / "parser").is_dir():
        unavailable("the AsyncAPI parser: run `npm ci --prefix deploy/validate`")
    assert node is not None
    result = subprocess.run(
        [node, str(VALIDATOR / "asyncapi.mjs"), str(asyncapi.TARGET)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SCARF_ANALYTICS": "false"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0, 3 channels" in result.stdout
