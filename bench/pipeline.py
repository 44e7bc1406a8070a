"""How fast does the spine turn incident events into recorded notifications?

Publishes N incidents (default 10,000, one to three children each) to the real
Kafka-protocol broker process, then times the broker's intake consumer until every child has
its notification recorded in the database (SQLite by default). In the same run, a bare
aiokafka consumer reads and commits the same messages: the baseline, so the figures can be
compared on a shared, noisy machine.

    python bench/pipeline.py [--incidents 10000] [--pupils 20000] [--database-url URL]
                             [--progress 30]

The broker's settings come from the environment as a deployment's do. The intake's worker
pool (docs/performance.md) is ``--intake-workers``, else ``ENCOMPASS_INTAKE_WORKERS``, else
1: one worker beside the intake, as on an intake with two cores (``0``: none); the last
line gives the CPU of the broker's process and of the pool's workers, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from broker.app import EncompassService
from broker.demo import PupilSeed, incident_stream
from broker.embedded import EmbeddedKafka
from broker.kafka_admin import ensure_topics
from foundations.database import transaction
from foundations.key_material import new_key_spec
from foundations.logging import configure_logging
from foundations.mailer import MemoryMailer
from foundations.models import Notification, Pupil
from foundations.settings import Settings
from school_directory import imports
from school_directory.synthetic import write_directory


async def produce(bootstrap: str, topic: str, payloads: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in payloads]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def bare_consumer(bootstrap: str, topic: str, count: int, batch: int) -> float:
    """The baseline: read the messages and commit the offsets the way the intake does, a
    batch of up to ``batch`` records at a time, one offset commit per batch; parse each."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    await consumer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=batch)
            for records in batches.values():
                for msg in records:
                    json.loads(msg.value)
                seen += len(records)
            if batches:
                await consumer.commit()  # one commit per batch, as the broker's intake does
    finally:
        await consumer.stop()
    return time.perf_counter() - started


def _cpu_of(pid: int) -> float:
    """User and system CPU seconds of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def recorded(service: EncompassService) -> int:
    with transaction(service.sessions) as session:
        return session.execute(select(func.count(Notification.id))).scalar_one()


async def main(args: argparse.Namespace) -> None:
    configure_logging("console", "WARNING")
    work = Path(tempfile.mkdtemp(prefix="encompass-bench-"))
    tag = uuid.uuid4().hex[:6]
    workers = args.intake_workers
    if workers is None and "ENCOMPASS_INTAKE_WORKERS" not in os.environ:
        workers = 1
    settings = Settings(
        **({"intake_workers": workers} if workers is not None else {}),
        data_dir=work,
        database_url=args.database_url or f"sqlite:///{work / 'bench.db'}",
        incidents_topic=f"bench.incidents.{tag}",
        dlq_topic=f"bench.dlq.{tag}",
        audit_topic=f"bench.audit.{tag}",
        consumer_group=f"bench-{tag}",
        kafka_session_timeout_ms=6000,
        topic_partitions=3,
        data_key=new_key_spec(),  # required when --database-url is PostgreSQL
        allow_unsafe="first_response_email,public_url",
    )
    with EmbeddedKafka(log_file=work / "kafka.log") as kafka:
        service = EncompassService(settings, bootstrap=kafka.bootstrap, mailer=MemoryMailer())
        files = write_directory(
            work / "directory", schools=max(50, args.pupils // 400), pupils=args.pupils
        )
        t0 = time.perf_counter()
        with transaction(service.sessions) as session:
            imports.import_schools(session, files.schools)
            imports.import_contacts(session, files.contacts)
            imports.import_pupils(session, files.pupils)
            imports.import_calendar(session, files.calendar)
            seeds = [
                PupilSeed(
                    p.given_names, p.family_name, p.preferred_name, p.date_of_birth, p.postcode
                )
                for p in session.execute(select(Pupil).limit(5000)).scalars()
            ]
        print(f"directory: {args.pupils} pupils imported in {time.perf_counter() - t0:.1f}s")
        incidents = list(incident_stream(seeds, args.incidents, unknown_rate=0.05))
        children = sum(sum(p["role"] == "child" for p in i["persons"]) for i in incidents)
        payloads = [(i["incident_id"].encode(), json.dumps(i).encode()) for i in incidents]
        await ensure_topics(
            kafka.bootstrap,
            (settings.incidents_topic, settings.dlq_topic, settings.audit_topic),
            settings.topic_partitions,
        )
        produce_s = await produce(kafka.bootstrap, settings.incidents_topic, payloads)
        print(f"published {len(payloads)} incidents ({children} children) in {produce_s:.1f}s")

        bare_s = await bare_consumer(
            kafka.bootstrap, settings.incidents_topic, len(payloads), settings.intake_batch_size
        )

        load_before = os.getloadavg()
        cpu_before = time.process_time()
        started = time.perf_counter()
        await service.start()
        try:
            # Counted on a worker thread, as the broker's own database work is: the count
            # waits for SQLite's write lock, which the event loop must never do.
            # Every --progress seconds: how far, and the rate over the last interval (how the
            # cost grows with the database, within one run).
            last_t, last_n, shown = started, 0, started
            while (done := await asyncio.to_thread(recorded, service)) < children:
                now = time.perf_counter()
                if args.progress and now - shown >= args.progress:
                    rate = (done - last_n) / (now - last_t)
                    print(
                        f"  {now - started:6.0f}s {done:7d}/{children} notifications, "
                        f"{rate:5.0f} notifications/s (~{rate * len(payloads) / children:.0f} "
                        "incidents/s) over the last interval",
                        flush=True,
                    )
                    last_t, last_n, shown = now, done, now
                await asyncio.sleep(0.5)
            pipeline_s = time.perf_counter() - started
            cpu_s = time.process_time() - cpu_before
            pool = service.intake_pool
            workers_cpu_s = sum(_cpu_of(pid) for pid in pool.pids) if pool else 0.0
            load_after = os.getloadavg()
        finally:
            await service.stop()

    bare_rate = len(payloads) / bare_s
    pipe_rate = len(payloads) / pipeline_s
    print(
        f"bare aiokafka consumer (read + commit per batch): {bare_rate:8.0f} incidents/s "
        f"({bare_s:.1f}s)"
    )
    print(
        f"encompass intake -> notifications recorded: {pipe_rate:8.0f} incidents/s "
        f"({pipeline_s:.1f}s, {children / pipeline_s:.0f} notifications/s)"
    )
    print(f"ratio pipeline/bare: {pipe_rate / bare_rate:.4f}")
    print(
        f"intake workers (ENCOMPASS_INTAKE_WORKERS): {settings.intake_workers}; CPU of the "
        f"broker's process {cpu_s:.1f}s ({1000 * cpu_s / len(payloads):.2f} ms per incident), "
        f"of its pool's workers {workers_cpu_s:.1f}s; load average "
        f"{load_before[0]:.1f} at the start, {load_after[0]:.1f} at the end"
    )
    if pool is not None:
        done_by = f"{pool.served}; by the intake's thread: {pool.taken_back}"
        print(f"incidents done by the pool: {done_by}")
    print(f"database: {settings.resolved_database_url.split('://')[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--pupils", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--intake-workers",
        type=int,
        default=None,
        help="the intake's worker processes (default: ENCOMPASS_INTAKE_WORKERS, else 1)",
    )
    parser.add_argument(
        "--progress", type=float, default=30.0, help="seconds between progress lines (0: none)"
    )
    asyncio.run(main(parser.parse_args()))
