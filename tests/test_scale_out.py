"""Two broker instances in one consumer group against the real Kafka-protocol broker
process, on one database (SQLite file and PostgreSQL); one is stopped mid-stream. Every
child still gets exactly one e-mail per school, and the audit chain stays whole."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from audit.ledger import verify
from broker.app import EncompassService
from foundations.database import transaction
from foundations.settings import ReviewPolicy
from tests.factories import (
    child,
    import_directory,
    incident,
    isolated_settings,
    upn,
    write_directory,
)
from tests.smtp_server import RecordingSmtpServer

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CHILDREN = 60


def pupils() -> list[dict[str, str]]:
    return [
        {
            "upn": upn(f"8512001{i:05d}"),
            "given_names": f"Scale{chr(65 + i % 26)}",
            "family_name": f"Outfamily{i:03d}",
            "date_of_birth": f"2014-0{1 + i % 9}-2{i % 8}",
            "urn": "100001" if i % 3 else "100002",
            "on_roll_from": "2020-09-01",
        }
        for i in range(CHILDREN)
    ]


async def test_two_instances_one_stopped_mid_stream_send_each_email_once(
    database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = isolated_settings(
        data_dir=tmp_path,
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_tls="none",
        review_policy=ReviewPolicy.AUTO_RELEASE_EXACT,
        intake_batch_size=5,
    )
    with RecordingSmtpServer(tls="none", auth=False) as smtp:
        settings = settings.model_copy(update={"smtp_port": smtp.port})
        first = EncompassService(settings, bootstrap=kafka_bootstrap)
        second = EncompassService(settings, bootstrap=kafka_bootstrap, migrate=False)
        files = write_directory(tmp_path / "directory", pupils())
        with transaction(first.sessions) as session:
            import_directory(session, files)
        await first.start()
        await second.start()
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        adults = incident()["persons"][:2]
        try:
            for i, p in enumerate(pupils()):
                data = incident(
                    incident_id=f"44-20261121-{i:06d}",
                    persons=[
                        *adults,
                        child("c1", p["given_names"], p["family_name"], p["date_of_birth"]),
                    ],
                )
                await producer.send_and_wait(
                    settings.incidents_topic,
                    json.dumps(data).encode(),
                    key=data["incident_id"].encode(),
                )
                if i == CHILDREN // 3:
                    await smtp.async_wait_for(3, timeout=60)
                    await first.stop()  # mid-stream: its partitions move to the other
        finally:
            await producer.stop()
        try:
            await smtp.async_wait_for(CHILDREN, timeout=120)
            await asyncio.sleep(2)
        finally:
            await second.stop()
            if first.running:
                await first.stop()
    ids = Counter(str(m.message["Message-ID"]) for m in smtp.messages)
    assert len(ids) == CHILDREN
    assert max(ids.values()) == 1, [k for k, v in ids.items() if v > 1]
    with transaction(second.sessions) as session:
        assert verify(session).ok
