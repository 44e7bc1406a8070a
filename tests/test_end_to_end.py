"""The spine over real parts: a SQLite file, an SMTP server with STARTTLS, AUTH and a test
CA, and Kafka in memory and as the Kafka-protocol broker process (tests/kafka_layer.py). An
incident becomes one minimal e-mail to the right school, with an intact audit trail; bad
input lands on the dead-letter topic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from audit.ledger import verify
from broker.app import EncompassService
from foundations.database import transaction
from foundations.models import AuditEvent
from foundations.settings import Settings
from tests.factories import incident
from tests.kafka_layer import KafkaLayer, read_topic
from tests.real_parts import running_service, settings_for, smtp_server
from tests.smtp_server import RecordingSmtpServer


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[RecordingSmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp: RecordingSmtpServer) -> Settings:
    return settings_for(tmp_path, smtp)


@pytest.fixture
async def service(
    kafka_layer: KafkaLayer, settings: Settings, tmp_path: Path
) -> AsyncIterator[EncompassService]:
    """The service on the layer of the test: in memory, and on the broker process."""
    async with kafka_layer.running(settings, tmp_path / "directory") as svc:
        yield svc


@pytest.fixture
async def real_service(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[EncompassService]:
    """The service on the broker process only."""
    async with running_service(settings, kafka_bootstrap, tmp_path) as svc:
        yield svc


async def publish(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def test_an_incident_becomes_one_minimal_email_to_the_right_school(
    service: EncompassService,
    smtp: RecordingSmtpServer,
    kafka_layer: KafkaLayer,
    settings: Settings,
) -> None:
    spec = json.dumps(incident()).encode()
    await kafka_layer.publish(settings.incidents_topic, spec, spec)  # at least once
    await smtp.async_wait_for(1, timeout=30)
    await asyncio.sleep(1.5)  # time enough for a wrongly duplicated second e-mail to show
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.tls and list(received.rcpt_tos) == ["dsl@100001.school.example"]
    message = received.message
    subject = str(message["Subject"])
    for name in ("Amy", "Doe", "Jane", "John", "Roe"):
        assert name not in subject
    body = received.raw.decode("utf-8", "replace")
    for secret in ("Jane", "Roe", "12 Example Road", "SO23 8UJ", "44/123456/26", "PC Example"):
        assert secret not in body
    assert message.get_content_type() == "multipart/alternative"
    with transaction(service.sessions) as session:
        assert verify(session).ok


async def test_bad_input_lands_on_the_dead_letter_topic_with_its_reason(
    service: EncompassService,
    kafka_layer: KafkaLayer,
    settings: Settings,
) -> None:
    bad = [b"{not json", json.dumps(incident() | {"persons": []}).encode()]
    await kafka_layer.publish(settings.incidents_topic, *bad)
    parked = await kafka_layer.published(settings.dlq_topic, 2)
    assert sorted(r.value for r in parked) == sorted(bad)
    reasons = sorted(r.headers["x-error"] for r in parked)
    assert "not JSON" in reasons[0] and "no persons" in reasons[1]
    assert all("x-error-at" in r.headers for r in parked)


async def test_every_audit_row_is_published(
    service: EncompassService,
    kafka_layer: KafkaLayer,
    settings: Settings,
    smtp: RecordingSmtpServer,
) -> None:
    await kafka_layer.publish(settings.incidents_topic, json.dumps(incident()).encode())
    await smtp.async_wait_for(1, timeout=30)
    await asyncio.sleep(1.5)  # the relay polls once a second
    with transaction(service.sessions) as session:
        rows_in_db = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        expected = [(r.seq, r.action, r.hash) for r in rows_in_db]
    # Signed tree heads share the topic (consumers.audit_publish.AuditCheckpointer): they
    # carry no seq, and one may be signed at start, among the rows.
    rows: list[dict[str, Any]] = []
    for extra in range(4):
        published = await kafka_layer.published(settings.audit_topic, len(expected) + extra)
        rows = [m for m in map(json.loads, (r.value for r in published)) if "seq" in m]
        if len(rows) >= len(expected):
            break
    # Keys spread rows over partitions; ``seq`` and the hash chain give the order back.
    got = sorted((m["seq"], m["action"], m["hash"]) for m in rows)
    assert got == expected
    assert [a for _, a, _ in got][:3] == ["received", "matched", "minimised"]
    assert "sent" in [a for _, a, _ in got]


@pytest.mark.kafka  # header values that are not text: only the real wire carries them
async def test_undecodable_headers_still_reach_the_dead_letter_topic(
    real_service: EncompassService,
    kafka_bootstrap: str,
    settings: Settings,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.incidents_topic, b"\x00binary", key=b"k", headers=[("x-bad", b"\xff\xfe")]
        )
    finally:
        await producer.stop()
    [parked] = await read_topic(kafka_bootstrap, settings.dlq_topic, 1)
    assert parked.value == b"\x00binary"
    assert "not JSON" in dict(parked.headers)["x-error"].decode()


async def test_no_personal_data_reaches_the_logs(
    service: EncompassService,
    smtp: RecordingSmtpServer,
    kafka_layer: KafkaLayer,
    settings: Settings,
) -> None:
    with structlog.testing.capture_logs() as logs:
        await kafka_layer.publish(settings.incidents_topic, json.dumps(incident()).encode())
        await smtp.async_wait_for(1, timeout=30)
        async with asyncio.timeout(30):  # "delivered" is logged once the outcome is recorded
            while not any(e["event"] == "delivered" for e in logs):
                await asyncio.sleep(0.1)
    assert any(e["event"] == "incident_processed" for e in logs)
    logged = json.dumps(logs, default=str)
    for personal in (
        "Amy",
        "Louise",
        "Doe",
        "Jane",
        "John",
        "Roe",
        "2016-09-14",
        "1990-04-01",
        "SO23",
        "Example Road",
        "hid upstairs",
    ):
        assert personal not in logged


@pytest.mark.kafka  # the replay reads and writes the topics itself
async def test_dead_lettered_events_are_replayed_after_a_fix(
    real_service: EncompassService,
    smtp: RecordingSmtpServer,
    kafka_bootstrap: str,
    settings: Settings,
) -> None:
    from broker.dlq import replay

    # An event on the dead-letter topic that intake now accepts (as after a fix)
    # goes through once; replaying again finds nothing new.
    await publish(kafka_bootstrap, settings.dlq_topic, [json.dumps(incident()).encode()])
    replay_settings = settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    assert await replay(replay_settings, idle_s=2.0) == 0
    await smtp.async_wait_for(1, timeout=30)
    assert await replay(replay_settings, idle_s=1.0) == 0  # nothing twice
    await asyncio.sleep(1.0)
    assert len(smtp.messages) == 1
