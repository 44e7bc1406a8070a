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
from datetime import datetime

from cryptography.exceptions import InvalidTag
from sqlalchemy import Boolean, Engine, Integer, String, Text, cast, false, select, update
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Mapped, Session, mapped_column

from broker.crypto import PREFIX, KeyError_, Keyring
from broker.database import Base, UtcDateTime, utcnow
from broker.startup import StartupRefused

IDENTITY_ROW = 1
CANARY_PLAINTEXT = b"Operation Encompass data key canary"


class DatabaseIdentity(Base):
    __tablename__ = "database_identity"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # 32 hex characters, made by migration 0013; never changes, never reused.
    database_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # ``enc1.<key id>.<…>``: CANARY_PLAINTEXT under the data key, bound to the database id.
    key_canary: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_canary_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # True once every value in every encrypted column is encrypted (at migration 0013 when
    # none was left in clear, else after `encompass keys rotate`): a value in clear is then
    # refused when read instead of passed through (broker/crypto.py).
    plaintext_refused: Mapped[bool] = mapped_column(Boolean, server_default=false())


def _context(database_id: str) -> bytes:
    return b"database_identity.key_canary:" + database_id.encode()


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
        return keyring.decrypt(stored, _context(db_id)) == CANARY_PLAINTEXT
    except (KeyError_, InvalidTag, ValueError):
        return False


def _sample_opens(conn_session: Session, keyring: Keyring) -> str | None:
    """Before the first canary: does the key open the encrypted values already stored (a
    database from before migration 0013)? The key id of one that does not, else None."""
    import audit.checkpoints  # noqa: F401  (every table on Base.metadata)
    import broker.store  # noqa: F401
    import school_directory.store  # noqa: F401
    from broker.keys import encrypted_columns

    for table, columns in encrypted_columns(Base.metadata).items():
        for name in columns:
            column = cast(table.c[name], Text())
            value = conn_session.execute(
                select(column).where(column.like(PREFIX + ".%")).limit(1)
            ).scalar_one_or_none()
            if value is None:
                continue
            try:
                keyring.decrypt(value)
            except (KeyError_, InvalidTag, ValueError):
                return keyring.key_id_of(value) or "?"
    return None


@dataclass(frozen=True)
class KeyCheck:
    database_id: str
    plaintext_refused: bool


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
                        key_canary=keyring.encrypt(CANARY_PLAINTEXT, _context(row.database_id)),
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
            return KeyCheck(row.database_id, row.plaintext_refused)
    except (OperationalError, ProgrammingError) as exc:
        if "database_identity" in str(exc):
            raise StartupRefused(
                "the database is not at the newest schema (no table database_identity): "
                "run `encompass db upgrade`"
            ) from exc
        raise


def plaintext_left(engine: Engine) -> list[str]:
    """The encrypted columns (``table.column``) that still hold a value in clear."""
    import audit.checkpoints  # noqa: F401  (every table on Base.metadata)
    import broker.store  # noqa: F401
    import school_directory.store  # noqa: F401
    from broker.keys import encrypted_columns

    found = []
    with engine.connect() as conn:
        for table, columns in encrypted_columns(Base.metadata).items():
            for name in columns:
                column = cast(table.c[name], Text())
                clear = conn.execute(
                    select(column)
                    .where(column.is_not(None))
                    .where(column.not_like(PREFIX + ".%"))
                    .limit(1)
                ).first()
                if clear is not None:
                    found.append(f"{table.name}.{name}")
    return found


def refuse_plaintext_from_now(engine: Engine) -> bool:
    """After a rotation: if no value is left in clear, record that none may be. Returns
    whether values in clear are now refused."""
    if plaintext_left(engine):
        return False
    with Session(engine) as session, session.begin():
        session.execute(
            update(DatabaseIdentity)
            .where(DatabaseIdentity.id == IDENTITY_ROW)
            .values(plaintext_refused=True)
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
        row.key_canary = keyring.encrypt(CANARY_PLAINTEXT, _context(row.database_id))
        row.key_canary_at = utcnow()
