"""The Alembic migrations build exactly the schema the models describe, on both databases,
and the database itself refuses edits to the audit trail."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from foundations.database import transaction
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
