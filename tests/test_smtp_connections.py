"""SMTP connections kept between e-mails (foundations/smtp_connections.py), against a real
aiosmtpd server with STARTTLS and AUTH: one login serves a batch; a refused recipient, a
dropped connection or a server's idle timeout loses nothing and sends nothing twice; the
delivery worker records each e-mail's own outcome, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from consumers.acknowledge import AckLinks
from consumers.deliver import DeliveryWorker
from foundations.database import transaction
from foundations.mailer import (
    PermanentDeliveryError,
    SmtpMailer,
    TransientDeliveryError,
    build_message,
)
from foundations.models import Notification
from foundations.settings import Settings, SmtpTls
from tests.deadlines import ONLY_DEPUTY, Clock, add_notification, add_schools, london
from tests.smtp_server import (
    PASSWORD,
    USERNAME,
    RecordingSmtpServer,
    TestPki,
    make_test_ca,
)

SENDER = "operation-encompass@police.example"


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return make_test_ca(tmp_path / "pki")


@pytest.fixture
def server(pki: TestPki) -> Iterator[RecordingSmtpServer]:
    with RecordingSmtpServer("starttls", pki) as server:
        yield server


def _settings(server: RecordingSmtpServer, pki: TestPki, **overrides: Any) -> Settings:
    return Settings(
        smtp_host="localhost",
        smtp_port=server.port,
        smtp_tls=SmtpTls.STARTTLS,
        smtp_ca_file=pki.ca_cert,
        smtp_username=USERNAME,
        smtp_password=PASSWORD,
        smtp_timeout_s=10.0,
        mail_from=SENDER,
        **overrides,
    )


def _mailer(server: RecordingSmtpServer, pki: TestPki, **overrides: Any) -> SmtpMailer:
    return SmtpMailer(_settings(server, pki, **overrides), local_hostname="broker.test")


def _message(n: int, to: str = "dsl@school.example") -> EmailMessage:
    return build_message(
        subject="Operation Encompass notification",
        text="Synthetic notification.",
        html="<p>Synthetic notification.</p>",
        sender=SENDER,
        to=to,
        message_id=f"<N-{n}@encompass.local>",
    )


def _ids(server: RecordingSmtpServer) -> list[str]:
    return [str(m.message["Message-ID"]) for m in server.messages]


async def test_one_connection_and_one_login_serve_a_batch(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki)
    for n in range(20):
        await mailer.send(_message(n))
    assert _ids(server) == [f"<N-{n}@encompass.local>" for n in range(20)]
    assert all(m.tls and m.login == USERNAME for m in server.messages)
    assert (server.logins, mailer.connections.opened, mailer.connections.kept) == (1, 1, 1)
    await mailer.aclose()
    assert mailer.connections.kept == 0


async def test_with_no_idle_time_every_email_has_its_own_connection(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki, smtp_idle_s=0)
    for n in range(4):
        await mailer.send(_message(n))
    assert (len(server.messages), server.logins, mailer.connections.kept) == (4, 4, 0)


async def test_a_connection_serves_at_most_its_share_of_emails(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki, smtp_messages_per_connection=3)
    for n in range(7):
        await mailer.send(_message(n))
    assert (len(server.messages), server.logins) == (7, 3)
    await mailer.aclose()


async def test_a_connection_dropped_before_mail_from_is_reopened_for_that_email(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki)
    for n in range(3):
        await mailer.send(_message(n))
    server.drop_connection_at("MAIL")  # the relay restarted between two e-mails
    for n in range(3, 6):
        await mailer.send(_message(n))  # no error: nothing of e-mail 3 had been sent
    assert _ids(server) == [f"<N-{n}@encompass.local>" for n in range(6)]
    assert server.logins == 2
    await mailer.aclose()


async def test_a_new_connection_dropped_at_once_is_a_transient_error_not_a_loop(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki)
    await mailer.send(_message(0))
    server.drop_connection_at("MAIL", count=2)  # the kept one, then the new one
    with pytest.raises(TransientDeliveryError):
        await mailer.send(_message(1))
    assert server.logins == 2
    await mailer.send(_message(2))
    assert _ids(server) == ["<N-0@encompass.local>", "<N-2@encompass.local>"]
    await mailer.aclose()


async def test_a_connection_dropped_during_data_fails_that_email_alone(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    """After the message went, the server may or may not have it: not retried here (the
    worker's retry sends it again, with its Message-ID), and the next e-mail reconnects."""
    mailer = _mailer(server, pki)
    await mailer.send(_message(0))
    server.drop_connection_at("DATA")
    with pytest.raises(TransientDeliveryError):
        await mailer.send(_message(1))
    await mailer.send(_message(2))
    await mailer.send(_message(1))  # the retry
    assert _ids(server) == [f"<N-{n}@encompass.local>" for n in (0, 2, 1)]
    assert server.logins == 2
    await mailer.aclose()


async def test_a_refused_recipient_fails_its_email_and_the_connection_serves_the_next(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    server.refuse_recipient("gone@school.example", 550)
    server.refuse_recipient("full@school.example", 452)
    mailer = _mailer(server, pki)
    await mailer.send(_message(0))
    with pytest.raises(PermanentDeliveryError) as permanent:
        await mailer.send(_message(1, to="gone@school.example"))
    assert permanent.value.code == 550
    with pytest.raises(TransientDeliveryError) as transient:
        await mailer.send(_message(2, to="full@school.example"))
    assert transient.value.code is not None and 400 <= transient.value.code < 500
    await mailer.send(_message(3))
    assert _ids(server) == ["<N-0@encompass.local>", "<N-3@encompass.local>"]
    assert [m.rcpt_tos for m in server.messages] == [("dsl@school.example",)] * 2
    assert server.logins == 1  # RSET after each refusal; the same connection went on
    await mailer.aclose()


async def test_a_data_refusal_resets_and_keeps_the_connection(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki)
    server.fail_next_data(1, code=554)
    with pytest.raises(PermanentDeliveryError):
        await mailer.send(_message(0))
    await mailer.send(_message(1))
    assert (_ids(server), server.logins) == (["<N-1@encompass.local>"], 1)
    await mailer.aclose()


async def test_a_connection_the_server_timed_out_is_replaced(pki: TestPki) -> None:
    with RecordingSmtpServer("starttls", pki, timeout=0.3) as server:
        mailer = _mailer(server, pki)
        await mailer.send(_message(0))
        await asyncio.sleep(0.8)  # the server closes the idle connection
        await mailer.send(_message(1))
        assert (len(server.messages), server.logins) == (2, 2)
        await mailer.aclose()


async def test_an_idle_connection_is_closed_by_us(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki, smtp_idle_s=0.2)
    await mailer.send(_message(0))
    assert mailer.connections.kept == 1
    await asyncio.sleep(0.5)
    assert mailer.connections.kept == 0
    await mailer.send(_message(1))
    assert (len(server.messages), server.logins) == (2, 2)
    await mailer.aclose()


async def test_concurrent_senders_each_take_their_own_connection(
    server: RecordingSmtpServer, pki: TestPki
) -> None:
    mailer = _mailer(server, pki)
    await asyncio.gather(*(mailer.send(_message(n)) for n in range(6)))
    assert sorted(_ids(server)) == sorted(f"<N-{n}@encompass.local>" for n in range(6))
    assert server.logins == mailer.connections.opened <= 6
    await mailer.aclose()


# --- the delivery worker over kept connections -----------------------------------------


NOW = london("2026-11-23 07:00")
LINKS = AckLinks(b"s" * 32, "https://encompass.council.example", timedelta(days=14))


def _statuses(sessions: sessionmaker[Session]) -> dict[str, str]:
    with transaction(sessions) as s:
        return {
            nid: status for nid, status in s.execute(select(Notification.id, Notification.status))
        }


async def _drain(worker: DeliveryWorker) -> None:
    while await worker.run_once():
        pass


async def test_the_worker_records_each_emails_own_outcome_over_one_connection(
    sessions: sessionmaker[Session], server: RecordingSmtpServer, pki: TestPki
) -> None:
    """A batch where one school's only address is refused and the connection drops once,
    during an e-mail: every other e-mail is sent once and recorded sent; the refused ones
    fail; the dropped one is retried and sent once."""
    add_schools(sessions)  # 100002's only contact is its deputy, ONLY_DEPUTY
    due = london("2026-11-23 08:30")
    refused = {f"N-{i}" for i in (3, 7)}
    for i in range(12):
        urn = "100002" if f"N-{i}" in refused else "100001"
        add_notification(sessions, f"N-{i}", status="approved", deliver_by=due, urn=urn)
    server.refuse_recipient(ONLY_DEPUTY, 550)
    settings = _settings(server, pki, delivery_concurrency=1)  # one e-mail at a time
    mailer = SmtpMailer(settings, local_hostname="broker.test")
    clock = Clock(NOW)
    worker = DeliveryWorker(settings, sessions, mailer, LINKS, clock=clock)

    await worker.run_once()  # five claimed, five answered
    server.drop_connection_at("DATA")  # the sixth e-mail's connection is cut
    await _drain(worker)
    statuses = _statuses(sessions)
    waiting = [nid for nid, status in statuses.items() if status == "approved"]
    assert len(waiting) == 1  # its retry is due later
    assert {statuses[nid] for nid in refused} == {"failed"}
    assert sum(status == "sent" for status in statuses.values()) == 9

    clock.advance(seconds=settings.delivery_backoff_s + 1)
    await _drain(worker)
    statuses = _statuses(sessions)
    assert {nid for nid, status in statuses.items() if status == "sent"} == {
        f"N-{i}" for i in range(12)
    } - refused
    ids = sorted(str(m.message["Message-ID"]) for m in server.messages)
    assert ids == sorted(f"<N-{i}@police.example>" for i in range(12) if f"N-{i}" not in refused)
    assert server.logins == 2  # the cut connection replaced once, not once per e-mail
    await mailer.aclose()


async def test_emails_sent_at_once_each_keep_their_own_connection(
    sessions: sessionmaker[Session], server: RecordingSmtpServer, pki: TestPki
) -> None:
    """Several e-mails in flight (ENCOMPASS_DELIVERY_CONCURRENCY): a connection for each,
    each kept for the next e-mails, over STARTTLS and AUTH; every e-mail sent once."""
    add_schools(sessions)
    due = london("2026-11-23 08:30")
    for i in range(12):
        add_notification(sessions, f"N-{i}", status="approved", deliver_by=due, urn="100001")
    settings = _settings(server, pki, delivery_concurrency=4)  # two a lane
    mailer = SmtpMailer(settings, local_hostname="broker.test")
    worker = DeliveryWorker(settings, sessions, mailer, LINKS, clock=Clock(NOW))
    await _drain(worker)
    assert set(_statuses(sessions).values()) == {"sent"}
    ids = sorted(str(m.message["Message-ID"]) for m in server.messages)
    assert ids == sorted(f"<N-{i}@police.example>" for i in range(12))
    assert server.logins == 2
    await mailer.aclose()
