"""/metrics for Prometheus and /readyz, from a running broker process's internal listener."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from broker.app import EncompassService
from foundations.database import transaction
from foundations.settings import ReviewPolicy
from tests.factories import import_directory, incident, isolated_settings, write_directory
from tests.smtp_server import RecordingSmtpServer
from tests.test_end_to_end import publish

pytestmark = pytest.mark.kafka


@pytest.fixture
async def running(
    tmp_path: Path, kafka_bootstrap: str
) -> AsyncIterator[tuple[EncompassService, RecordingSmtpServer]]:
    with RecordingSmtpServer(tls="none", auth=False) as smtp:
        settings = isolated_settings(
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'm.db'}",
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_tls="none",
            review_policy=ReviewPolicy.AUTO_RELEASE_EXACT,
        )
        service = EncompassService(settings, bootstrap=kafka_bootstrap)
        files = write_directory(tmp_path / "d")
        with transaction(service.sessions) as session:
            import_directory(session, files)
        await service.start()
        try:
            yield service, smtp
        finally:
            await service.stop()


async def test_metrics_count_events_emails_and_the_queue(
    running: tuple[EncompassService, RecordingSmtpServer], kafka_bootstrap: str
) -> None:
    service, smtp = running
    twins = incident(
        incident_id="44-20261121-000900",
        persons=[
            *incident()["persons"][:2],
            {
                "person_id": "c1",
                "role": "child",
                "given_names": "Leo",
                "family_name": "Twin",
                "date_of_birth": "2017-05-05",
            },
        ],
    )
    await publish(
        kafka_bootstrap,
        service.settings.incidents_topic,
        [json.dumps(incident()).encode(), b"not json", json.dumps(twins).encode()],
    )
    await smtp.async_wait_for(1, timeout=30)
    counted = (
        'encompass_events_total{outcome="accepted"} 2.0',
        'encompass_events_total{outcome="refused"} 1.0',
        'encompass_emails_total{result="sent"} 1.0',
        'encompass_notifications{status="pending_review"} 1.0',
    )
    assert service.internal is not None  # the internal listener, not the public console
    async with httpx.AsyncClient(base_url=service.internal.url) as client:
        # the three events sit on different partitions: wait until all are taken
        for _ in range(100):
            text = (await client.get("/metrics/")).text
            if all(line in text for line in counted):
                break
            await asyncio.sleep(0.2)
        ready = await client.get("/readyz")
    for line in counted:
        assert line in text
    assert "encompass_min_slack_to_deliver_by_seconds" in text
    assert "encompass_consumer_lag" in text
    assert "encompass_matches_total{outcome=" in text
    assert ready.status_code == 200 and ready.json() == {"database": "ok", "kafka": "ok"}
