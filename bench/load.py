"""Sustained load: a steady incident rate for a fixed time against two broker instances in
one consumer group, on the real Kafka-protocol broker process and a local SMTP server.
Reports throughput, end-to-end latency (published -> e-mail accepted by the mail server)
p50/p99/max and errors, for SQLite and PostgreSQL side by side.

    python bench/load.py [--rate 20] [--seconds 30] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select, text

from broker.app import EncompassService
from broker.demo import PupilSeed, incident_stream
from broker.embedded import EmbeddedKafka, free_port
from broker.kafka_admin import ensure_topics
from foundations.database import transaction
from foundations.key_material import new_key_spec
from foundations.logging import configure_logging
from foundations.models import Notification, Pupil
from foundations.settings import ReviewPolicy, Settings, SmtpTls
from school_directory import imports
from school_directory.synthetic import write_directory

POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Arrivals:
    """An SMTP handler that notes when each notification's e-mail arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for line in envelope.content.decode("utf-8", "replace").splitlines():
            if line.lower().startswith("message-id:"):
                self.at.setdefault(line.split("<", 1)[1].split("@", 1)[0], time.monotonic())
                break
        return "250 OK"


def postgres_url() -> str | None:
    name = f"encompass_load_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        print(f"postgresql: skipped ({exc.__class__.__name__}: not reachable)")
        return None
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def released(service: EncompassService) -> list[Any]:
    """The notifications that will produce an e-mail, with their incident ids."""
    with transaction(service.sessions) as session:
        return list(
            session.execute(
                select(Notification.id, Notification.incident_id).where(
                    Notification.status.in_(("approved", "sending", "sent"))
                )
            ).all()
        )


async def run_one(
    database_url: str, kafka: EmbeddedKafka, work: Path, rate: float, seconds: float, pupils: int
) -> dict[str, Any]:
    arrivals = Arrivals()
    port = free_port()
    smtp = Controller(arrivals, hostname="127.0.0.1", port=port)
    smtp.start()
    tag = uuid.uuid4().hex[:6]
    settings = Settings(
        data_dir=work / tag,
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls=SmtpTls.NONE,
        review_policy=ReviewPolicy.AUTO_RELEASE_EXACT,
        incidents_topic=f"load.incidents.{tag}",
        dlq_topic=f"load.dlq.{tag}",
        audit_topic=f"load.audit.{tag}",
        consumer_group=f"load-{tag}",
        kafka_session_timeout_ms=6000,
        delivery_poll_s=0.2,
        console_enabled=False,
        escalation_poll_s=3600,
        # One fresh data key for both services (required for a shared database), and the
        # placeholder First Response address and loopback links a benchmark runs with.
        data_key=new_key_spec(),
        allow_unsafe="first_response_email,public_url",
    )
    first = EncompassService(settings, bootstrap=kafka.bootstrap)
    second = EncompassService(settings, bootstrap=kafka.bootstrap, migrate=False)
    files = write_directory(work / f"dir-{tag}", schools=max(50, pupils // 400), pupils=pupils)
    with transaction(first.sessions) as session:
        for kind in ("schools", "contacts", "pupils", "calendar"):
            getattr(imports, f"import_{kind}")(session, getattr(files, kind))
        seeds = [
            PupilSeed(p.given_names, p.family_name, p.preferred_name, p.date_of_birth, p.postcode)
            for p in session.execute(
                select(Pupil).where(Pupil.on_roll_until.is_(None)).limit(3000)
            ).scalars()
        ]
    await ensure_topics(kafka.bootstrap, first.topics.all(), 3)
    await first.start()
    await second.start()
    await asyncio.sleep(4)  # both in the group before the clock starts
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    await producer.start()
    published: dict[str, float] = {}
    count = int(rate * seconds)
    stream = incident_stream(seeds, count, unknown_rate=0.0, typo_rate=0.0)
    started = time.monotonic()
    errors = 0
    for i, incident in enumerate(stream):
        target = started + i / rate
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        try:
            await producer.send_and_wait(
                settings.incidents_topic,
                json.dumps(incident).encode(),
                key=incident["incident_id"].encode(),
            )
            published[incident["incident_id"]] = time.monotonic()
        except Exception:
            errors += 1
    await producer.stop()
    publish_s = time.monotonic() - started
    # Wait for the e-mails the released notifications will produce.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        # On a worker thread, as the broker's own database work: the query waits for
        # SQLite's write lock, which the event loop (and the e-mails in flight) must not.
        expected = await asyncio.to_thread(released, first)
        if expected and all(nid in arrivals.at for nid, _ in expected):
            break
        await asyncio.sleep(0.5)
    done_s = time.monotonic() - started
    await second.stop()
    await first.stop()
    smtp.stop()
    latencies = sorted(
        arrivals.at[nid] - published[iid]
        for nid, iid in expected
        if nid in arrivals.at and iid in published
    )
    missing = sum(1 for nid, _ in expected if nid not in arrivals.at)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0

    return {
        "db": database_url.split(":", 1)[0],
        "incidents": len(published),
        "rate_offered": count / publish_s,
        "emails": len(latencies),
        "throughput": len(latencies) / done_s,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "max": latencies[-1] if latencies else 0,
        "mean": statistics.fmean(latencies) if latencies else 0,
        "errors": errors + missing,
    }


async def main(args: argparse.Namespace) -> None:
    configure_logging("console", "WARNING")
    work = Path(tempfile.mkdtemp(prefix="encompass-load-"))
    results = []
    with EmbeddedKafka(log_file=work / "kafka.log") as kafka:
        for db in args.databases.split(","):
            url = f"sqlite:///{work / 'load.db'}" if db == "sqlite" else postgres_url()
            if url:
                results.append(
                    await run_one(url, kafka, work, args.rate, args.seconds, args.pupils)
                )
    print(
        f"\n{args.rate:g} incidents/s offered for {args.seconds:g} s, two instances, "
        "one consumer group; latency = published -> e-mail accepted by the mail server"
    )
    print(
        f"{'database':<11}{'incidents':>10}{'e-mails':>9}{'e-mails/s':>11}"
        f"{'p50 s':>8}{'p99 s':>8}{'max s':>8}{'errors':>8}"
    )
    for r in results:
        print(
            f"{r['db']:<11}{r['incidents']:>10}{r['emails']:>9}{r['throughput']:>11.1f}"
            f"{r['p50']:>8.2f}{r['p99']:>8.2f}{r['max']:>8.2f}{r['errors']:>8}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=20.0, help="incidents per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--pupils", type=int, default=20_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    asyncio.run(main(parser.parse_args()))
