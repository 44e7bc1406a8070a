"""What broker/kafka_client.py uses of FastStream's and aiokafka's insides is still there.

An upgrade of either that renames or reshapes them fails here, not in production: the
idempotence decided when the broker connects must reach the producer FastStream builds,
and the consumer lag is read from the aiokafka consumer FastStream keeps on the
subscriber."""

from __future__ import annotations

import inspect
from types import SimpleNamespace
from typing import Any

import aiokafka
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker

from broker import kafka_client
from broker.kafka_client import consumer_lag, kafka_broker, subscriber_consumer
from tests.factories import isolated_settings


class Built(Exception):
    """Raised by the stand-in producer: what FastStream gave it is all we need."""


@pytest.mark.parametrize(("refused", "idempotent"), [(None, True), ("no producer id", False)])
async def test_the_idempotence_decided_at_connect_reaches_the_producer(
    monkeypatch: pytest.MonkeyPatch, refused: str | None, idempotent: bool
) -> None:
    asked: list[str] = []

    async def probe(bootstrap: str, kwargs: dict[str, Any], **_: Any) -> str | None:
        asked.append(bootstrap)
        return refused

    built: dict[str, Any] = {}

    def producer(**kwargs: Any) -> None:
        built.update(kwargs)
        raise Built

    monkeypatch.setattr(kafka_client, "probe_idempotence", probe)
    monkeypatch.setattr(aiokafka, "AIOKafkaProducer", producer)
    broker = kafka_broker(isolated_settings(kafka_idempotent="auto"), "127.0.0.1:9")
    assert broker.connection_options["enable_idempotence"] is False  # undecided
    with pytest.raises(Built):
        await broker.connect()  # FastStream's connect() calls our _connect()
    assert asked == ["127.0.0.1:9"]
    assert broker.idempotent is idempotent
    assert built["enable_idempotence"] is idempotent
    assert built["acks"] == "all"
    assert built["bootstrap_servers"] == ["127.0.0.1:9"]


def test_the_overridden_method_and_the_arguments_it_changes_are_faststreams() -> None:
    assert inspect.iscoroutinefunction(KafkaBroker._connect)
    assert list(inspect.signature(KafkaBroker._connect).parameters) == ["self"]
    broker = kafka_broker(isolated_settings(), "127.0.0.1:9")
    assert broker.connection_options is broker._connection_kwargs
    assert isinstance(broker._connection_kwargs, dict)


def test_the_lag_is_read_from_the_consumer_faststream_keeps_on_the_subscriber() -> None:
    broker = kafka_broker(isolated_settings(), "127.0.0.1:9")
    subscriber = broker.subscriber("incidents", group_id="g", batch=True)
    assert subscriber.consumer is None  # FastStream sets it when the subscriber starts
    records = [
        SimpleNamespace(topic="incidents", partition=1, offset=6),
        SimpleNamespace(topic="incidents", partition=2, offset=3),
    ]
    assert subscriber_consumer(broker) is None
    assert consumer_lag(broker, records) == {}  # type: ignore[arg-type]

    class Consumer:
        def highwater(self, partition: TopicPartition) -> int | None:
            return 10 if partition == TopicPartition("incidents", 1) else None

    subscriber.consumer = Consumer()  # type: ignore[assignment]
    assert consumer_lag(broker, records) == {"1": 3}  # type: ignore[arg-type]
    assert list(inspect.signature(AIOKafkaConsumer.highwater).parameters) == [
        "self",
        "partition",
    ]


@pytest.mark.kafka
async def test_a_started_subscriber_holds_its_aiokafka_consumer(kafka_bootstrap: str) -> None:
    settings = isolated_settings(kafka_idempotent="off")
    broker: KafkaBroker = kafka_broker(settings, kafka_bootstrap)

    @broker.subscriber(settings.incidents_topic, group_id=settings.consumer_group, batch=True)
    async def handle(body: list[bytes]) -> None:
        pass

    await broker.start()
    try:
        assert isinstance(subscriber_consumer(broker), AIOKafkaConsumer)
    finally:
        await broker.stop()
    assert subscriber_consumer(broker) is None
