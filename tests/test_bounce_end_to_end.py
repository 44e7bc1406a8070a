"""Sent is not delivered (issue 18, item 2, done when): over the real broker, Kafka-protocol
broker process, SQLite file and an SMTP server with STARTTLS, AUTH and a test CA, a DSL
address that bounces for good leads to the deputy receiving the notification within a
minute and an alert to First Response, and ``encompass audit report`` shows the bounce.
Every e-mail goes with a return path of its own and a DKIM signature that still verifies."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosmtplib
import dkim
import httpx
import pytest

from broker.app import EncompassService
from foundations.database import transaction
from foundations.dkim import write_key
from foundations.models import Notification, NotificationStatus
from foundations.settings import Settings
from tests.bounce_reports import dsn
from tests.factories import TEST_DATA_KEY, incident
from tests.real_parts import running_service, settings_for, smtp_server
from tests.smtp_server import RecordingSmtpServer
from tests.test_dkim import dns_with
from tests.test_end_to_end import publish

pytestmark = pytest.mark.kafka

DSL = "dsl@100001.school.example"
DEPUTY = "deputy@100001.school.example"
DUTY = "first.response@council.example"  # the duty inbox: First Response's own address


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[RecordingSmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, smtp: RecordingSmtpServer) -> Settings:
    (tmp_path / "keys").mkdir()
    return settings_for(
        tmp_path, smtp,
        bounce_address="bounces@council.example",
        bounce_smtp_host="127.0.0.1", bounce_smtp_port=0,  # any free port
        dkim_key_file=tmp_path / "keys" / "dkim.pem", dkim_selector="enc2026",
        dkim_domain="council.example",
    )  # fmt: skip


@pytest.fixture
def dkim_record(settings: Settings) -> str:
    assert settings.dkim_key_file is not None
    return write_key(settings.dkim_key_file)


@pytest.fixture
async def service(
    settings: Settings, dkim_record: str, kafka_bootstrap: str, tmp_path: Path
) -> AsyncIterator[EncompassService]:
    async with running_service(settings, kafka_bootstrap, tmp_path) as svc:
        yield svc


async def status_of(service: EncompassService, wanted: NotificationStatus) -> Notification:
    """The notification once it has ``wanted`` (the broker records a send just after the
    server's reply, and a bounce is about what it recorded)."""
    for _ in range(100):
        with transaction(service.sessions) as s:
            n = s.query(Notification).one_or_none()
            if n is not None and n.status == wanted:
                s.expunge(n)
                return n
        await asyncio.sleep(0.1)
    raise AssertionError(f"no notification became {wanted}")


async def bounce(port: int, return_path: str, report: bytes) -> None:
    """What the DSL's mail system does: a DSN from the null sender to the return path."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=10)
    async with client:
        await client.sendmail("", [return_path], report)


def audit_report(settings: Settings, folder: Path) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env = base | {
        "ENCOMPASS_DATA_DIR": str(folder),
        "ENCOMPASS_DATABASE_URL": str(settings.database_url),
        "ENCOMPASS_DATA_KEY": TEST_DATA_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-m", "broker.cli", "audit", "report", "--as", "auditor"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_dsl_address_that_bounces_leads_to_the_deputy_and_first_response(
    service: EncompassService,
    smtp: RecordingSmtpServer,
    kafka_bootstrap: str,
    settings: Settings,
    dkim_record: str,
    tmp_path: Path,
) -> None:
    listener = service.bounce_listener
    assert listener is not None and listener.port
    await publish(kafka_bootstrap, settings.incidents_topic, [json.dumps(incident()).encode()])
    [to_dsl] = await smtp.async_wait_for(1, timeout=30)
    assert list(to_dsl.rcpt_tos) == [DSL]
    return_path = to_dsl.mail_from
    assert return_path.startswith("bounces+n") and return_path.endswith("@council.example")
    assert b"Return-Path" not in to_dsl.raw  # the envelope carries it, not the message
    await status_of(service, NotificationStatus.SENT)

    # A forged report is refused before it is even read: no such return path of ours.
    forged = return_path.replace(return_path[-20:-16], "zzzz")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await bounce(listener.port, forged, dsn(forged, DSL))

    bounced_at = time.monotonic()
    await bounce(listener.port, return_path, dsn(return_path, DSL))
    received = await smtp.async_wait_for(3, timeout=60)
    within = time.monotonic() - bounced_at
    by_recipient = {m.rcpt_tos[0]: m for m in received[1:]}
    assert set(by_recipient) == {DEPUTY, DUTY}
    # Within the minute asked for; in fact at once: the listener wakes the delivery and
    # escalation workers (the escalation timer alone would take up to 30 s).
    assert within < 10, within
    to_deputy, alert = by_recipient[DEPUTY], by_recipient[DUTY]
    assert str(to_deputy.message["Subject"]) == str(to_dsl.message["Subject"])
    assert to_deputy.mail_from.startswith("bounces+n") and to_deputy.mail_from != return_path
    assert "BOUNCED" in str(alert.message["Subject"])
    assert alert.mail_from.startswith("bounces+s")  # an alert has its own return path too
    for message in received:
        assert message.tls and dkim.verify(message.raw, dnsfunc=dns_with(dkim_record))
    n = await status_of(service, NotificationStatus.SENT)
    assert n.recipient == DEPUTY

    report = audit_report(settings, tmp_path)
    assert f"BOUNCES: bounced 5.1.1 from {DSL} (dsl)" in report
    assert "sent again to deputy_dsl" in report and f"to {DEPUTY}" in report

    internal = service.internal
    assert internal is not None
    async with httpx.AsyncClient(base_url=internal.url) as client:
        metrics = (await client.get("/metrics/")).text
    assert 'encompass_bounces{kind="permanent"} 1.0' in metrics
    assert 'encompass_bounce_reports_total{outcome="permanent"} 1.0' in metrics
    assert 'encompass_bounce_reports_total{outcome="forged"} 1.0' in metrics
