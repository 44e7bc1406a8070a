"""``encompass publish FILE.jsonl``: what a police system does, from a file.

Each non-empty line is checked against the contract first, with the intake's own parser
(``consumers.intake.parse_incident``). A line the broker would refuse (not JSON, not the
schema) is reported with its line number and reason and is not published; the others are
published as they are, keyed by their ``incident_id``. Any refused line makes the command
exit 1, so a script that publishes a file knows that part of it did not go.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer

from broker.kafka_security import client_kwargs
from broker.runtime import bootstrap_for_clients
from consumers.intake import Refused, parse_incident
from foundations.settings import Settings


def key_of(line: bytes) -> bytes | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    value = data.get("incident_id") if isinstance(data, dict) else None
    return value.encode() if isinstance(value, str) and value else None


def checked_lines(path: Path) -> tuple[list[bytes], list[tuple[int, str]]]:
    """The file's non-empty lines the intake would accept, and (line number, reason) for
    each it would refuse."""
    good: list[bytes] = []
    refused: list[tuple[int, str]] = []
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                parse_incident(line)
            except Refused as exc:
                refused.append((number, str(exc)))
            else:
                good.append(line)
    return good, refused


async def publish_file(settings: Settings, path: Path) -> int:
    if not path.is_file():
        print(f"encompass publish: {path} not found", file=sys.stderr)
        return 2
    good, refused = checked_lines(path)
    for number, reason in refused:
        print(
            f"encompass publish: {path}:{number}: refused, not published: {reason}", file=sys.stderr
        )
    if not good:
        print(f"encompass publish: nothing to publish in {path}", file=sys.stderr)
        return 1
    bootstrap = bootstrap_for_clients(settings)
    if bootstrap is None:
        print(
            "encompass publish: no Kafka to publish to: set ENCOMPASS_KAFKA_BOOTSTRAP, "
            "or start `encompass up` on this machine first",
            file=sys.stderr,
        )
        return 2
    count = 0
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_kwargs(settings))
    await producer.start()
    try:
        for line in good:
            await producer.send_and_wait(settings.incidents_topic, line, key=key_of(line))
            count += 1
    finally:
        await producer.stop()
    print(f"published {count} incident event(s) to {settings.incidents_topic} at {bootstrap}")
    if refused:
        print(
            f"encompass publish: {len(refused)} line(s) refused and not published (see above)",
            file=sys.stderr,
        )
        return 1
    return 0
