"""Every step leaves a chained audit row; altering any row breaks verification there."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import GENESIS, AuditAction, deferred, record, verify
from foundations.database import transaction
from tests.conftest import disable_audit_protection


def _write(sessions: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with transaction(sessions) as session:
            record(
                session,
                AuditAction.RECEIVED,
                actor="test",
                incident_id=f"44-{i}",
                details={"revision": 1, "i": i},
            )


def test_rows_chain_from_genesis(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 3)
    with transaction(sessions) as session:
        result = verify(session)
        first = session.execute(text("SELECT prev_hash FROM audit_events WHERE seq = 1")).scalar()
    assert result.ok and result.rows == 3
    assert first == GENESIS


def test_an_empty_trail_verifies(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        assert verify(session).ok


@pytest.mark.parametrize(
    ("tamper", "broken_at"),
    [
        ("UPDATE audit_events SET actor = 'mallory' WHERE seq = 2", 2),
        ('UPDATE audit_events SET details = \'{"revision": 2, "i": 1}\' WHERE seq = 2', 2),
        ("DELETE FROM audit_events WHERE seq = 2", 2),
        (
            "UPDATE audit_events SET hash = replace(hash, substr(hash, 1, 8), 'deadbeef') "
            "WHERE seq = 4",
            4,
        ),
    ],
    ids=["actor changed", "details changed", "row deleted", "hash rewritten"],
)
def test_tampering_is_named_at_the_first_broken_row(
    sessions: sessionmaker[Session], tamper: str, broken_at: int
) -> None:
    _write(sessions, 5)
    with transaction(sessions) as session:
        disable_audit_protection(session)
        session.execute(text(tamper))
    with transaction(sessions) as session:
        result = verify(session)
    assert not result.ok
    assert result.first_broken_seq == broken_at


def test_many_rows_in_one_transaction_chain_and_a_rolled_back_savepoint_leaves_no_gap(
    sessions: sessionmaker[Session],
) -> None:
    """The tail is read once per transaction (issue 16): the rows a transaction appends
    follow one another, and rows a savepoint took back are not followed."""
    _write(sessions, 2)
    with transaction(sessions) as session:
        for i in range(3):
            record(session, AuditAction.MATCHED, actor="test", incident_id=f"45-{i}")
        try:
            with session.begin_nested():
                record(session, AuditAction.HELD, actor="test", incident_id="45-gone")
                raise RuntimeError("taken back")
        except RuntimeError:
            pass
        last = record(session, AuditAction.APPROVED, actor="test", incident_id="45-last")
    assert last.seq == 6
    with transaction(sessions) as session:
        result = verify(session)
        gone = session.execute(
            text("SELECT count(*) FROM audit_events WHERE incident_id = '45-gone'")
        ).scalar()
    assert result.ok and result.rows == 6
    assert gone == 0


def _chain_locked(session: Session) -> bool:
    """This transaction holds the chain's lock (PostgreSQL's advisory lock)."""
    return bool(
        session.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted"
            )
        ).scalar()
    )


def test_rows_deferred_to_the_end_of_a_block_chain_there_in_the_order_recorded(
    sessions: sessionmaker[Session],
) -> None:
    """An intake batch's rows (issue 16): chained together at the end of the block, so
    PostgreSQL's chain lock is taken there, not at the first row."""
    _write(sessions, 2)
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    with transaction(sessions) as session:
        with deferred(session):
            for i in range(3):
                record(session, AuditAction.RECEIVED, actor="test", incident_id=f"46-{i}")
            if postgres:
                assert not _chain_locked(session)
        if postgres:
            assert _chain_locked(session)
        after = record(session, AuditAction.APPROVED, actor="test", incident_id="46-after")
    assert after.seq == 6
    with transaction(sessions) as session:
        result = verify(session)
        order = session.execute(
            text("SELECT incident_id FROM audit_events WHERE seq > 2 ORDER BY seq")
        ).scalars()
        assert list(order) == ["46-0", "46-1", "46-2", "46-after"]
    assert result.ok and result.rows == 6


def test_a_deferred_block_that_raises_adds_none_of_its_rows(
    sessions: sessionmaker[Session],
) -> None:
    _write(sessions, 1)
    with transaction(sessions) as session:
        with pytest.raises(RuntimeError), deferred(session):
            record(session, AuditAction.RECEIVED, actor="test", incident_id="47-gone")
            raise RuntimeError("the batch failed")
        record(session, AuditAction.RECEIVED, actor="test", incident_id="47-kept")
    with transaction(sessions) as session:
        result = verify(session)
        ids = set(session.execute(text("SELECT incident_id FROM audit_events")).scalars())
    assert result.ok and result.rows == 2
    assert "47-gone" not in ids and "47-kept" in ids
