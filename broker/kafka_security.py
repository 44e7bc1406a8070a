"""How our Kafka clients connect in production: TLS, SASL, and the settings of the topics
we create.

Everything is derived from one ``Settings``:

- ``security(settings)`` is the FastStream security object for ``KafkaBroker``;
  ``client_kwargs(settings)`` the same as keyword arguments for a bare aiokafka client
  (admin, ``encompass publish``, probes). TLS always verifies the brokers' certificates and
  host names, against ``ENCOMPASS_KAFKA_SSL_CA_FILE`` or the system trust store; a client
  certificate and key make it mutual TLS.
- the service's broker, with ``acks=all`` and the idempotent producer, is built from these
  by ``broker/kafka_client.py``.
- ``topic_configs(settings)`` gives each topic its retention and ``min.insync.replicas``.

A setting that would silently weaken security (a CA file with PLAINTEXT, a username
without SASL, a certificate without its key) is refused with the setting's name.
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from broker.topics import Topics
from foundations.settings import Settings

DAY_MS = 24 * 60 * 60 * 1000


class KafkaSettingsError(ValueError):
    """The Kafka settings contradict each other; the message names the settings."""


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
