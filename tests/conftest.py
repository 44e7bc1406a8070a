"""Shared fixtures: a database (SQLite file or PostgreSQL), the real Kafka-protocol broker
process, the Kafka layer of subscriber tests (in memory or that process), and factories for
settings.

Locally a missing PostgreSQL or Docker gives a clear skip; in CI (``CI=true``) a missing
service fails the run instead, so nothing is skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from broker.embedded import EmbeddedKafka
from foundations.crypto import keyring_from_material
from foundations.database import make_engine, session_factory, upgrade

if TYPE_CHECKING:
    from tests.kafka_layer import KafkaLayer

IN_CI = os.environ.get("CI", "").lower() == "true"
# Database tests run with personal data encrypted at rest, as every process does.
TEST_KEYRING = keyring_from_material([("t1", b"\x01" * 32)])
POSTGRES_ADMIN_URL = os.environ.get(
    "ENCOMPASS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where every service must be present."""
    if IN_CI:
        pytest.fail(f"required test service unavailable in CI: {reason}")
    pytest.skip(reason)


def _postgres_database() -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"encompass_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql+psycopg://", "postgresql://")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test body against the embedded default and the production database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'encompass.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'encompass.db'}"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url)
    engine = make_engine(database_url, TEST_KEYRING)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-protocol broker: Tansu by default; a Kafka container when
    ``ENCOMPASS_TEST_KAFKA=testcontainers`` and Docker answers."""
    if os.environ.get("ENCOMPASS_TEST_KAFKA") == "testcontainers":
        try:
            from testcontainers.kafka import KafkaContainer

            container = KafkaContainer().with_kraft()
            container.start()
        except Exception as exc:
            unavailable(f"Docker/testcontainers Kafka not available: {exc}")
        try:
            yield container.get_bootstrap_server()
        finally:
            container.stop()
        return
    log_file = tmp_path_factory.mktemp("kafka") / "tansu.log"
    try:
        broker = EmbeddedKafka(log_file=log_file).start()
    except Exception as exc:
        unavailable(f"embedded Kafka broker could not start: {exc}")
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(params=["memory", pytest.param("real", marks=pytest.mark.kafka)])
def kafka_layer(request: pytest.FixtureRequest) -> KafkaLayer:
    """The same subscriber test in memory (FastStream's TestKafkaBroker: fast, no network)
    and on the real broker process (the wiring); tests/kafka_layer.py says what each covers."""
    from tests.kafka_layer import MemoryKafka, RealKafka

    if request.param == "memory":
        return MemoryKafka()
    return RealKafka(request.getfixturevalue("kafka_bootstrap"))


@pytest.fixture
def postgres_sessions() -> Iterator[sessionmaker[Session]]:
    """PostgreSQL only, for what only PostgreSQL has."""
    for url in _postgres_database():
        upgrade(url)
        engine = make_engine(url, TEST_KEYRING)
        yield session_factory(engine)
        engine.dispose()


def disable_audit_protection(session: Session) -> None:
    """What an attacker with the database owner's rights can do: drop the triggers that
    refuse edits to the trail. Tests of tamper *evidence* start here."""
    if session.get_bind().dialect.name == "sqlite":
        for table in ("audit_events", "audit_checkpoints"):
            for verb in ("update", "delete"):
                session.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
    else:
        for table in ("audit_events", "audit_checkpoints"):
            session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
