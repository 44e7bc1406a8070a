"""Issue 13, defect 3: one bad event must not stop a partition for good.

The schema gives every string the limit of the column it lands in (so what it accepts, the
database stores) and refuses the rest with a reason; an event whose processing keeps
failing for a reason that is not transient is dead-lettered with its reason after a
bounded number of attempts, and the next event on its partition is processed; a database
that is briefly away is waited for, and no good event is dead-lettered because of it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from sqlalchemy import String, create_engine, select, text
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from broker.app import EncompassService
from consumers import intake_batch
from consumers.intake import Refused, parse_incident, record_refusal
from consumers.intake_batch import IntakeBatches, describe, take_all
from consumers.pipeline import process_incident
from foundations.database import make_engine, session_factory, transaction, upgrade
from foundations.models import AuditEvent, Incident, Notification
from foundations.settings import Settings
from schemas import incident as schema
from schemas.incident import incident_json_schema
from tests.conftest import POSTGRES_ADMIN_URL, TEST_KEYRING, _postgres_database
from tests.factories import child, incident, isolated_settings
from tests.kafka_layer import KafkaLayer

# --- the schema: every string bounded, and bounded by its column -------------------------


def _strings_and_arrays(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") in ("string", "array"):
            yield where, node
        for key, value in node.items():
            yield from _strings_and_arrays(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings_and_arrays(value, f"{where}/{i}")


def test_every_string_and_list_of_the_schema_has_a_maximum() -> None:
    unbounded = [
        where
        for where, node in _strings_and_arrays(incident_json_schema())
        if not ({"enum", "const", "format"} & node.keys())  # fixed values, dates
        and ("maxLength" if node["type"] == "string" else "maxItems") not in node
    ]
    assert unbounded == []


COLUMNS = [
    ("incident_id", schema.ID_MAX, [Incident.incident_id, Notification.incident_id]),
    ("incident_id", schema.ID_MAX, [AuditEvent.incident_id]),
    ("person_id", schema.ID_MAX, [Notification.person_id]),
    ("force_code", schema.FORCE_CODE_MAX, [Incident.force_code]),
    ("classification", schema.CLASSIFICATION_MAX, [Incident.classification]),
]


@pytest.mark.parametrize(("field", "limit", "columns"), COLUMNS, ids=[c[0] for c in COLUMNS])
def test_the_schema_limits_fit_the_columns(field: str, limit: int, columns: list[Any]) -> None:
    for column in columns:
        assert isinstance(column.type, String) and column.type.length is not None
        assert limit <= column.type.length, f"{field} fits {column}"


def test_force_codes_have_room_beyond_two_digits() -> None:
    assert schema.FORCE_CODE_MAX >= 16


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``persons.2.address.lines.0`` = value, in a copy of the event."""
    data = json.loads(json.dumps(data))
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return data


# (field as located in the reason, its limit). Person 2 is the child "c1".
LIMITS = [
    ("incident_id", schema.ID_MAX),
    ("force_code", schema.FORCE_CODE_MAX),
    ("classification", schema.CLASSIFICATION_MAX),
    ("dash_risk", schema.CODE_MAX),
    ("crime_reference", schema.REFERENCE_MAX),
    ("location.lines.0", schema.LINE_MAX),
    ("location.postcode", schema.POSTCODE_MAX),
    ("summary", schema.TEXT_MAX),
    ("police_actions.0", schema.LINE_MAX),
    ("officer.collar_number", schema.CODE_MAX),
    ("officer.name", schema.NAME_MAX),
    ("persons.2.person_id", schema.ID_MAX),
    ("persons.2.given_names", schema.NAME_MAX),
    ("persons.2.family_name", schema.NAME_MAX),
    ("persons.2.known_as", schema.NAME_MAX),
    ("persons.2.gender", schema.CODE_MAX),
    ("persons.2.address.lines.0", schema.LINE_MAX),
    ("persons.2.address.postcode", schema.POSTCODE_MAX),
    ("persons.2.phone", schema.PHONE_MAX),
    ("persons.2.email", schema.EMAIL_MAX),
    ("persons.2.voice_of_child", schema.TEXT_MAX),
    ("persons.2.school_hint", schema.NAME_MAX),
]


@pytest.mark.parametrize(("field", "limit"), LIMITS, ids=[f for f, _ in LIMITS])
def test_a_value_over_its_limit_is_refused_with_a_reason(field: str, limit: int) -> None:
    assert parse_incident(json.dumps(_set(incident(), field, "x" * limit)).encode())
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(_set(incident(), field, "x" * (limit + 1))).encode())
    assert refused.value.reason == f"{field}: String should have at most {limit} characters"


def test_the_spec_example_is_within_every_limit() -> None:
    example = Path(__file__).parents[2] / "schemas" / "examples" / "incident_spec_example.json"
    assert parse_incident(example.read_bytes()).force_code == "44"


AMY = child("c", "Amy", "Doe", "2016-09-14")


def _many(path: str, count: int, item: Any) -> dict[str, Any]:
    return _set(incident(), path, [item] * count)


REFUSED = [
    ("NUL in an id", _set(incident(), "incident_id", "44-\x00"), "incident_id: Value error"),
    ("a line break in a name", _set(incident(), "persons.2.family_name", "Doe\nX"), "persons.2"),
    ("NUL in free text", _set(incident(), "summary", "a\x00b"), "summary: Value error"),
    ("a C1 control", _set(incident(), "force_code", "4\x854"), "force_code: Value error"),
    ("revision beyond INTEGER", incident(revision=2**31), "revision: Input should be less"),
    ("an instant in year 1", incident(occurred_at="0001-01-01T00:00:00+01:00"), "occurred_at"),
    ("an instant in 9999", incident(reported_at="9999-12-31T23:00:00-05:00"), "reported_at"),
    ("a birth in year 1", _set(incident(), "persons.2.date_of_birth", "0001-01-01"), "persons.2"),
    ("too many persons", _many("persons", schema.PERSONS_MAX + 1, AMY), "persons: List should"),
    ("too many actions", _many("police_actions", schema.POLICE_ACTIONS_MAX + 1, "x"), "police"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "data", "reason"), REFUSED, ids=[c[0] for c in REFUSED])
def test_what_no_column_could_hold_is_refused(case: str, data: Any, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(data).encode())
    assert refused.value.reason.startswith(reason)


def test_free_text_keeps_its_line_breaks_and_tabs() -> None:
    text_with_breaks = "Line one.\r\n\tLine two."
    parsed = parse_incident(json.dumps(incident(summary=text_with_breaks)).encode())
    assert parsed.summary == text_with_breaks


BYTES_REFUSED = [
    ("a lone surrogate in a field of a later version", b'"extra": "\\ud800"', "not text"),
    ("JSON nested too deeply", b'"extra": ' + b"[" * 100_000 + b"]" * 100_000, "nested too"),
    ("an integer of 5000 digits", b'"extra": ' + b"9" * 5000, "not JSON this broker reads"),
]


@pytest.mark.parametrize(
    ("case", "extra", "reason"), BYTES_REFUSED, ids=[c[0] for c in BYTES_REFUSED]
)
def test_bytes_json_reads_but_nothing_could_store_are_refused(
    case: str, extra: bytes, reason: str
) -> None:
    raw = json.dumps(incident()).encode()[:-1] + b", " + extra + b"}"
    with pytest.raises(Refused) as refused:
        parse_incident(raw)
    assert reason in refused.value.reason and len(refused.value.reason) < 300


def test_a_wrong_schema_value_is_quoted_cut_short() -> None:
    with pytest.raises(Refused) as refused:
        parse_incident(json.dumps(incident(schema="x" * 100_000)).encode())
    assert len(refused.value.reason) < 120


# --- the database stores whatever the schema accepts ------------------------------------


def at_every_limit() -> dict[str, Any]:
    """Every string at its maximum, the most persons, the highest revision."""
    data = incident(revision=schema.REVISION_MAX)
    for field, limit in LIMITS:
        if not field.startswith("persons."):
            data = _set(data, field, "x" * limit)
    data = _set(data, "classification", "domestic_abuse")  # in scope: children matched
    data = _set(data, "police_actions", ["y" * schema.LINE_MAX] * schema.POLICE_ACTIONS_MAX)
    data = _set(data, "location.lines", ["z" * schema.LINE_MAX] * schema.ADDRESS_LINES_MAX)
    name, code = "é" * schema.NAME_MAX, "é" * schema.CODE_MAX  # two bytes in UTF-8
    address = {"lines": ["é" * schema.LINE_MAX] * schema.ADDRESS_LINES_MAX, "postcode": "é" * 16}
    persons = [
        child(f"{n:03d}".ljust(schema.ID_MAX, "p"), name, name, "2016-09-14")
        | {"known_as": name, "school_hint": name, "gender": code, "address": address}
        | {"phone": "é" * schema.PHONE_MAX, "email": "é" * schema.EMAIL_MAX}
        | {"voice_of_child": "é" * schema.TEXT_MAX}
        for n in range(schema.PERSONS_MAX)
    ]
    return data | {"persons": persons}


def test_an_incident_at_every_limit_is_recorded(sessions: sessionmaker[Session]) -> None:
    parsed = parse_incident(json.dumps(at_every_limit()).encode())
    source = "t" * 249 + f"/{2**31 - 1}/{2**63 - 1}"  # the longest topic, partition, offset
    with transaction(sessions) as session:
        [taken] = take_all(session, Settings(), [(parsed, source)], [])
    assert taken.outcome == "accepted" and len(taken.matches) == schema.PERSONS_MAX
    with transaction(sessions) as session:
        row = session.execute(select(Incident)).scalar_one()
        assert len(row.force_code) == schema.FORCE_CODE_MAX and row.source == source
        stored = session.execute(select(Notification.person_id)).scalars().all()
    assert len(stored) == schema.PERSONS_MAX and {len(p) for p in stored} == {schema.ID_MAX}


def test_a_refused_event_with_a_key_no_column_holds_is_still_audited(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        record_refusal(session, "not JSON", "t/0/0", "k\x00" + "k" * 1000)
        record_refusal(session, "not JSON", "t/0/1", "44-20261121-000123")
    with transaction(sessions) as session:
        rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    assert [r.incident_id for r in rows] == [None, "44-20261121-000123"]
    assert rows[0].details["key"] == "not an incident id (1002 characters)"


# --- a failure in our own code: dead-lettered, and its reason names no one ----------------


async def test_a_failure_in_our_code_is_dead_lettered_without_personal_data(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = process_incident

    def broken(session: Session, settings: Settings, parsed: Any, source: str) -> Any:
        if parsed.incident_id == "44-BUG":
            raise KeyError(parsed.children[0].given_names)  # a bug that quotes a name
        return real(session, settings, parsed, source)

    monkeypatch.setattr(intake_batch, "process_incident", broken)
    parked: list[tuple[bytes, str]] = []

    async def dead_letter(value: bytes, key: bytes | None, reason: str, source: str) -> None:
        parked.append((value, reason))

    async def no_wait(_seconds: float) -> None:
        pass

    settings = isolated_settings(intake_max_attempts=2)
    batches = IntakeBatches(settings, sessions, dead_letter, sleep=no_wait)
    bug, good = (json.dumps(incident(incident_id=i)).encode() for i in ("44-BUG", "44-GOOD"))
    with structlog.testing.capture_logs() as logs:
        outcome = await batches.take_batch((_record(0, bug), _record(1, good)))
    assert [t.incident_id for t in outcome.taken] == ["44-GOOD"]
    [(value, reason)] = parked
    assert value == bug
    assert reason.startswith("processing failed 2 times: KeyError at tests/security/")
    with transaction(sessions) as session:
        [row] = session.execute(
            select(AuditEvent).where(AuditEvent.action == "dead_lettered")
        ).scalars()
    assert row.incident_id == "44-BUG" and row.details["attempts"] == 2
    for where in (reason, json.dumps(row.details), json.dumps(logs, default=str)):
        assert "Amy" not in where


def _record(offset: int, value: bytes) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        "police.incidents.v1", 0, offset, 0, 0, b"k", value, None, 1, len(value), ()
    )


# --- a database briefly away: waited for, never dead-lettered -----------------------------


def _allow_connections(database: str, allow: bool) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allow).lower()}'))
        if not allow:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :d AND pid <> pg_backend_pid()"
                ),
                {"d": database},
            )
    admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()


async def test_with_the_database_away_nothing_is_dead_lettered_not_even_refusals(
    postgres_url: str,
) -> None:
    """Refusals are dead-lettered only once recorded: a database outage does not send the
    same refused event to the dead-letter topic on every retry."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url, TEST_KEYRING)
    parked: list[str] = []

    async def dead_letter(value: bytes, key: bytes | None, reason: str, source: str) -> None:
        parked.append(reason)

    settings = isolated_settings(intake_max_attempts=1)
    batches = IntakeBatches(settings, session_factory(engine), dead_letter)
    records = (_record(0, b"{not json"), _record(1, json.dumps(incident()).encode()))
    database = postgres_url.rsplit("/", 1)[1]
    _allow_connections(database, False)
    try:
        for _ in range(3):  # the subscriber's retries
            with pytest.raises(Exception):  # noqa: B017 (whichever the driver raises)
                await batches.take_batch(records)
    finally:
        _allow_connections(database, True)
    assert parked == []
    outcome = await batches.take_batch(records)
    assert [t.incident_id for t in outcome.taken] == ["44-20261121-000123"]
    assert len(parked) == 1 and parked[0].startswith("not JSON")
    engine.dispose()


# --- on Kafka (in memory and the broker process) and PostgreSQL: the partition moves on ---

KEY = b"44-20261121-000123"  # one key: one partition, the poison first


async def _send(bootstrap: str, topic: str, *values: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=KEY)
    finally:
        await producer.stop()


async def _read(bootstrap: str, topic: str, idle_s: float = 2.0) -> list[Any]:
    """Every record on ``topic`` (none more arriving for ``idle_s``)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[Any] = []
    try:
        while batch := await consumer.getmany(timeout_ms=int(idle_s * 1000)):
            for records in batch.values():
                found.extend(records)
    finally:
        await consumer.stop()
    return found


def _reason(record: Any) -> str:
    return str(dict(record.headers)["x-error"].decode())


def _settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    return isolated_settings(
        data_dir=tmp_path, database_url=database_url, console_enabled=False, **overrides
    )


@pytest.fixture
async def started() -> AsyncIterator[list[EncompassService]]:
    services: list[EncompassService] = []
    yield services
    for service in services:
        await service.stop()


async def _start(services: list[EncompassService], settings: Settings, bootstrap: str) -> Any:
    service = EncompassService(settings, bootstrap=bootstrap)
    await service.start()
    services.append(service)
    return service


async def _wait_for(sessions: sessionmaker[Session], incident_id: str, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            with transaction(sessions) as session:
                query = select(Incident.id).where(Incident.incident_id == incident_id)
                if session.execute(query).all():
                    return
            await asyncio.sleep(0.2)


def _actions(sessions: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with transaction(sessions) as session:
        query = select(AuditEvent.action, AuditEvent.incident_id).order_by(AuditEvent.seq)
        return [(a, i) for a, i in session.execute(query).all()]


async def test_an_event_over_a_limit_is_dead_lettered_and_the_next_one_recorded(
    tmp_path: Path, kafka_layer: KafkaLayer, postgres_url: str
) -> None:
    settings = _settings(tmp_path, postgres_url)
    poison = json.dumps(incident(incident_id="44-POISON", force_code="4" * 17)).encode()
    async with kafka_layer.running(settings) as service:
        await kafka_layer.publish(
            settings.incidents_topic, poison, json.dumps(incident()).encode(), key=KEY
        )
        await _wait_for(service.sessions, "44-20261121-000123", timeout=30)
        [parked] = await kafka_layer.published(settings.dlq_topic, 1)
        assert parked.value == poison and parked.key == KEY
        assert parked.headers["x-error"] == "force_code: String should have at most 16 characters"
        assert "x-error-at" in parked.headers
        assert _actions(service.sessions)[:2] == [
            ("refused", "44-20261121-000123"),
            ("received", "44-20261121-000123"),
        ]


async def _committed(reader: AIOKafkaConsumer, settings: Settings) -> int:
    """The group's committed offsets, summed over the topic's partitions."""
    topic = settings.incidents_topic
    partitions = range(settings.topic_partitions)
    offsets = [await reader.committed(TopicPartition(topic, p)) for p in partitions]
    return sum(o for o in offsets if o is not None and o > 0)


@pytest.mark.kafka
@pytest.mark.slow
async def test_an_event_the_database_keeps_refusing_is_dead_lettered_after_bounded_attempts(
    tmp_path: Path,
    kafka_bootstrap: str,
    postgres_url: str,
    started: list[EncompassService],
) -> None:
    """The issue's case: the column held 8 characters and the event had 9. With the
    column as it was before migration 0014, the event is tried three times, dead-lettered
    with the database's reason, and the valid event behind it is recorded; the offsets are
    committed only once the poison is on the dead-letter topic."""
    settings = _settings(tmp_path, postgres_url, intake_max_attempts=3, intake_retry_backoff_s=0.3)
    service = await _start(started, settings, kafka_bootstrap)
    with transaction(service.sessions) as session:
        session.execute(text("ALTER TABLE incidents ALTER COLUMN force_code TYPE varchar(8)"))
    poison = json.dumps(incident(incident_id="44-POISON", force_code="123456789")).encode()
    # Reads the intake group's commits; never joins the group.
    reader = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=settings.consumer_group)
    await reader.start()
    try:
        await _send(
            kafka_bootstrap, settings.incidents_topic, poison, json.dumps(incident()).encode()
        )
        async with asyncio.timeout(60):
            while not await _committed(reader, settings):
                await asyncio.sleep(0.1)
        # Committed past the poison: it is already on the dead-letter topic.
        [parked] = await _read(kafka_bootstrap, settings.dlq_topic, idle_s=1.0)
        await _wait_for(service.sessions, "44-20261121-000123", timeout=30)
        async with asyncio.timeout(30):
            while await _committed(reader, settings) < 2:
                await asyncio.sleep(0.1)
    finally:
        await reader.stop()
    assert parked.value == poison
    # Where the refused INSERT was flushed: the intake's batch (consumers/) or, since one
    # flush per batch (issue 16), the audit chain's read that flushes it first (audit/).
    assert re.fullmatch(
        r"processing failed 3 times: DataError \(StringDataRightTruncation\): value too long "
        r"for type character varying\(8\) \(SQLSTATE 22001\) at (consumers|audit)/\w+\.py:\d+",
        _reason(parked),
    )
    actions = _actions(service.sessions)
    assert actions.count(("dead_lettered", "44-POISON")) == 1
    assert actions.count(("received", "44-20261121-000123")) == 1
    assert ("received", "44-POISON") not in actions


@pytest.mark.kafka
@pytest.mark.slow
async def test_a_good_event_is_never_dead_lettered_because_the_database_was_away(
    tmp_path: Path,
    kafka_bootstrap: str,
    postgres_url: str,
    started: list[EncompassService],
) -> None:
    settings = _settings(tmp_path, postgres_url, intake_max_attempts=2, intake_retry_backoff_s=0.1)
    service = await _start(started, settings, kafka_bootstrap)
    database = postgres_url.rsplit("/", 1)[1]
    _allow_connections(database, False)
    try:
        await _send(kafka_bootstrap, settings.incidents_topic, json.dumps(incident()).encode())
        await asyncio.sleep(4)  # many times the two attempts' time: still not given up
    finally:
        _allow_connections(database, True)
    await _wait_for(service.sessions, "44-20261121-000123", timeout=60)
    assert await _read(kafka_bootstrap, settings.dlq_topic, idle_s=1.0) == []
    assert "dead_lettered" not in [a for a, _ in _actions(service.sessions)]


def test_a_database_error_is_described_without_the_values_of_its_statement() -> None:
    statement, values = "INSERT INTO incidents (payload) VALUES (%(p)s)", {"p": "Amy Doe"}
    try:
        raise DataError(statement, values, ValueError("value too long"))
    except DataError as exc:
        assert "Amy Doe" in str(exc)  # SQLAlchemy's own message lists them
        reason = describe(exc)
    assert reason.startswith("DataError (ValueError) at ") and "Amy" not in reason
