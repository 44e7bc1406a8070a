"""The Alembic migrations build exactly the schema the models describe, on both databases,
and the database itself refuses edits to the audit trail. Processes that start together
migrate one at a time (PostgreSQL's advisory lock, a file lock beside SQLite)."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import DatabaseError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from audit.ledger import AuditAction, record
from foundations.database import (
    _alembic_config,
    make_engine,
    migration_lock,
    schema_behind,
    session_factory,
    sqlalchemy_url,
    transaction,
    upgrade,
)
from foundations.models import metadata
from school_directory import imports
from school_directory.synthetic import write_directory


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


def _copy_a_pupil_refused(engine: Engine) -> int:
    """How many pupils the table holds, after a copy of one (all but its id) is refused."""
    with engine.begin() as connection:
        columns = [
            c["name"] for c in inspect(connection).get_columns("pupils") if c["name"] != "id"
        ]
        names = ", ".join(columns)
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(
                text(
                    f"INSERT INTO pupils ({names}) SELECT {names} FROM pupils WHERE id = "  # noqa: S608
                    "(SELECT min(id) FROM pupils)"
                )
            )
        return int(connection.scalar(text("SELECT count(*) FROM pupils")) or 0)


def test_the_pupils_unique_key_moves_to_a_named_index_with_the_rows_kept(
    database_url: str, tmp_path: Path
) -> None:
    """0024: one row per (UPN, URN), kept by a table constraint before it, by the unique
    index ``uq_pupils_upn_urn`` after it (the first roll drops and rebuilds it); the rows
    in the table stay, both ways."""
    files = write_directory(tmp_path / "synthetic", schools=5, pupils=40, seed=3)
    upgrade(database_url)
    engine = make_engine(database_url)
    with transaction(session_factory(engine)) as session:
        imports.import_schools(session, files.schools)
        pupils = imports.import_pupils(session, files.pupils).inserted
    engine.dispose()
    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    with engine.begin() as connection:
        unique = [ix["name"] for ix in inspect(connection).get_indexes("pupils") if ix["unique"]]
        assert unique == ["uq_pupils_upn_urn"]
        assert inspect(connection).get_unique_constraints("pupils") == []
    assert _copy_a_pupil_refused(engine) == pupils
    command.downgrade(_alembic_config(database_url), "0023")
    with engine.begin() as connection:
        constraints = inspect(connection).get_unique_constraints("pupils")
        assert [c["column_names"] for c in constraints] == [["upn", "urn"]]
    assert _copy_a_pupil_refused(engine) == pupils
    upgrade(database_url)
    assert _copy_a_pupil_refused(engine) == pupils
    engine.dispose()
