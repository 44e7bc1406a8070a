"""``encompass publish FILE.jsonl``: what a police system does, from a file.

Each non-empty line is published as it is, keyed by its ``incident_id`` when it has one;
the broker validates it on arrival, so a bad line ends on the dead-letter topic with its
reason, exactly as it would from a police system.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer

from broker.kafka_security import client_kwargs
from broker.runtime import bootstrap_for_clients
from foundations.settings import Settings


def key_of(line: bytes) -> bytes | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    value = data.get("incident_id") if isinstance(data, dict) else None
    return value.encode() if isinstance(value, str) and value else None


async def publish_file(settings: Settings, path: Path) -> int:
    if not path.is_file():
        print(f"encompass publish: {path} not found", file=sys.stderr)
        return 2
    bootstrap = bootstrap_for_clients(settings)
    if bootstrap is None:
        print(
            "encompass publish: no Kafka to publish to: set ENCOMPASS_KAFKA_BOOTSTRAP, "
            "or start `encompass up` on this machine first",
            file=sys.stderr,
        )
        return 2
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_kwargs(settings))
    await producer.start()
    count = 0
    try:
        with path.open("rb") as lines:
            for raw in lines:
                line = raw.strip()
                if not line:
                    continue
                await producer.send_and_wait(settings.incidents_topic, line, key=key_of(line))
                count += 1
    finally:
        await producer.stop()
    print(f"published {count} incident event(s) to {settings.incidents_topic} at {bootstrap}")
    return 0
