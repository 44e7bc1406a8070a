"""The in-memory Kafka layer (tests/kafka_layer.py) is honest about what it covers: the
intake subscriber as declared, handed a batch; never a rewind and a second delivery, which
only the real broker process gives (tests/test_faults.py, test_crash_replay.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from consumers.intake_batch import BatchOutcome, RetryLater
from foundations.database import transaction
from foundations.models import Incident
from foundations.settings import Settings
from tests.factories import incident, isolated_settings
from tests.kafka_layer import NOWHERE, MemoryKafka


def _settings(tmp_path: Path) -> Settings:
    return isolated_settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'k.db'}", console_enabled=False
    )


async def test_in_memory_one_publish_reaches_the_intake_subscriber_as_one_batch(
    tmp_path: Path,
) -> None:
    layer, settings = MemoryKafka(), _settings(tmp_path)
    async with layer.running(settings) as service:
        assert service.bootstrap == NOWHERE  # no broker: nothing listens there
        batches: list[tuple[ConsumerRecord[Any, Any], ...]] = []
        take = service.intake.take_batch

        async def spy(records: tuple[ConsumerRecord[Any, Any], ...]) -> BatchOutcome:
            batches.append(records)
            return await take(records)

        service.intake.take_batch = spy  # type: ignore[method-assign]
        first, second = (json.dumps(incident(incident_id=i)).encode() for i in ("44-A", "44-B"))
        await layer.publish(settings.incidents_topic, b"{not json", first, second, key=b"k")
        [batch] = batches
        assert [r.value for r in batch] == [b"{not json", first, second]
        # One partition, no offsets: every event's source is the same.
        assert {(r.topic, r.partition, r.offset, r.key) for r in batch} == {
            (settings.incidents_topic, 0, 0, b"k")
        }
        [parked] = await layer.published(settings.dlq_topic, 1)
        assert parked.value == b"{not json"


async def test_in_memory_a_batch_that_fails_is_not_taken_again_its_error_reaches_the_publisher(
    tmp_path: Path,
) -> None:
    layer, settings = MemoryKafka(), _settings(tmp_path)
    async with layer.running(settings) as service:
        calls: list[int] = []

        async def database_away(records: tuple[ConsumerRecord[Any, Any], ...]) -> BatchOutcome:
            calls.append(len(records))
            raise OperationalError("SELECT 1", {}, ConnectionError("database away"))

        service.intake.take_batch = database_away  # type: ignore[method-assign]
        with pytest.raises(RetryLater):
            await layer.publish(settings.incidents_topic, json.dumps(incident()).encode())
        assert calls == [1]  # on the real broker, rewound and taken again until it succeeds
        with transaction(service.sessions) as session:
            assert session.execute(select(Incident)).all() == []
