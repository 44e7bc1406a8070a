"""The failures that happen at 3 a.m., each survived: the mail server down for a while, the
database unavailable, the Kafka broker restarted (on the real broker process), a poison
message (in memory too: tests/kafka_layer.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import create_engine, select, text

from broker.app import EncompassService
from broker.embedded import EmbeddedKafka, free_port
from foundations.database import transaction
from foundations.models import AuditEvent
from foundations.settings import ReviewPolicy, Settings
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_database
from tests.factories import import_directory, incident, isolated_settings, write_directory
from tests.kafka_layer import KafkaLayer
from tests.smtp_server import RecordingSmtpServer


def settings_for(tmp_path: Path, database_url: str, smtp_port: int) -> Settings:
    return isolated_settings(
        data_dir=tmp_path,
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_tls="none",
        review_policy=ReviewPolicy.AUTO_RELEASE_EXACT,
        delivery_backoff_s=0.3,
        console_enabled=False,
    )


def load_directory(service: EncompassService, folder: Path) -> None:
    files = write_directory(folder)
    with transaction(service.sessions) as session:
        import_directory(session, files)


async def send(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"44-20261121-000123")
    finally:
        await producer.stop()


@pytest.mark.kafka
@pytest.mark.slow
async def test_mail_server_down_for_a_while_retries_then_delivers_once(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    port = free_port()
    settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'f.db'}", port)
    service = EncompassService(settings, bootstrap=kafka_bootstrap)
    load_directory(service, tmp_path / "d")
    await service.start()
    try:
        await send(kafka_bootstrap, settings.incidents_topic, json.dumps(incident()).encode())
        await asyncio.sleep(2.5)  # nothing listens: connection refused, backing off
        with RecordingSmtpServer(tls="none", auth=False, port=port) as smtp:
            await smtp.async_wait_for(1, timeout=30)
            await asyncio.sleep(1.0)
            assert len(smtp.messages) == 1
    finally:
        await service.stop()
    with transaction(service.sessions) as session:
        actions = session.execute(select(AuditEvent.action)).scalars().all()
    assert actions.count("retry") >= 1 and actions.count("sent") == 1


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


def _block(database: str, allow: bool) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}'))
        if not allow:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": database},
            )
    admin.dispose()


@pytest.mark.kafka
@pytest.mark.slow
async def test_database_unavailable_pauses_intake_and_resumes_without_loss(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    with RecordingSmtpServer(tls="none", auth=False) as smtp:
        settings = settings_for(tmp_path, postgres_url, smtp.port)
        service = EncompassService(settings, bootstrap=kafka_bootstrap)
        load_directory(service, tmp_path / "d")
        await service.start()
        try:
            _block(database, allow=False)
            await send(kafka_bootstrap, settings.incidents_topic, json.dumps(incident()).encode())
            await asyncio.sleep(4)  # intake fails, rewinds, waits, fails again: nothing lost
            assert smtp.messages == []
            _block(database, allow=True)
            await smtp.async_wait_for(1, timeout=60)
            await asyncio.sleep(1.0)
            assert len(smtp.messages) == 1
        finally:
            _block(database, allow=True)
            await service.stop()


@pytest.mark.kafka
@pytest.mark.slow
async def test_the_kafka_broker_restarted_consumers_reconnect(tmp_path: Path) -> None:
    kafka = EmbeddedKafka().start()
    with RecordingSmtpServer(tls="none", auth=False) as smtp:
        settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'k.db'}", smtp.port)
        service = EncompassService(settings, bootstrap=kafka.bootstrap)
        load_directory(service, tmp_path / "d")
        await service.start()
        try:
            kafka.stop()
            await asyncio.sleep(2)
            kafka = EmbeddedKafka(port=kafka.port).start()  # memory-only: topics are gone
            from broker.kafka_admin import ensure_topics

            await ensure_topics(kafka.bootstrap, service.topics.all(), settings.topic_partitions)
            await send(kafka.bootstrap, settings.incidents_topic, json.dumps(incident()).encode())
            await smtp.async_wait_for(1, timeout=90)
        finally:
            await service.stop()
            kafka.stop()


async def test_a_poison_message_is_dead_lettered_and_the_partition_keeps_moving(
    tmp_path: Path, kafka_layer: KafkaLayer
) -> None:
    with RecordingSmtpServer(tls="none", auth=False) as smtp:
        settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", smtp.port)
        async with kafka_layer.running(settings, tmp_path / "d") as service:
            # Same key, so same partition: the bad one first, the good one behind it.
            await kafka_layer.publish(
                settings.incidents_topic,
                b"\xff not even text",
                json.dumps(incident()).encode(),
                key=b"44-20261121-000123",
            )
            await smtp.async_wait_for(1, timeout=30)
    with transaction(service.sessions) as session:
        actions = (
            session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars().all()
        )
    assert actions[0] == "refused" and "sent" in actions
