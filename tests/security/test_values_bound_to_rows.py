"""Issue 13, item 10: every encrypted value is bound by AES-GCM associated data to its table,
column and row (``enc2``), so a ciphertext copied to another row or column does not
decrypt there: it is refused with a clear error, and never read as the other value. Values
from before (``enc1``, bound to no row) are read until `encompass keys rotate` has rewritten
them all, and refused from then on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import alembic.command
import pytest
from alembic.config import Config
from cryptography.exceptions import InvalidTag
from sqlalchemy import Text, cast, insert, literal, select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.crypto import (
    Encrypted,
    KeyError_,
    Keyring,
    NotThisRow,
    UnboundRefused,
    UnboundWrite,
    associated_data,
    identity_of,
    keyring_from_material,
)
from foundations.database import (
    MIGRATIONS_DIR,
    engine_for,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from foundations.identity import CANARY_PLAINTEXT, _context, plaintext_left, unbound_left
from foundations.key_material import parse_key_spec
from foundations.keys import encrypted_columns, open_stored
from foundations.models import DatabaseIdentity, Incident, Notification, Pupil, metadata
from foundations.settings import Settings
from school_directory import imports
from school_directory.blocking import candidates
from school_directory.matching import PupilRow, child_record
from tests.factories import (
    AMY_UPN,
    DUAL_UPN,
    TEST_DATA_KEY,
    TWIN_A_UPN,
    default_pupils,
    import_directory,
    incident,
    write_directory,
)

ROOT = Path(__file__).resolve().parents[2]
SECOND_KEY = "t2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="  # 32 bytes of 0x02


@pytest.fixture
def directory(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A migrated database (SQLite or PostgreSQL) holding the test directory and the SPEC's
    example incident, written as the service writes them."""
    settings = Settings(data_dir=tmp_path, database_url=database_url, data_key=TEST_DATA_KEY)
    upgrade(database_url)
    engine = engine_for(settings)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        import_directory(session, write_directory(tmp_path / "directory"))
    receive_example(sessions)
    engine.dispose()
    yield settings


def receive_example(sessions: sessionmaker[Session], **changes: object) -> None:
    event = parse_incident(json.dumps(incident(**changes)).encode())
    with transaction(sessions) as session:
        process_incident(session, Settings(), event, "test")


def read(settings: Settings, query: object) -> list[object]:
    engine = engine_for(settings)
    try:
        with transaction(session_factory(engine)) as session:
            return list(session.execute(query).scalars())  # type: ignore[call-overload]
    finally:
        engine.dispose()


def raw(url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    """What someone with write access to the database, but not the key, can do."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def copy_value(url: str, table: str, column: str, *, source: str, target: str) -> None:
    """Copy the stored text of ``column`` from the row matching ``source`` to the row
    matching ``target`` (each a WHERE clause), as someone with write access could."""
    ((value,),) = raw(url, f'SELECT "{column}" FROM {table} WHERE {source}')  # noqa: S608
    raw(url, f'UPDATE {table} SET "{column}" = :value WHERE {target}', value=value)  # noqa: S608


def pupil(upn: str, urn: str = "100001") -> str:
    return f"upn = '{upn}' AND urn = '{urn}'"


def family_name(settings: Settings, where_upn: str, urn: str = "100001") -> object:
    query = select(Pupil.family_name).where(Pupil.upn == where_upn, Pupil.urn == urn)
    return read(settings, query)[0]


# --- a ciphertext moved from one row or column to another ------------------------------------


def test_a_sealed_value_opens_only_for_the_table_column_and_row_it_was_sealed_for() -> None:
    keyring = keyring_from_material(parse_key_spec(TEST_DATA_KEY))
    amy = associated_data("pupils", "family_name", (AMY_UPN, "100001"))
    sealed = keyring.seal(b"Doe", amy)
    assert sealed.startswith("enc2.t1.") and "Doe" not in sealed
    assert keyring.unseal(sealed, amy) == b"Doe"
    for elsewhere in (
        associated_data("pupils", "family_name", (TWIN_A_UPN, "100001")),  # another pupil
        associated_data("pupils", "family_name", (AMY_UPN, "100002")),  # another school
        associated_data("pupils", "given_names", (AMY_UPN, "100001")),  # another column
        associated_data("incidents", "family_name", (AMY_UPN, "100001")),  # another table
    ):
        with pytest.raises(InvalidTag):
            keyring.unseal(sealed, elsewhere)
    with pytest.raises(KeyError_, match="not an enc1 value"):
        keyring.decrypt(sealed)  # nor read as a value bound to no row


def test_a_name_copied_from_one_pupils_row_to_anothers_is_refused_not_read(
    directory: Settings,
) -> None:
    url = directory.resolved_database_url
    assert family_name(directory, AMY_UPN) == "Doe"
    assert family_name(directory, TWIN_A_UPN) == "Twin"
    copy_value(url, "pupils", "family_name", source=pupil(AMY_UPN), target=pupil(TWIN_A_UPN))
    with pytest.raises(NotThisRow, match=r"pupils\.family_name does not decrypt for its row"):
        family_name(directory, TWIN_A_UPN)
    # ... whichever way it is read: the ORM's objects too
    with pytest.raises(NotThisRow):
        read(directory, select(Pupil).where(Pupil.upn == TWIN_A_UPN))
    assert family_name(directory, AMY_UPN) == "Doe"  # the row it came from is untouched


def test_the_same_pupil_at_another_school_is_another_row(directory: Settings) -> None:
    """A dual-registered child: one UPN, two schools, two rows. A school's row is bound
    to that school: its details cannot be copied to the other school's row."""
    url = directory.resolved_database_url
    copy_value(
        url, "pupils", "match_record",
        source=pupil(DUAL_UPN, "100001"), target=pupil(DUAL_UPN, "100002"),
    )  # fmt: skip
    with pytest.raises(NotThisRow, match=r"pupils\.match_record"):
        read(directory, select(Pupil.match_record).where(Pupil.urn == "100002"))


def test_a_pupils_whole_record_moved_to_another_row_is_refused(directory: Settings) -> None:
    """Every encrypted value and blind index of one pupil copied onto another's UPN and
    school: the values are bound to the UPN and school they were written for, so the
    matcher cannot be made to find one child under another's school."""
    url = directory.resolved_database_url
    columns = [c.name for c in Pupil.__table__.columns if c.name not in ("id", "upn", "urn")]
    for column in columns:
        copy_value(url, "pupils", column, source=pupil(AMY_UPN), target=pupil(TWIN_A_UPN))
    child = child_record("Amy Louise", "Doe", date_of_birth=date(2016, 9, 14))
    engine = engine_for(directory)
    try:
        with transaction(session_factory(engine)) as session, pytest.raises(NotThisRow):
            candidates(session, child)
    finally:
        engine.dispose()


def test_a_value_copied_to_another_column_of_the_same_row_is_refused(
    directory: Settings,
) -> None:
    url = directory.resolved_database_url
    copy_value(url, "pupils", "given_names", source=pupil(AMY_UPN), target=pupil(AMY_UPN))
    raw(
        url,
        f"UPDATE pupils SET family_name = given_names WHERE {pupil(AMY_UPN)}",  # noqa: S608
    )
    with pytest.raises(NotThisRow, match=r"pupils\.family_name"):
        family_name(directory, AMY_UPN)


def test_a_police_record_or_a_notification_moved_to_another_is_refused(
    directory: Settings,
) -> None:
    url = directory.resolved_database_url
    engine = engine_for(directory)
    receive_example(session_factory(engine), incident_id="INC-OTHER-1")
    engine.dispose()
    ids = raw(url, "SELECT id, incident_id FROM notifications ORDER BY incident_id")
    (first, _), (second, _) = ids
    copy_value(url, "notifications", "content", source=f"id = '{first}'", target=f"id = '{second}'")
    with pytest.raises(NotThisRow, match=r"notifications\.content"):
        read(directory, select(Notification).where(Notification.id == second))
    # Another revision of the same incident is another row too.
    revisions = raw(url, "SELECT incident_id, revision FROM incidents")
    assert len(revisions) == 2
    raw(url, "UPDATE incidents SET revision = revision + 1 WHERE incident_id = 'INC-OTHER-1'")
    with pytest.raises(NotThisRow, match=r"incidents\.payload"):
        read(directory, select(Incident.payload).where(Incident.incident_id == "INC-OTHER-1"))


def test_every_encrypted_column_names_the_row_it_is_bound_to() -> None:
    found = encrypted_columns(metadata)
    assert {t.name for t in found} >= {"pupils", "incidents", "notifications"}
    for table, columns in found.items():
        identity = identity_of(table)
        for name in identity:  # a row's name is never empty, or its values would vanish
            assert not table.c[name].nullable, f"{table.name}.{name}"
        for name in columns:
            assert isinstance(table.c[name].type, Encrypted)


def test_a_value_written_without_its_row_is_refused(sessions: sessionmaker[Session]) -> None:
    """A Core INSERT that bypasses the binding (foundations.crypto.write_rows) writes nothing."""
    row = {"upn": AMY_UPN, "urn": "100001", "given_names": "Amy", "family_name": "Doe"}
    with pytest.raises(StatementError) as refused, transaction(sessions) as session:
        session.execute(insert(Pupil), [row])
    assert isinstance(refused.value.orig, UnboundWrite)
    assert "pupils.given_names is written without its row" in str(refused.value.orig)


# --- enc1, from before the binding: read until rotation, refused after -----------------------


def written_before_binding(url: str, keyring: Keyring) -> str:
    """Rewrite every value as a database from before migration 0017 holds it (``enc1``,
    bound to no row) and take it back to 0016. Returns one pupil's old stored name."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for table, columns in encrypted_columns(metadata).items():
            pk = next(iter(table.primary_key.columns))
            identity = [table.c[name] for name in identity_of(table)]
            for name in columns:
                stored = cast(table.c[name], Text())
                query = select(pk, stored, *identity).where(stored.is_not(None))
                for key, value, *row in conn.execute(query).all():
                    old = keyring.encrypt(open_stored(keyring, table, name, row, value))
                    conn.execute(
                        update(table).where(pk == key).values({name: literal(old, Text())})
                    )
        (database_id, canary) = conn.execute(
            select(DatabaseIdentity.database_id, DatabaseIdentity.key_canary)
        ).one()
        if canary is not None:  # the canary as it was written then
            old = keyring.encrypt(CANARY_PLAINTEXT, _context(database_id))
            conn.execute(update(DatabaseIdentity).values(key_canary=old))
        (amy,) = conn.execute(
            select(cast(Pupil.family_name, Text())).where(Pupil.upn == AMY_UPN)
        ).one()
    engine.dispose()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    alembic.command.downgrade(config, "0016")
    return str(amy)


def encompass(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        env=clean | {"PYTHONPATH": str(ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def unbound_refused(url: str) -> bool:
    return bool(raw(url, "SELECT unbound_refused FROM database_identity")[0][0])


def amy_found(settings: Settings) -> list[PupilRow]:
    """The matcher's candidate rows for Amy (their match records opened together)."""
    child = child_record("Amy Louise", "Doe", known_as="Amy", date_of_birth=date(2016, 9, 14))
    engine = engine_for(settings)
    try:
        with transaction(session_factory(engine)) as session:
            return candidates(session, child)
    finally:
        engine.dispose()


def test_a_new_database_refuses_unbound_values_from_the_start(directory: Settings) -> None:
    url = directory.resolved_database_url
    assert unbound_refused(url)
    keyring = keyring_from_material(parse_key_spec(TEST_DATA_KEY))
    old = keyring.encrypt(b"Forged")  # a value encrypted with the key, bound to no row
    raw(url, f"UPDATE pupils SET family_name = :old WHERE {pupil(AMY_UPN)}", old=old)  # noqa: S608
    with pytest.raises(UnboundRefused, match=r"pupils\.family_name is encrypted without its row"):
        family_name(directory, AMY_UPN)
    # the matcher, which opens a lookup's match records together, refuses one as well
    old = keyring.encrypt(b'["Amy Louise", "Doe"]')
    raw(url, f"UPDATE pupils SET match_record = :old WHERE {pupil(AMY_UPN)}", old=old)  # noqa: S608
    with pytest.raises(UnboundRefused, match=r"pupils\.match_record is encrypted without its row"):
        amy_found(directory)


def test_unbound_values_are_read_until_rotation_binds_them_and_refused_after(
    directory: Settings,
) -> None:
    url = directory.resolved_database_url
    keyring = keyring_from_material(parse_key_spec(TEST_DATA_KEY))
    amy_then = written_before_binding(url, keyring)
    assert amy_then.startswith("enc1.t1.")
    upgrade(url)  # 0017 finds enc1 values: they are still read
    assert not unbound_refused(url)
    assert family_name(directory, AMY_UPN) == "Doe"
    assert AMY_UPN in [p.upn for p in amy_found(directory)]  # the matcher reads them too
    assert sorted(read(directory, select(Notification.urn))) == ["100001"]

    # A new key is added (ENCOMPASS_DATA_KEY, newest last), then every value rewritten.
    both = f"{TEST_DATA_KEY},{SECOND_KEY}"
    rotated = Settings(data_dir=directory.data_dir, database_url=url, data_key=both)
    env = {
        "ENCOMPASS_DATA_DIR": str(rotated.data_dir),
        "ENCOMPASS_DATABASE_URL": url,
        "ENCOMPASS_DATA_KEY": both,
    }
    done = encompass(env, "keys", "rotate")
    assert done.returncode == 0, done.stderr
    assert "were bound to none)" in done.stdout
    assert "every value is bound to its table, column and row" in done.stdout
    engine = make_engine(url)
    assert unbound_left(engine) == [] and plaintext_left(engine) == []
    engine.dispose()
    assert unbound_refused(url)
    for table, columns in encrypted_columns(metadata).items():
        for name in columns:
            for (value,) in raw(url, f'SELECT "{name}" FROM {table.name}'):  # noqa: S608
                assert value is None or str(value).startswith("enc2.t2."), (table.name, name)

    # Everything still reads, and the matcher still finds the child by its blind indexes.
    assert family_name(rotated, AMY_UPN) == "Doe"
    assert [(p.upn, p.urn, p.family_name) for p in amy_found(rotated) if p.upn == AMY_UPN] == [
        (AMY_UPN, "100001", "Doe")
    ]

    # The old unbound value, put back from a copy taken before: refused.
    raw(url, f"UPDATE pupils SET family_name = :old WHERE {pupil(AMY_UPN)}", old=amy_then)  # noqa: S608
    with pytest.raises(UnboundRefused):
        family_name(rotated, AMY_UPN)


def test_a_pupil_changed_by_a_new_import_is_sealed_for_its_row_again(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The import writes changed pupils by a bulk UPDATE: their new values are bound to
    their row too, and read back."""
    with transaction(sessions) as session:
        import_directory(session, write_directory(tmp_path / "first"))
    pupils = default_pupils()
    pupils[0]["family_name"] = "Doe-Smith"
    with transaction(sessions) as session:
        report = imports.import_pupils(
            session, write_directory(tmp_path / "second", pupils)["pupils"]
        )
    assert (report.inserted, report.updated) == (0, 1)
    with transaction(sessions) as session:
        amy = session.execute(select(Pupil).where(Pupil.upn == AMY_UPN)).scalar_one()
        stored = session.execute(
            select(cast(Pupil.family_name, Text())).where(Pupil.upn == AMY_UPN)
        ).scalar_one()
    assert (amy.family_name, amy.match_record[1]) == ("Doe-Smith", "Doe-Smith")
    assert stored.startswith("enc2.")
