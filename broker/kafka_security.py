"""How our Kafka clients connect in production: TLS, SASL, the producer's guarantee, and
the settings of the topics we create.

Everything is derived from one ``Settings``:

- ``security(settings)`` is the FastStream security object for ``KafkaBroker``;
  ``client_kwargs(settings)`` the same as keyword arguments for a bare aiokafka client
  (admin, ``encompass publish``, probes). TLS always verifies the brokers' certificates and
  host names, against ``ENCOMPASS_KAFKA_SSL_CA_FILE`` or the system trust store; a client
  certificate and key make it mutual TLS.
- ``kafka_broker(settings, bootstrap)`` builds the service's broker with ``acks=all`` and,
  per ``ENCOMPASS_KAFKA_IDEMPOTENT``, an idempotent producer. ``auto`` asks the broker for a
  producer id at connect time and, when the broker has none to give (the embedded Tansu
  answers InitProducerId with UNKNOWN_SERVER_ERROR), falls back to plain ``acks=all`` and
  logs why. The design is at-least-once with idempotent effects either way; idempotence
  only spares consumers of our topics the duplicates a producer retry would make.
- ``topic_configs(settings)`` gives each topic its retention and ``min.insync.replicas``.

A setting that would silently weaken security (a CA file with PLAINTEXT, a username
without SASL, a certificate without its key) is refused with the setting's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import errors as kafka_errors
from faststream.kafka import KafkaBroker
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from typing_extensions import override

from broker.topics import Topics
from foundations.settings import Settings

log = structlog.get_logger(__name__)

DAY_MS = 24 * 60 * 60 * 1000
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


class KafkaSettingsError(ValueError):
    """The Kafka settings contradict each other; the message names the settings."""


class IdempotenceUnavailable(RuntimeError):
    """``ENCOMPASS_KAFKA_IDEMPOTENT=on`` and the broker has no idempotent producer."""


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verify the brokers (CA file, else the system store, host names checked); present
    our certificate too when one is configured (mutual TLS)."""
    cafile = str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    cert, key = settings.kafka_ssl_cert_file, settings.kafka_ssl_key_file
    if cert is not None and key is not None:
        password = settings.kafka_ssl_key_password
        context.load_cert_chain(
            cert, key, password=password.get_secret_value() if password else None
        )
    return context


def _check(settings: Settings) -> None:
    protocol = settings.kafka_security_protocol
    tls_files = {
        "ENCOMPASS_KAFKA_SSL_CA_FILE": settings.kafka_ssl_ca_file,
        "ENCOMPASS_KAFKA_SSL_CERT_FILE": settings.kafka_ssl_cert_file,
        "ENCOMPASS_KAFKA_SSL_KEY_FILE": settings.kafka_ssl_key_file,
    }
    sasl = {
        "ENCOMPASS_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "ENCOMPASS_KAFKA_SASL_PASSWORD": settings.kafka_sasl_password,
    }
    if protocol == "PLAINTEXT":
        given = [name for name, value in tls_files.items() if value is not None]
        if given:
            raise KafkaSettingsError(
                f"{', '.join(given)} set but ENCOMPASS_KAFKA_SECURITY_PROTOCOL is PLAINTEXT: "
                "set it to SSL or SASL_SSL, or unset the files"
            )
    if protocol != "SASL_SSL":
        given = [name for name, value in sasl.items() if value is not None]
        if given:
            raise KafkaSettingsError(
                f"{', '.join(given)} set but ENCOMPASS_KAFKA_SECURITY_PROTOCOL is "
                f"{protocol}: credentials are only sent with SASL_SSL"
            )
    else:
        missing = [name for name, value in sasl.items() if not value]
        if missing:
            raise KafkaSettingsError(
                f"ENCOMPASS_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs {' and '.join(missing)}"
            )
    if (settings.kafka_ssl_cert_file is None) != (settings.kafka_ssl_key_file is None):
        raise KafkaSettingsError(
            "mutual TLS needs both ENCOMPASS_KAFKA_SSL_CERT_FILE and ENCOMPASS_KAFKA_SSL_KEY_FILE"
        )
    for name, path in tls_files.items():
        if path is not None and not path.is_file():
            raise KafkaSettingsError(f"{name}: no such file {path}")


def security(settings: Settings) -> BaseSecurity | None:
    """The FastStream security object for these settings (None: PLAINTEXT)."""
    _check(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = ssl_context(settings)
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = settings.kafka_sasl_username
    password = settings.kafka_sasl_password
    assert username and password  # checked above
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "SCRAM-SHA-512": SASLScram512,
        "SCRAM-SHA-256": SASLScram256,
        "PLAIN": SASLPlaintext,
    }
    return kinds[settings.kafka_sasl_mechanism](
        username, password.get_secret_value(), ssl_context=context, use_ssl=True
    )


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments (``security_protocol``, ``ssl_context``, ``sasl_*``) for
    a client made outside FastStream: the admin client, ``encompass publish``, probes."""
    return parse_security(security(settings))


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Configs for the topics we create: retention by topic, and ``min.insync.replicas``
    so that ``acks=all`` means two copies once there are three replicas."""
    topics = Topics.from_settings(settings)
    replicas = settings.kafka_replication_factor
    common = {
        "cleanup.policy": "delete",
        "min.insync.replicas": str(min(2, max(1, replicas - 1))),
    }
    retention = {
        topics.incidents: settings.kafka_incidents_retention_days,
        topics.dlq: settings.kafka_dlq_retention_days,
        topics.audit: settings.kafka_audit_retention_days,
    }
    return {
        name: {**common, "retention.ms": str(days * DAY_MS)} for name, days in retention.items()
    }


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
            self._connection_kwargs["enable_idempotence"] = self.idempotent
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
    ``ENCOMPASS_KAFKA_IDEMPOTENT``. ``kwargs`` go to ``KafkaBroker`` (e.g. ``log_level``)."""
    return EncompassKafkaBroker(bootstrap, settings=settings, **kwargs)
