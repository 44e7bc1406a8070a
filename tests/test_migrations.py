"""The Alembic migrations build exactly the schema the models describe, on both databases,
and the database itself refuses edits to the audit trail. Processes that start together
migrate one at a time (PostgreSQL's advisory lock, a file lock beside SQLite)."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from foundations.database import migration_lock, schema_behind, transaction, upgrade
from foundations.models import metadata


def test_migrations_match_the_models(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        context = MigrationContext.configure(session.connection())
        differences = compare_metadata(context, metadata)
    assert differences == []


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"],
)
def test_the_database_refuses_edits_to_the_trail(
    sessions: sessionmaker[Session], statement: str
) -> None:
    with transaction(sessions) as session:
        record(session, AuditAction.RECEIVED, actor="test", incident_id="44-1")
    with pytest.raises(DatabaseError, match="append-only"), transaction(sessions) as session:
        session.execute(text(statement))


def test_postgresql_refuses_truncate(postgres_sessions: sessionmaker[Session]) -> None:
    sessions = postgres_sessions
    with pytest.raises(DatabaseError, match="append-only"), transaction(sessions) as session:
        session.execute(text("TRUNCATE audit_events"))


def _upgrade(url: str) -> str:
    """In a process of its own, as `encompass db upgrade` or a starting broker runs it."""
    try:
        upgrade(url)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return "ok"


def test_upgrades_started_together_do_not_race(database_url: str) -> None:
    """Without the lock, two of them both create the first tables and one fails."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(3, mp_context=spawn) as pool:
        results = list(pool.map(_upgrade, [database_url] * 3))
    assert results == ["ok"] * 3
    assert schema_behind(database_url) is None


def test_an_upgrade_waits_while_another_holds_the_migration_lock(database_url: str) -> None:
    done = threading.Event()
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            upgrade(database_url)
        except BaseException as exc:
            errors.append(exc)
        done.set()

    with migration_lock(database_url):
        other = threading.Thread(target=migrate)
        other.start()
        assert not done.wait(1.5), "the upgrade did not wait for the lock"
        assert schema_behind(database_url) is not None
    other.join(120)
    assert done.is_set() and errors == []
    assert schema_behind(database_url) is None
