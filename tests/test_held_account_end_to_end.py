"""Fail closed without failing late, over real parts (issue 12): the Kafka-protocol broker
process, a SQLite file and an SMTP server with STARTTLS, AUTH and a test CA.

An incident whose officer's account names an unlisted grandmother and the suspect by a
nickname reaches the school on time with the structured account; the officer's account
waits with the names highlighted; a reviewer edits it and it follows to the same school,
same reference, threaded under the first e-mail. The trail holds every step, intact."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from audit.ledger import verify
from broker.app import EncompassService
from consumers import held_account
from consumers.residual import highlighted
from foundations.database import transaction
from foundations.models import AuditEvent, Notification
from foundations.settings import Settings
from tests.factories import incident
from tests.real_parts import running_service, settings_for, smtp_server
from tests.smtp_server import RecordingSmtpServer

pytestmark = pytest.mark.kafka

ACCOUNT = (
    "The child's mother's mum Victoria Harrison came round after the argument. "
    "Gaz had been drinking and threw a mug at the wall. The child hid upstairs."
)
NOT_FOR_THE_SCHOOL = ("Victoria", "Harrison", "Gaz", "Gary", "Roe", "Jane")


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[RecordingSmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp: RecordingSmtpServer) -> Settings:
    return settings_for(tmp_path, smtp, escalation_poll_s=0.5)


@pytest.fixture
async def service(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[EncompassService]:
    async with running_service(settings, kafka_bootstrap, tmp_path) as svc:
        yield svc


def the_incident() -> bytes:
    now = datetime.now(UTC)  # reported just now: its deadline is ahead of us
    data = incident(
        summary=ACCOUNT,
        occurred_at=(now - timedelta(hours=2)).isoformat(),
        reported_at=(now - timedelta(hours=1)).isoformat(),
    )
    for person in data["persons"]:
        if person["person_id"] == "p2":  # the suspect, listed without his nickname
            person["given_names"] = "Gary"
    return json.dumps(data).encode()


async def recorded(
    service: EncompassService, column: Any, value: str, timeout: float = 10.0
) -> None:
    """The SMTP server has an e-mail a moment before the worker records it as sent."""
    async with asyncio.timeout(timeout):
        while True:
            with transaction(service.sessions) as session:
                if session.execute(select(column)).scalar_one() == value:
                    return
            await asyncio.sleep(0.1)


async def test_a_held_account_goes_on_time_structured_then_follows_once_read(
    service: EncompassService,
    smtp: RecordingSmtpServer,
    kafka_bootstrap: str,
    settings: Settings,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(settings.incidents_topic, the_incident(), key=b"k")
    finally:
        await producer.stop()

    # On time, without a person: the structured account, no name.
    [first] = await smtp.async_wait_for(1, timeout=30)
    body = first.raw.decode("utf-8", "replace")
    assert "Police attended a domestic abuse incident" in body
    for secret in NOT_FOR_THE_SCHOOL:
        assert secret not in body
    await recorded(service, Notification.status, "sent")
    with transaction(service.sessions) as session:
        [n] = session.execute(select(Notification)).scalars()
        assert n.status == "sent" and n.sent_at is not None and n.sent_at <= n.deliver_by
        assert n.account_status == "held"
        # The reviewer sees the officer's account with the names highlighted.
        assert n.held_account is not None
        marked = highlighted(n.held_account["text"], held_account.suspects_of(n))
        assert "[[Victoria Harrison]]" in marked
        nid, first_id = n.id, str(first.message["Message-ID"])

    # A reviewer edits it and sends it: it follows to the same school, threaded.
    edited = "The child's grandmother came round after the argument. The child hid upstairs."
    with transaction(service.sessions) as session:
        n = session.get(Notification, nid)
        assert n is not None
        held_account.release(session, settings, n, actor="console:rita", account=edited)
    service.escalation.wake.set()
    received = await smtp.async_wait_for(2, timeout=30)
    follow_up = received[1]
    assert list(follow_up.rcpt_tos) == list(first.rcpt_tos) and follow_up.tls
    assert str(follow_up.message["In-Reply-To"]) == first_id
    assert nid in str(follow_up.message["Subject"])
    text = follow_up.raw.decode("utf-8", "replace")
    assert "grandmother came round" in text
    for secret in NOT_FOR_THE_SCHOOL:
        assert secret not in text

    await recorded(service, Notification.account_status, "sent")
    with transaction(service.sessions) as session:
        trail = [a for (a,) in session.execute(select(AuditEvent.action))]
        for step in ("account_held", "approved", "sent", "account_released", "follow_up_sent"):
            assert step in trail
        assert verify(session).ok
