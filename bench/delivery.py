"""How fast does a Monday's backlog of approved notifications reach the school's mail relay?

Seeds ``--emails`` approved notifications (2,000 by default; synthetic schools, each with
a DSL) and starts a local aiosmtpd server on 127.0.0.1 that requires STARTTLS and AUTH,
its certificate from a throwaway CA made with ``cryptography`` (``tests/smtp_server.py``).
The real delivery worker (``consumers.deliver.DeliveryWorker`` with
``foundations.mailer.SmtpMailer``: claim with a lease, render, sign the acknowledgement
link, DKIM-sign, send, record the outcome and its audit row, one transaction per e-mail)
then runs until every one is sent, twice in the same run:

- the baseline: one connection per e-mail (``ENCOMPASS_SMTP_IDLE_S=0``: TCP, EHLO,
  STARTTLS, EHLO, AUTH and QUIT for each, as the broker did before);
- kept connections (the default settings: one connection for up to
  ``ENCOMPASS_SMTP_MESSAGES_PER_CONNECTION`` e-mails).

It prints e-mails per second, the CPU time of the broker process per e-mail (what a
busy shared machine does not change much), connections opened, and checks that the server
received each notification exactly once and the database has every one ``sent``.
The target (issue 16): 2,000 in under a minute.

    python bench/delivery.py [--emails 2000] [--baseline-emails N] [--no-dkim]
                             [--database-url sqlite:///... | postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the SMTP server lives in tests/

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from consumers.acknowledge import AckLinks
from consumers.deliver import DeliveryWorker
from foundations.crypto import keyring_from_material
from foundations.database import make_engine, session_factory, transaction, upgrade
from foundations.dkim import write_key
from foundations.logging import configure_logging
from foundations.mailer import SmtpMailer
from foundations.models import Notification, NotificationStatus, SafeguardingContact, School
from foundations.settings import Settings, SmtpTls
from tests.deadlines import content
from tests.smtp_server import PASSWORD, USERNAME, RecordingSmtpServer, TestPki, make_test_ca

SCHOOLS = 400


class RelayProcess:
    """The SMTP server in a process of its own, as a relay is on a machine of its own: its
    TLS, parsing and recording do not take the broker's interpreter lock."""

    def __init__(self, pki: TestPki) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(pki, child), daemon=True)
        self._process.start()
        self.port: int = self._pipe.recv()

    def ask(self, command: str) -> Any:
        self._pipe.send(command)
        return self._pipe.recv()

    def stop(self) -> None:
        self.ask("stop")
        self._process.join(10)


def _serve(pki: TestPki, pipe: Connection) -> None:
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation notes
    with RecordingSmtpServer("starttls", pki) as server:
        pipe.send(server.port)
        while (command := pipe.recv()) != "stop":
            if command == "clear":
                server.clear()
                pipe.send(None)
            else:  # "received": (logins, how many times each Message-ID came)
                ids = Counter(str(m.message["Message-ID"]) for m in server.messages)
                pipe.send((server.logins, ids))
    pipe.send(None)


def seed(sessions: sessionmaker[Session], run: str, count: int) -> None:
    """``count`` approved notifications, due this morning, spread over the schools."""
    due = datetime.now(UTC) + timedelta(hours=1)
    with transaction(sessions) as s:
        have = set(s.execute(select(School.urn)).scalars())
        for n in range(SCHOOLS):
            urn = f"9{n:05d}"
            if urn in have:
                continue
            s.add(School(urn=urn, name=f"School {n}", la_code="850", la_name="Hampshire",
                         status="Open"))  # fmt: skip
            s.flush()
            s.add(SafeguardingContact(urn=urn, role="dsl", name=f"DSL {n}",
                                      email=f"dsl@{urn}.school.example"))  # fmt: skip
    for start in range(0, count, 500):
        with transaction(sessions) as s:
            for n in range(start, min(start + 500, count)):
                nid = f"N-{run}-{n}"
                urn = f"9{n % SCHOOLS:05d}"
                s.add(
                    Notification(
                        id=nid,
                        incident_id=f"44-{nid}",
                        revision=1,
                        person_id="c1",
                        urn=urn,
                        urn_key=urn,
                        upn="B801200005001",
                        status=NotificationStatus.APPROVED,
                        deliver_by=due,
                        content=content(nid, due, due - timedelta(hours=10)),
                        created_at=due - timedelta(hours=9),
                    )
                )


def statuses(sessions: sessionmaker[Session], run: str) -> Counter[str]:
    with transaction(sessions) as s:
        rows = s.execute(
            select(Notification.status, func.count())
            .where(Notification.id.like(f"N-{run}-%"))
            .group_by(Notification.status)
        )
        return Counter({str(status): n for status, n in rows})


async def deliver(
    settings: Settings, sessions: sessionmaker[Session], count: int
) -> tuple[float, float, SmtpMailer]:
    """Run the worker until ``count`` e-mails are sent; (seconds, CPU seconds of this
    process, the mailer)."""
    mailer = SmtpMailer(settings, local_hostname="broker.bench")
    links = AckLinks.from_settings(settings)
    results: Counter[str] = Counter()
    done = asyncio.Event()

    def told(result: str) -> None:
        results[result] += 1
        if results["sent"] >= count:
            done.set()

    worker = DeliveryWorker(settings, sessions, mailer, links, on_result=told)
    cpu = time.process_time()
    start = time.perf_counter()
    running = asyncio.create_task(worker.run())
    await asyncio.wait_for(done.wait(), timeout=3600)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    worker.request_stop()
    await running
    await mailer.aclose()
    assert results == Counter({"sent": count}), results
    return elapsed, cpu, mailer


async def main(args: argparse.Namespace) -> None:
    configure_logging(level="WARNING")
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's own deprecation notes
    folder = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    url = args.database_url or f"sqlite:///{folder / 'delivery.db'}"
    upgrade(url)
    engine = make_engine(url, keyring_from_material([("b1", b"\x02" * 32)]))
    sessions = session_factory(engine)
    pki = make_test_ca(folder / "pki")
    dkim: dict[str, object] = {}
    if not args.no_dkim:
        write_key(folder / "dkim.pem")
        dkim = {"dkim_key_file": folder / "dkim.pem", "dkim_selector": "bench"}
    server = RelayProcess(pki)
    try:
        base = Settings(
            data_dir=folder,
            secret_key="k" * 32,
            public_url="https://encompass.council.example",
            mail_from="operation-encompass@council.example",
            smtp_host="localhost",
            smtp_port=server.port,
            smtp_tls=SmtpTls.STARTTLS,
            smtp_ca_file=pki.ca_cert,
            smtp_username=USERNAME,
            smtp_password=PASSWORD,
            **dkim,  # type: ignore[arg-type]
        )
        where = url.split(":", 1)[0]
        print(f"{where}; STARTTLS + AUTH to aiosmtpd on 127.0.0.1:{server.port}; "
              f"DKIM {'off' if args.no_dkim else 'on'}")  # fmt: skip
        print(f"\n{'way':<40} {'e-mails':>8} {'seconds':>8} {'per s':>7} {'CPU ms each':>12}"
              f" {'connections':>12}")  # fmt: skip
        rates = {}
        runs = [
            ("baseline: a new connection per e-mail", {"smtp_idle_s": 0}, args.baseline_emails),
            ("kept connections (the default)", {}, args.emails),
        ]
        for name, overrides, count in runs:
            if count <= 0:
                continue
            run = uuid.uuid4().hex[:8]
            seed(sessions, run, count)
            settings = base.model_copy(update=overrides)
            server.ask("clear")
            elapsed, cpu, mailer = await deliver(settings, sessions, count)
            logins, ids = server.ask("received")
            assert len(ids) == count and set(ids.values()) == {1}, "each e-mail exactly once"
            assert logins == mailer.connections.opened
            opened = logins
            assert statuses(sessions, run) == Counter({"sent": count})
            rates[name] = count / elapsed
            print(f"{name:<40} {count:>8} {elapsed:>8.1f} {count / elapsed:>7.1f}"
                  f" {1000 * cpu / count:>12.1f} {opened:>12}")  # fmt: skip
        if len(rates) == 2:
            baseline, kept = rates.values()
            print(
                f"\nkept connections: {kept / baseline:.1f} times the baseline; {args.emails}"
                f" e-mails in {args.emails / kept:.0f} s (target: under 60 s)"
            )
    finally:
        server.stop()
    engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument(
        "--baseline-emails", type=int, default=0, help="default: as many as --emails"
    )
    parser.add_argument("--no-dkim", action="store_true", help="send without DKIM signatures")
    parser.add_argument("--database-url", default="", help="default: a new SQLite file")
    arguments = parser.parse_args()
    arguments.baseline_emails = arguments.baseline_emails or arguments.emails
    asyncio.run(main(arguments))
