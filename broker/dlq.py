"""``encompass dlq replay``: after a fix, send dead-lettered events through intake again.

Reads ``police.incidents.dlq.v1`` with its own consumer group (so an event is replayed once),
re-publishes each event's original bytes and key to ``police.incidents.v1``, and commits.
An event that is still refused lands on the dead-letter topic again, with its new reason.
"""

from __future__ import annotations

import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from broker.kafka_security import client_kwargs
from broker.runtime import bootstrap_for_clients
from foundations.settings import Settings

REPLAY_GROUP = "encompass-dlq-replay"


async def replay(settings: Settings, *, dry_run: bool = False, idle_s: float = 3.0) -> int:
    bootstrap = bootstrap_for_clients(settings)
    if bootstrap is None:
        print(
            "encompass dlq replay: no Kafka: set ENCOMPASS_KAFKA_BOOTSTRAP, or start "
            "`encompass up` on this machine first",
            file=sys.stderr,
        )
        return 2
    consumer = AIOKafkaConsumer(
        settings.dlq_topic,
        bootstrap_servers=bootstrap,
        group_id=REPLAY_GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **client_kwargs(settings),
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(settings.kafka_session_timeout_ms // 3, 300),
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_kwargs(settings))
    await consumer.start()
    await producer.start()
    count = 0
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_s * 1000), max_records=200)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    reason = dict(record.headers).get("x-error", b"").decode("utf-8", "replace")
                    print(
                        f"{'would replay' if dry_run else 'replaying'} "
                        f"{record.partition}/{record.offset} (was refused: {reason})"
                    )
                    if not dry_run:
                        await producer.send_and_wait(
                            settings.incidents_topic, record.value or b"", key=record.key
                        )
                    count += 1
            if not dry_run:
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    print(f"{'would replay' if dry_run else 'replayed'} {count} dead-lettered event(s)")
    return 0
