"""Kafka in production: the settings become the right FastStream security objects and
aiokafka arguments (SASL_SSL with SCRAM, mutual TLS, CA verification, proven by real TLS
handshakes), the topics get their retention, and the idempotent producer is used where
the broker has one and dropped cleanly, with a log line, where it has not (the embedded
Tansu broker answers InitProducerId with UNKNOWN_SERVER_ERROR)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr

from broker.app import EncompassService
from broker.embedded import free_port
from broker.kafka_admin import ensure_topics
from broker.kafka_client import (
    EncompassKafkaBroker,
    IdempotenceUnavailable,
    kafka_broker,
    probe_idempotence,
)
from broker.kafka_security import (
    DAY_MS,
    KafkaSettingsError,
    client_kwargs,
    security,
    ssl_context,
    topic_configs,
)
from broker.topics import Topics
from foundations.settings import Settings
from tests.factories import isolated_settings

# --- a small PKI: a CA, a server certificate for localhost, a client certificate ----------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    name: str,
    usage: x509.ObjectIdentifier,
    san: list[x509.GeneralName],
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("kafka-pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kafka test CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server, server_key = _issue(
        ca_key, ca_name, "localhost", ExtendedKeyUsageOID.SERVER_AUTH, [x509.DNSName("localhost")]
    )
    client, client_key = _issue(
        ca_key,
        ca_name,
        "encompass-client",
        ExtendedKeyUsageOID.CLIENT_AUTH,
        [x509.DNSName("encompass-client")],
    )
    out = Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
    )
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    out.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
    _write_key(out.server_key, server_key)
    _write_key(out.client_key, client_key)
    return out


def kafka_settings(**values: Any) -> Settings:
    return Settings(**values)


# --- settings -> FastStream security objects and aiokafka arguments ------------------------


def test_plaintext_is_the_default_and_sends_no_security() -> None:
    settings = kafka_settings()
    assert security(settings) is None
    assert client_kwargs(settings) == {}


def test_sasl_ssl_scram_sha_512(pki: Pki) -> None:
    settings = kafka_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="encompass",
        kafka_sasl_password=SecretStr("s3cret-scram"),
        kafka_ssl_ca_file=pki.ca,
    )
    sec = security(settings)
    assert isinstance(sec, SASLScram512)
    assert (sec.username, sec.password, sec.use_ssl) == ("encompass", "s3cret-scram", True)
    kwargs = client_kwargs(settings)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "encompass"
    assert kwargs["sasl_plain_password"] == "s3cret-scram"
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert any(
        ("commonName", "Kafka test CA") in rdn
        for cert in context.get_ca_certs()
        for rdn in cert["subject"]
    )


@pytest.mark.parametrize(
    ("mechanism", "kind"),
    [("SCRAM-SHA-256", SASLScram256), ("PLAIN", SASLPlaintext)],
)
def test_other_sasl_mechanisms(mechanism: str, kind: type[BaseSecurity]) -> None:
    settings = kafka_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="u",
        kafka_sasl_password=SecretStr("p"),
    )
    assert type(security(settings)) is kind
    assert client_kwargs(settings)["sasl_mechanism"] == mechanism
    assert client_kwargs(settings)["security_protocol"] == "SASL_SSL"


def test_mutual_tls_from_the_environment(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCOMPASS_KAFKA_SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("ENCOMPASS_KAFKA_SSL_CA_FILE", str(pki.ca))
    monkeypatch.setenv("ENCOMPASS_KAFKA_SSL_CERT_FILE", str(pki.client_cert))
    monkeypatch.setenv("ENCOMPASS_KAFKA_SSL_KEY_FILE", str(pki.client_key))
    settings = Settings()
    sec = security(settings)
    assert type(sec) is BaseSecurity
    assert sec.use_ssl
    kwargs = client_kwargs(settings)
    assert kwargs["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in kwargs


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "ENCOMPASS_KAFKA_SASL_USERNAME"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"},
            "ENCOMPASS_KAFKA_SASL_PASSWORD",
        ),
        ({"kafka_sasl_username": "u"}, "ENCOMPASS_KAFKA_SASL_USERNAME"),
        (
            {"kafka_security_protocol": "SSL", "kafka_sasl_password": SecretStr("p")},
            "only sent with SASL_SSL",
        ),
        ({"kafka_ssl_ca_file": "CA"}, "PLAINTEXT"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cert_file": "CERT"}, "both"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/nonexistent/ca.pem"}, "no such"),
    ],
)
def test_contradictory_settings_are_refused_by_name(
    pki: Pki, values: dict[str, Any], names: str
) -> None:
    files = {"CA": pki.ca, "CERT": pki.client_cert}
    resolved = {k: files.get(v, v) if isinstance(v, str) else v for k, v in values.items()}
    with pytest.raises(KafkaSettingsError, match=names):
        security(kafka_settings(**resolved))


def test_the_service_broker_carries_security_and_acks_all(pki: Pki, tmp_path: Path) -> None:
    settings = isolated_settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'k.db'}",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="encompass",
        kafka_sasl_password=SecretStr("pw"),
        kafka_ssl_ca_file=pki.ca,
    )
    service = EncompassService(settings, bootstrap="kafka-1:9093")
    try:
        broker = service.broker
        assert isinstance(broker, EncompassKafkaBroker)
        params = broker.connection_options
        assert params["acks"] == "all"
        assert params["security_protocol"] == "SASL_SSL"
        assert params["sasl_mechanism"] == "SCRAM-SHA-512"
        assert isinstance(params["ssl_context"], ssl.SSLContext)
        assert params["enable_idempotence"] is False  # "auto": decided when connecting
    finally:
        service.engine.dispose()


# --- the TLS contexts in real handshakes ----------------------------------------------------


@contextlib.asynccontextmanager
async def tls_server(
    pki: Pki, *, require_client_cert: bool
) -> AsyncIterator[tuple[int, list[str]]]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    peers: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        peers.extend(v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName")
        writer.write(b"ok")
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.drain()
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], peers
    finally:
        server.close()
        await server.wait_closed()


async def talk(port: int, context: ssl.SSLContext, hostname: str = "localhost") -> bytes:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=hostname), 5
    )
    try:
        return await asyncio.wait_for(reader.read(2), 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def test_mutual_tls_presents_the_client_certificate(pki: Pki) -> None:
    settings = kafka_settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=pki.ca,
        kafka_ssl_cert_file=pki.client_cert,
        kafka_ssl_key_file=pki.client_key,
    )
    async with tls_server(pki, require_client_cert=True) as (port, peers):
        assert await talk(port, ssl_context(settings)) == b"ok"
    assert peers == ["encompass-client"]


async def test_without_a_client_certificate_mutual_tls_is_refused(pki: Pki) -> None:
    settings = kafka_settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki.ca)
    async with tls_server(pki, require_client_cert=True) as (port, peers):
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            assert await talk(port, ssl_context(settings)) != b"ok"
    assert peers == []


async def test_the_brokers_certificate_and_name_are_verified(pki: Pki) -> None:
    trusting = ssl_context(kafka_settings(kafka_security_protocol="SSL", kafka_ssl_ca_file=pki.ca))
    system_store = ssl_context(kafka_settings(kafka_security_protocol="SSL"))
    async with tls_server(pki, require_client_cert=False) as (port, _):
        assert await talk(port, trusting) == b"ok"
        with pytest.raises(ssl.SSLCertVerificationError):
            await talk(port, system_store)  # our test CA is not in the system store
        with pytest.raises(ssl.SSLCertVerificationError):
            await talk(port, trusting, hostname="kafka.elsewhere.example")


# --- topics ---------------------------------------------------------------------------------


def test_topic_configs_retention_and_min_insync() -> None:
    settings = kafka_settings(kafka_replication_factor=3)
    configs = topic_configs(settings)
    assert set(configs) == set(Topics.from_settings(settings).all())
    assert configs[settings.incidents_topic]["retention.ms"] == str(7 * DAY_MS)
    assert configs[settings.dlq_topic]["retention.ms"] == str(28 * DAY_MS)
    assert configs[settings.audit_topic]["retention.ms"] == str(400 * DAY_MS)
    assert {c["min.insync.replicas"] for c in configs.values()} == {"2"}
    assert {c["cleanup.policy"] for c in configs.values()} == {"delete"}
    single = topic_configs(kafka_settings())
    assert {c["min.insync.replicas"] for c in single.values()} == {"1"}


def _entries(response: Any) -> dict[str, str]:
    """{name: value} from a DescribeConfigs response, whatever its struct flavour."""
    found: dict[str, str] = {}
    for resource in response.resources:
        for entry in resource[4]:
            found[entry[0]] = entry[1]
    return found


@pytest.mark.kafka
async def test_ensure_topics_creates_them_with_retention(kafka_bootstrap: str) -> None:
    settings = isolated_settings(kafka_incidents_retention_days=3)
    topics = Topics.from_settings(settings)
    await ensure_topics(kafka_bootstrap, topics.all(), 2, settings=settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.incidents)]
        )
        assert _entries(response)["retention.ms"] == str(3 * DAY_MS)
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topics.dlq)]
        )
        assert _entries(response)["retention.ms"] == str(28 * DAY_MS)
    finally:
        await admin.close()


# --- the idempotent producer: probe and fallback against the real broker process -------------


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.mark.kafka
async def test_the_embedded_broker_refuses_a_producer_id(kafka_bootstrap: str) -> None:
    refused = await probe_idempotence(kafka_bootstrap, {})
    assert refused is not None
    assert "UnknownError" in refused


@pytest.mark.kafka
async def test_probe_raises_when_the_broker_is_unreachable() -> None:
    with pytest.raises(KafkaConnectionError):
        await probe_idempotence(f"127.0.0.1:{free_port()}", {})


@pytest.mark.kafka
async def test_auto_falls_back_to_acks_all_and_says_so(
    kafka_bootstrap: str, logs: list[MutableMapping[str, Any]]
) -> None:
    settings = isolated_settings()
    topic = settings.incidents_topic
    await ensure_topics(kafka_bootstrap, [topic], 1, settings=settings)
    broker = kafka_broker(settings, kafka_bootstrap)
    await broker.start()
    try:
        assert broker.idempotent is False
        assert broker.connection_options["enable_idempotence"] is False
        assert broker.connection_options["acks"] == "all"
        sent = await broker.publish(b"still delivered", topic=topic, key=uuid.uuid4().bytes)
        assert sent is not None
        assert sent.offset >= 0
    finally:
        await broker.stop()
    (decision,) = [e for e in logs if e["event"] == "kafka_producer_not_idempotent"]
    assert decision["log_level"] == "warning"
    assert decision["mode"] == "auto"
    assert decision["acks"] == "all"
    assert "UnknownError" in decision["reason"]


@pytest.mark.kafka
async def test_on_refuses_to_start_without_an_idempotent_producer(kafka_bootstrap: str) -> None:
    broker = kafka_broker(isolated_settings(kafka_idempotent="on"), kafka_bootstrap)
    try:
        with pytest.raises(IdempotenceUnavailable, match="ENCOMPASS_KAFKA_IDEMPOTENT=on"):
            await broker.start()
    finally:
        with contextlib.suppress(Exception):
            await broker.stop()


@pytest.mark.kafka
async def test_off_does_not_ask(kafka_bootstrap: str, logs: list[MutableMapping[str, Any]]) -> None:
    broker = kafka_broker(isolated_settings(kafka_idempotent="off"), kafka_bootstrap)
    await broker.start()
    try:
        assert broker.idempotent is False
    finally:
        await broker.stop()
    (decision,) = [e for e in logs if e["event"] == "kafka_producer"]
    assert (decision["idempotent"], decision["mode"]) == (False, "off")
