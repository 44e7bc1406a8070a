"""``encompass publish FILE.jsonl`` (SPEC, commands): a line the intake would refuse is
reported with its line number and reason, is not published, and makes the command fail;
the valid lines still go."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from broker.publish import publish_file
from foundations.settings import Settings
from tests.factories import incident


async def _published(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"check-{uuid.uuid4().hex}",
        session_timeout_ms=6000,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(20):
            while len(values) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                values += [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return values


def _settings(tmp_path: Path, bootstrap: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        kafka_bootstrap=bootstrap,
        incidents_topic=f"police.incidents.test-{uuid.uuid4().hex[:8]}",
    )


async def test_refused_lines_are_reported_by_number_and_not_published(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = incident(incident_id="INC-PUBLISH-1")
    lines = [
        json.dumps(good),
        "",
        "{not json",
        json.dumps({**good, "schema": "police.incident/0"}),
        json.dumps({**good, "incident_id": "INC-PUBLISH-2"}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    settings = _settings(tmp_path, kafka_bootstrap)

    assert await publish_file(settings, path) == 1

    err = capsys.readouterr().err
    assert f"{path}:3: refused, not published: not JSON" in err
    assert f"{path}:4: refused, not published: not a police.incident/1 event" in err
    assert ":1:" not in err and ":5:" not in err
    assert "2 line(s) refused" in err
    published = await _published(kafka_bootstrap, settings.incidents_topic, 2)
    assert sorted(json.loads(v)["incident_id"] for v in published) == [
        "INC-PUBLISH-1",
        "INC-PUBLISH-2",
    ]


async def test_a_file_of_valid_lines_publishes_them_all_and_succeeds(
    tmp_path: Path, kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(incident(incident_id="INC-PUBLISH-3")) + "\n")
    settings = _settings(tmp_path, kafka_bootstrap)
    assert await publish_file(settings, path) == 0
    assert "published 1 incident event(s)" in capsys.readouterr().out


async def test_a_file_with_nothing_valid_fails_without_needing_kafka(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("[]\n")
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    assert await publish_file(settings, path) == 1
    err = capsys.readouterr().err
    assert f"{path}:1: refused" in err and "nothing to publish" in err
