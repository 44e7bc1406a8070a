"""The service's Kafka client: the one module that reaches inside FastStream and aiokafka.

Everything else uses their public API. What is used of their insides is here, and
``tests/test_kafka_client.py`` fails when an upgrade changes it:

- ``KafkaBroker._connect`` is overridden, to decide on the idempotent producer when the
  broker connects, and it sets ``enable_idempotence`` in ``KafkaBroker._connection_kwargs``
  (the producer's arguments) before FastStream builds the producer from them;
- a Kafka subscriber's ``consumer`` attribute, the aiokafka consumer FastStream made for it,
  is read for each partition's high-water mark (the consumer lag in ``/metrics``).

``kafka_broker(settings, bootstrap)`` builds the service's broker with ``acks=all`` and, per
``ENCOMPASS_KAFKA_IDEMPOTENT``, an idempotent producer. ``auto`` asks the broker for a
producer id at connect time and, when the broker has none to give (the embedded Tansu
answers InitProducerId with UNKNOWN_SERVER_ERROR), falls back to plain ``acks=all`` and logs
why. The design is at-least-once with idempotent effects either way; idempotence only
spares consumers of our topics the duplicates a producer retry would make. Security (TLS,
SASL) comes from ``broker/kafka_security.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka import errors as kafka_errors
from faststream.kafka import KafkaBroker
from typing_extensions import override

from broker.kafka_security import client_kwargs, security
from foundations.settings import Settings

log = structlog.get_logger(__name__)

# Errors that are the broker's answer "no idempotent producer here", as opposed to the
# broker being unreachable (which fails start-up as any connection failure does).
NO_IDEMPOTENCE = (
    kafka_errors.UnknownError,  # Tansu: InitProducerId -> UNKNOWN_SERVER_ERROR
    kafka_errors.UnsupportedVersionError,  # InitProducerId not offered
    kafka_errors.IncompatibleBrokerVersion,
    kafka_errors.ClusterAuthorizationFailedError,  # Kafka < 2.8: no IDEMPOTENT_WRITE ACL
    kafka_errors.TransactionalIdAuthorizationFailed,
)
PROBE_TIMEOUT_S = 10.0


class IdempotenceUnavailable(RuntimeError):
    """``ENCOMPASS_KAFKA_IDEMPOTENT=on`` and the broker has no idempotent producer."""


class _DropPidError(logging.Filter):
    """aiokafka logs the refused InitProducerId at ERROR before raising it to us; during
    the probe that refusal is an answer, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unexpected error during InitProducerId")


@contextlib.contextmanager
def _quiet_probe() -> Iterator[None]:
    sender = logging.getLogger("aiokafka.producer.sender")
    quiet = _DropPidError()
    sender.addFilter(quiet)
    try:
        yield
    finally:
        sender.removeFilter(quiet)


async def probe_idempotence(
    bootstrap: str, kwargs: dict[str, Any], *, timeout_s: float = PROBE_TIMEOUT_S
) -> str | None:
    """Ask the broker for a producer id, as an idempotent producer does when it starts.
    None when it gives one; otherwise why not. Connection and authentication failures are
    raised: they are not an answer about idempotence."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **kwargs
    )
    try:
        with _quiet_probe():
            await asyncio.wait_for(producer.start(), timeout_s)
    except NO_IDEMPOTENCE as exc:
        return f"InitProducerId refused: {type(exc).__name__}"
    except TimeoutError:
        # Connected (a refused connection raises at once) but no producer id in time,
        # e.g. a coordinator that never becomes available.
        return f"no producer id within {timeout_s:g}s"
    finally:
        await producer.stop()
    return None


class EncompassKafkaBroker(KafkaBroker):
    """A ``KafkaBroker`` that decides on the idempotent producer when it connects."""

    def __init__(self, bootstrap: str, *, settings: Settings, **kwargs: Any) -> None:
        self.bootstrap_servers = bootstrap
        self.idempotence_mode = settings.kafka_idempotent
        self.client_options = client_kwargs(settings)
        self.idempotent: bool | None = None  # known once connected
        super().__init__(
            bootstrap,
            acks="all",
            enable_idempotence=self.idempotence_mode == "on",
            security=security(settings),
            **kwargs,
        )

    @property
    def connection_options(self) -> dict[str, Any]:
        """The arguments FastStream gives the aiokafka producer and consumers when it
        connects (``acks``, ``enable_idempotence``, security)."""
        options: dict[str, Any] = self._connection_kwargs
        return options

    @override
    async def _connect(self) -> Callable[..., AIOKafkaConsumer]:
        bootstrap = self.bootstrap_servers
        mode = self.idempotence_mode
        if mode == "off":
            self.idempotent = False
            log.info("kafka_producer", idempotent=False, acks="all", mode=mode)
        else:
            refused = await probe_idempotence(bootstrap, self.client_options)
            if refused is not None and mode == "on":
                raise IdempotenceUnavailable(
                    f"ENCOMPASS_KAFKA_IDEMPOTENT=on but the broker at {bootstrap} has no "
                    f"idempotent producer ({refused}): use auto or off"
                )
            self.idempotent = refused is None
            self.connection_options["enable_idempotence"] = self.idempotent
            if refused is None:
                log.info("kafka_producer", idempotent=True, acks="all", mode=mode)
            else:
                log.warning(
                    "kafka_producer_not_idempotent",
                    idempotent=False,
                    acks="all",
                    mode=mode,
                    reason=refused,
                )
        return await super()._connect()


def kafka_broker(settings: Settings, bootstrap: str, **kwargs: Any) -> EncompassKafkaBroker:
    """The service's broker: security from the settings, ``acks=all``, idempotence per
    ``ENCOMPASS_KAFKA_IDEMPOTENT``. ``kwargs`` go to ``KafkaBroker`` (e.g. ``log_level``).

    FastStream's own lines go to a standard logger of ours, without FastStream's coloured
    handler, so they leave through the process's one log format (foundations/logging.py)."""
    kwargs.setdefault("logger", logging.getLogger("encompass.kafka"))
    return EncompassKafkaBroker(bootstrap, settings=settings, **kwargs)


def subscriber_consumer(broker: KafkaBroker) -> AIOKafkaConsumer | None:
    """The aiokafka consumer of the broker's (first started) subscriber; None before the
    subscriber has started."""
    for subscriber in broker.subscribers:
        consumer: AIOKafkaConsumer | None = getattr(subscriber, "consumer", None)
        if consumer is not None:
            return consumer
    return None


def consumer_lag(
    broker: KafkaBroker, records: Iterable[ConsumerRecord[Any, Any]]
) -> dict[str, int]:
    """Events not yet taken, by partition, after ``records``: each partition's high-water
    mark (known to the subscriber's consumer) less the next offset to take."""
    consumer = subscriber_consumer(broker)
    lag: dict[str, int] = {}
    if consumer is None:
        return lag
    for record in records:
        highwater = consumer.highwater(TopicPartition(record.topic, record.partition))
        if highwater is not None:
            lag[str(record.partition)] = max(highwater - record.offset - 1, 0)
    return lag
