"""The database's own identity: an id made when it was created (migration 0013), and a
canary value that only the right data key decrypts.

Every process that opens the database checks the canary before it reads or writes
personal data (``check_data_key``). Without it, two processes with different keys share
one database and cannot read each other's pupils: lookups return no rows, and no error
is raised anywhere. The first process that starts with a key after the migration writes the
canary with it; from then on a process with another key is refused at start.

Signed audit tree heads carry the database id, so a checkpoint file can say which
database it belongs to (audit/checkpoints.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, Text, cast, select, update
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from foundations.clock import utcnow
from foundations.crypto import (
    BOUND,
    ENCRYPTED_PREFIXES,
    PREFIX,
    KeyError_,
    Keyring,
    associated_data,
)
from foundations.models.identity import DatabaseIdentity
from foundations.startup import StartupRefused

IDENTITY_ROW = 1
CANARY_PLAINTEXT = b"Operation Encompass data key canary"


def _context(database_id: str) -> bytes:
    """The associated data of an ``enc1`` canary (written before migration 0017)."""
    return b"database_identity.key_canary:" + database_id.encode()


def _seal_canary(keyring: Keyring, database_id: str) -> str:
    return keyring.seal(CANARY_PLAINTEXT, _canary_data(database_id))


def _canary_data(database_id: str) -> bytes:
    return associated_data("database_identity", "key_canary", (database_id,))


def database_id(session: Session) -> str:
    row = session.get(DatabaseIdentity, IDENTITY_ROW)
    if row is None:
        raise StartupRefused(
            "this database has no identity row (table database_identity): it was not "
            "migrated with `encompass db upgrade`, or the row was deleted"
        )
    return row.database_id


def key_canary_written(engine: Engine) -> bool:
    """Whether some key already owns this database (False too when not yet migrated)."""
    try:
        with Session(engine) as session:
            row = session.get(DatabaseIdentity, IDENTITY_ROW)
    except (OperationalError, ProgrammingError):
        return False
    return row is not None and row.key_canary is not None


def canary_opens(keyring: Keyring, stored: str, db_id: str) -> bool:
    try:
        if stored.startswith(BOUND + "."):
            return keyring.unseal(stored, _canary_data(db_id)) == CANARY_PLAINTEXT
        return keyring.decrypt(stored, _context(db_id)) == CANARY_PLAINTEXT
    except (KeyError_, InvalidTag, ValueError):
        return False


def _sample_opens(conn_session: Session, keyring: Keyring) -> str | None:
    """Before the first canary: does the key open the encrypted values already stored (a
    database from before migration 0013)? The key id of one that does not, else None."""
    from foundations.keys import encrypted_columns, open_stored, stored_with_rows
    from foundations.models import metadata

    for table, columns in encrypted_columns(metadata).items():
        for name in columns:
            for prefix in (PREFIX, BOUND):
                query = stored_with_rows(table, name, prefix).limit(1)
                found = conn_session.execute(query).first()
                if found is None:
                    continue
                value, row = found[0], found[1:]
                try:
                    open_stored(keyring, table, name, row, value)
                except (KeyError_, InvalidTag, ValueError):
                    return keyring.key_id_of(value) or "?"
    return None


@dataclass(frozen=True)
class KeyCheck:
    database_id: str
    plaintext_refused: bool
    unbound_refused: bool


def check_data_key(engine: Engine, keyring: Keyring, source: str) -> KeyCheck:
    """Refuse (``StartupRefused``) a key that is not this database's; write the canary
    the first time. ``source`` names the setting the key came from."""
    try:
        with Session(engine) as session, session.begin():
            row = session.get(DatabaseIdentity, IDENTITY_ROW, with_for_update=True)
            if row is None:
                database_id(session)  # raises, with the reason
                raise AssertionError  # pragma: no cover
            if row.key_canary is None:
                stranger = _sample_opens(session, keyring)
                if stranger is not None:
                    raise StartupRefused(
                        f"the data key from {source} does not decrypt the personal data "
                        f"already in this database (encrypted with key id {stranger!r}). "
                        "Every process that shares a database must use the same key: give "
                        "this one the key the others use."
                    )
                session.execute(
                    update(DatabaseIdentity)
                    .where(DatabaseIdentity.id == IDENTITY_ROW)
                    .where(DatabaseIdentity.key_canary.is_(None))
                    .values(
                        key_canary=_seal_canary(keyring, row.database_id),
                        key_canary_at=utcnow(),
                    )
                )
                session.refresh(row)
            assert row.key_canary is not None
            if not canary_opens(keyring, row.key_canary, row.database_id):
                raise StartupRefused(
                    f"the data key from {source} is not this database's key: it does not "
                    f"decrypt the key canary (written with key id "
                    f"{keyring.key_id_of(row.key_canary)!r}). Every process that shares a "
                    "database must use the same ENCOMPASS_DATA_KEY (or the same "
                    "ENCOMPASS_DATA_KEY_FILE); with another key it would write pupils the "
                    "others cannot read and find none of theirs."
                )
            return KeyCheck(row.database_id, row.plaintext_refused, row.unbound_refused)
    except (OperationalError, ProgrammingError) as exc:
        if "database_identity" in str(exc):
            raise StartupRefused(
                "the database is not at the newest schema (no table database_identity): "
                "run `encompass db upgrade`"
            ) from exc
        raise


def plaintext_left(engine: Engine) -> list[str]:
    """The encrypted columns (``table.column``) that still hold a value in clear."""
    from foundations.keys import encrypted_columns
    from foundations.models import metadata

    found = []
    with engine.connect() as conn:
        for table, columns in encrypted_columns(metadata).items():
            for name in columns:
                column = cast(table.c[name], Text())
                clear = conn.execute(
                    select(column)
                    .where(column.is_not(None))
                    .where(*(column.not_like(prefix + "%") for prefix in ENCRYPTED_PREFIXES))
                    .limit(1)
                ).first()
                if clear is not None:
                    found.append(f"{table.name}.{name}")
    return found


def refuse_plaintext_from_now(engine: Engine) -> bool:
    """After a rotation: if no value is left in clear, record that none may be. Returns
    whether values in clear are now refused."""
    return _refuse_from_now(engine, bool(plaintext_left(engine)), plaintext_refused=True)


def unbound_left(engine: Engine) -> list[str]:
    """The encrypted columns (``table.column``) that still hold an ``enc1`` value, bound to
    no row."""
    from foundations.keys import encrypted_columns
    from foundations.models import metadata

    found = []
    with engine.connect() as conn:
        for table, columns in encrypted_columns(metadata).items():
            for name in columns:
                column = cast(table.c[name], Text())
                old = conn.execute(select(column).where(column.like(PREFIX + ".%")).limit(1))
                if old.first() is not None:
                    found.append(f"{table.name}.{name}")
    return found


def refuse_unbound_from_now(engine: Engine) -> bool:
    """After a rotation: if every value is bound to its row, record that an ``enc1`` value
    is refused from now on. Returns whether it is."""
    return _refuse_from_now(engine, bool(unbound_left(engine)), unbound_refused=True)


def _refuse_from_now(engine: Engine, left: bool, **flag: bool) -> bool:
    """Record ``flag`` on the database's identity unless some value is ``left`` as it was."""
    if left:
        return False
    with Session(engine) as session, session.begin():
        session.execute(
            update(DatabaseIdentity).where(DatabaseIdentity.id == IDENTITY_ROW).values(**flag)
        )
    return True


def rewrite_canary(engine: Engine, keyring: Keyring) -> None:
    """After a rotation: the canary under the current key, as every other value."""
    with Session(engine) as session, session.begin():
        row = session.get(DatabaseIdentity, IDENTITY_ROW, with_for_update=True)
        if row is None:
            return
        if row.key_canary is not None and not canary_opens(
            keyring, row.key_canary, row.database_id
        ):
            raise StartupRefused("the key canary does not decrypt with this keyring")
        row.key_canary = _seal_canary(keyring, row.database_id)
        row.key_canary_at = utcnow()
