"""The Kafka under a subscriber test, in two layers that run the same test body.

``memory``: FastStream's ``TestKafkaBroker`` around the service's own ``KafkaBroker``. No
network: publishing hands the events, as one batch, to the intake subscriber as declared
in ``broker/app.py`` (its parser, decoder, batch handler and acknowledgement policy), and
what the service publishes (dead letters, audit rows, tree heads) is kept in memory. The
service around it is the real one: its database, its workers, the SMTP server of the test.

What the memory layer does not cover, and the ``real`` layer (the Kafka-protocol broker
process of ``kafka_bootstrap``) does: consumer groups and partitions (every event is on
partition 0 at offset 0, so its ``source`` is ``topic/0/0``), keys choosing partitions,
how the consumer cuts batches, committed offsets, and redelivery: a batch that fails is
not rewound and taken again, its exception reaches ``publish``. Header values can only be
text. Topics are not created (the admin client has no stand-in). Tests of those stay on
the real broker only: crash and replay, scale-out, a database away, the broker restarted.

A layer runs one service: ``async with layer.running(settings, folder) as service``;
``await layer.publish(topic, *values)`` returns once the service has taken every value
(in memory, at once; on the real broker, when its event counter says so); ``await
layer.published(topic, count)`` gives what the service has published on ``topic``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from faststream.kafka import KafkaResponse, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

import broker.app
from broker.app import EncompassService
from foundations.database import transaction
from foundations.settings import Settings
from tests.factories import import_directory, write_directory

LAYERS = ("memory", "real")
# Nothing listens there: should the memory layer ever reach for a broker, it fails at once.
NOWHERE = "127.0.0.1:1"


@dataclasses.dataclass(frozen=True)
class Published:
    """A record the service published, as a consumer of the topic reads it."""

    value: bytes
    key: bytes | None
    headers: dict[str, str]

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any]) -> Published:
        headers = {k: bytes(v).decode("utf-8", "replace") for k, v in record.headers}
        return cls(record.value, record.key, headers)


def events_taken(service: EncompassService) -> int:
    """Every event the intake subscriber has taken (recorded, refused or dead-lettered),
    from its counter in ``/metrics``."""
    return int(
        sum(
            sample.value
            for family in service.metrics.events.collect()
            for sample in family.samples
            if sample.name.endswith("_total")
        )
    )


class KafkaLayer:
    name: str
    bootstrap: str

    def __init__(self) -> None:
        self._service: EncompassService | None = None

    @property
    def service(self) -> EncompassService:
        assert self._service is not None, "publish within `async with layer.running(...)`"
        return self._service

    @asynccontextmanager
    async def running(
        self, settings: Settings, directory: Path | None = None
    ) -> AsyncIterator[EncompassService]:
        """The service of ``settings`` started on this layer, with the test directory
        imported into its database when ``directory`` names a folder for its files."""
        service = EncompassService(settings, bootstrap=self.bootstrap)
        if directory is not None:
            with transaction(service.sessions) as session:
                import_directory(session, write_directory(directory))
        async with self._around(service):
            await service.start()
            self._service = service
            try:
                yield service
            finally:
                self._service = None
                await service.stop()

    def _around(self, service: EncompassService) -> AbstractAsyncContextManager[Any]:
        raise NotImplementedError

    async def publish(
        self, topic: str, *values: bytes, key: bytes = b"k", timeout: float = 30.0
    ) -> None:
        """Publish ``values`` (one key: one partition, in order) and return once the
        service has taken them all."""
        service = self.service
        target = events_taken(service) + len(values)
        await self._send(topic, values, key)
        async with asyncio.timeout(timeout):
            while events_taken(service) < target:
                await asyncio.sleep(0.05)

    async def _send(self, topic: str, values: tuple[bytes, ...], key: bytes) -> None:
        raise NotImplementedError

    async def published(self, topic: str, count: int, timeout: float = 20.0) -> list[Published]:
        """At least ``count`` records the service published on ``topic``."""
        raise NotImplementedError


class MemoryKafka(KafkaLayer):
    name = "memory"
    bootstrap = NOWHERE

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, list[Published]] = {}

    @asynccontextmanager
    async def _around(self, service: EncompassService) -> AsyncIterator[None]:
        # What the service publishes goes to the subscribers of the same broker: one for
        # each topic it writes, keeping the records.
        for topic in (service.topics.dlq, service.topics.audit):
            self._tap(service, topic)

        async def no_topics(*args: Any, **kwargs: Any) -> None:
            pass

        async with TestKafkaBroker(service.broker):
            with mock.patch.object(broker.app, "ensure_topics", no_topics):
                yield

    def _tap(self, service: EncompassService, topic: str) -> None:
        seen = self._seen.setdefault(topic, [])

        @service.broker.subscriber(topic)
        async def keep(body: Any, msg: KafkaMessage) -> None:
            assert isinstance(msg.raw_message, ConsumerRecord)
            seen.append(Published.of(msg.raw_message))

    async def _send(self, topic: str, values: tuple[bytes, ...], key: bytes) -> None:
        # One batch, as the consumer of the partition would hand them over.
        await self.service.broker.publish_batch(
            *(KafkaResponse(value, key=key) for value in values), topic=topic
        )

    async def published(self, topic: str, count: int, timeout: float = 20.0) -> list[Published]:
        seen = self._seen[topic]
        async with asyncio.timeout(timeout):  # the audit relay publishes on its own time
            while len(seen) < count:
                await asyncio.sleep(0.05)
        return list(seen)


class RealKafka(KafkaLayer):
    name = "real"

    def __init__(self, bootstrap: str) -> None:
        super().__init__()
        self.bootstrap = bootstrap

    @asynccontextmanager
    async def _around(self, service: EncompassService) -> AsyncIterator[None]:
        yield

    async def _send(self, topic: str, values: tuple[bytes, ...], key: bytes) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            for value in values:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()

    async def published(self, topic: str, count: int, timeout: float = 20.0) -> list[Published]:
        return [Published.of(r) for r in await read_topic(self.bootstrap, topic, count, timeout)]


async def read_topic(
    bootstrap: str, topic: str, count: int, timeout: float = 20.0
) -> list[ConsumerRecord[Any, Any]]:
    """At least ``count`` records of ``topic``, from the start, outside any group."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[ConsumerRecord[Any, Any]] = []
    try:
        async with asyncio.timeout(timeout):
            while len(found) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found.extend(records)
    finally:
        await consumer.stop()
    return found
