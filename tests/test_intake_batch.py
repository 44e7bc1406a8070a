"""Intake's batches (consumers/intake_batch.py): one transaction per batch; after a failed
batch, one by one, so that the good events are recorded once and the bad one is
dead-lettered with its reason after a bounded number of attempts; a database that is
only busy is waited for, never blamed on the event. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditEvent
from broker.database import make_engine, session_factory, transaction, upgrade
from broker.store import Incident
from consumers.intake_batch import IntakeBatches
from tests.conftest import TEST_KEYRING
from tests.factories import incident, isolated_settings

TOPIC = "police.incidents.v1"


def record(offset: int, value: bytes, key: bytes | None = b"k") -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=TOPIC,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=(),
    )


def event_bytes(incident_id: str, **changes: Any) -> bytes:
    return json.dumps(incident(incident_id=incident_id, **changes)).encode()


class DeadLetters(list[tuple[bytes, bytes | None, str, str]]):
    async def __call__(self, value: bytes, key: bytes | None, reason: str, source: str) -> None:
        self.append((value, key, reason, source))


class Waits(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def stage(
    sessions: sessionmaker[Session], **settings: Any
) -> tuple[IntakeBatches, DeadLetters, Waits]:
    dead, waits = DeadLetters(), Waits()
    values = {"intake_max_attempts": 3, "intake_retry_backoff_s": 0.5} | settings
    batches = IntakeBatches(isolated_settings(**values), sessions, dead, sleep=waits)
    return batches, dead, waits


def refuse_in_the_database(sessions: sessionmaker[Session], incident_id: str) -> None:
    """A rule the database holds and the schema does not know: the insert is refused."""
    with transaction(sessions) as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON incidents "
                    f"WHEN NEW.incident_id = '{incident_id}' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by a rule of the database'); END"
                )
            )
        else:
            session.execute(
                text(
                    "ALTER TABLE incidents ADD CONSTRAINT refuse_one "
                    f"CHECK (incident_id <> '{incident_id}')"
                )
            )


def recorded(sessions: sessionmaker[Session]) -> list[str]:
    with transaction(sessions) as session:
        return list(session.execute(select(Incident.incident_id).order_by(Incident.id)).scalars())


def audited(sessions: sessionmaker[Session], action: str) -> list[AuditEvent]:
    with transaction(sessions) as session:
        return list(
            session.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            ).scalars()
        )


async def test_a_batch_that_fails_is_taken_one_by_one_and_the_bad_event_dead_lettered(
    sessions: sessionmaker[Session],
) -> None:
    refuse_in_the_database(sessions, "44-POISON")
    batches, dead, waits = stage(sessions)
    records = (
        record(10, event_bytes("44-GOOD-1")),
        record(11, b"{not json"),
        record(12, event_bytes("44-POISON")),
        record(13, event_bytes("44-GOOD-2")),
    )
    outcome = await batches.take_batch(records)

    # The good ones are recorded, once each, in order.
    assert [t.incident_id for t in outcome.taken] == ["44-GOOD-1", "44-GOOD-2"]
    assert recorded(sessions) == ["44-GOOD-1", "44-GOOD-2"]
    assert [e.incident_id for e in audited(sessions, "received")] == ["44-GOOD-1", "44-GOOD-2"]
    # The refused one and the one the database refuses are on the dead-letter topic, as
    # they came, with their reasons; the latter after three attempts, waiting 0.5 s, 1 s.
    assert [(v, s) for v, _, _, s in dead] == [
        (b"{not json", f"{TOPIC}/0/11"),
        (event_bytes("44-POISON"), f"{TOPIC}/0/12"),
    ]
    assert dead[0][2].startswith("not JSON")
    reason = dead[1][2]
    assert reason.startswith("processing failed 3 times: ") and "IntegrityError" in reason
    assert waits == [0.5, 1.0]
    assert (outcome.refused, outcome.dead_lettered) == (1, 1)
    # Both are in the audit trail, with their reasons.
    [refused] = audited(sessions, "refused")
    assert refused.details["source"] == f"{TOPIC}/0/11"
    [parked] = audited(sessions, "dead_lettered")
    assert parked.incident_id == "44-POISON"
    assert parked.details == {"reason": reason, "source": f"{TOPIC}/0/12", "attempts": 3}


async def test_a_batch_that_succeeds_dead_letters_its_refused_events_after_recording(
    sessions: sessionmaker[Session],
) -> None:
    batches, dead, waits = stage(sessions)
    outcome = await batches.take_batch((record(0, b"[1, 2]"), record(1, event_bytes("44-GOOD-1"))))
    assert [t.incident_id for t in outcome.taken] == ["44-GOOD-1"]
    [(_, _, reason, _)] = dead
    assert reason == "not a police.incident/1 event: the JSON is not an object"
    assert waits == [] and len(audited(sessions, "refused")) == 1


async def test_a_batch_of_one_counts_its_first_attempt(sessions: sessionmaker[Session]) -> None:
    refuse_in_the_database(sessions, "44-POISON")
    batches, dead, waits = stage(sessions, intake_max_attempts=2)
    outcome = await batches.take_batch((record(0, event_bytes("44-POISON")),))
    assert outcome.dead_lettered == 1 and waits == [0.5]
    assert dead[0][2].startswith("processing failed 2 times: ")


async def test_one_attempt_dead_letters_at_the_first_failure(
    sessions: sessionmaker[Session],
) -> None:
    refuse_in_the_database(sessions, "44-POISON")
    batches, dead, waits = stage(sessions, intake_max_attempts=1)
    await batches.take_batch((record(0, event_bytes("44-POISON")),))
    assert waits == [] and dead[0][2].startswith("processing failed 1 times: ")


async def test_the_waits_double_and_are_capped(sessions: sessionmaker[Session]) -> None:
    batches, _, _ = stage(sessions, intake_max_attempts=10, intake_retry_backoff_s=10)
    assert [batches.wait_before(n) for n in range(2, 6)] == [10, 20, 30, 30]


async def test_a_locked_sqlite_database_is_waited_for_and_never_blamed_on_the_event(
    tmp_path: Path,
) -> None:
    """SQLite's "database is locked" (a reviewer's long transaction) comes while the
    database answers SELECT 1: it is transient by its kind, so the batch is rewound."""
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(url)
    engine = make_engine(url, TEST_KEYRING)

    @event.listens_for(engine, "connect")
    def _short_wait(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=100")

    sessions = session_factory(engine)
    batches, dead, waits = stage(sessions, intake_max_attempts=1)
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            await batches.take_batch((record(0, event_bytes("44-GOOD-1")),))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert dead == [] and waits == []
    outcome = await batches.take_batch((record(0, event_bytes("44-GOOD-1")),))  # replayed
    assert [t.incident_id for t in outcome.taken] == ["44-GOOD-1"]
    with transaction(sessions) as session:
        assert session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() > 0
        assert not session.execute(
            select(AuditEvent).where(AuditEvent.action == "dead_lettered")
        ).first()
    engine.dispose()
