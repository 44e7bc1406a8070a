"""The database edge: engine, sessions and migrations.

One URL (``ENCOMPASS_DATABASE_URL``, SQLite by default) chooses the driver. The rules of
the pipeline are plain functions that take a synchronous ``Session``; async code runs them
in a worker thread (``run_in_session``), so there is one code path for the CLI, the
consumers and the tests, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import DateTime, Engine, create_engine, event, text
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from foundations.crypto import (
    KeyError_,
    Keyring,
    attach,
    keyring_from_material,
    refuse_plaintext,
    refuse_unbound,
)
from foundations.key_material import load_key_file, parse_key_spec
from foundations.row_sealing import seal_on_flush

if TYPE_CHECKING:
    from foundations.settings import Settings

T = TypeVar("T")

# The Alembic scripts stay where their history is, beside the wiring (broker/migrations);
# a path read by Alembic, not an import.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "broker" / "migrations"


class Base(DeclarativeBase):
    pass


# Every model's encrypted values are bound to their row when the ORM writes it.
seal_on_flush(Base)


def status_column_type(enum: type[StrEnum], length: int = 16) -> SqlEnum:
    """A status column typed as its enum: stored as the member's value in a VARCHAR (no
    database enum type, so adding a member needs no migration), read back as the member,
    and a value the enum does not know is refused on write and on read."""
    return SqlEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC instants on every database (SQLite keeps no offset)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sqlalchemy_url(url: str) -> str:
    """Map the URL a person writes to the driver we use."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.drivername == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite").render_as_string(hide_password=False)
    return url


def make_engine(url: str, keyring: Keyring | None = None) -> Engine:
    """An engine for ``url``; with a ``keyring``, personal data is encrypted at rest."""
    engine = _make_engine(url)
    attach(engine.dialect, keyring)
    return engine


PLACEHOLDER_KEY_ID = "placeholder"


def keyring_source(settings: Settings) -> str:
    """Where the data key comes from, for messages (the setting's name, never the key)."""
    if settings.data_key is not None:
        return "ENCOMPASS_DATA_KEY"
    if settings.data_key_file is not None:
        return f"ENCOMPASS_DATA_KEY_FILE ({settings.data_key_file})"
    return f"the key file made for the embedded database ({settings.data_key_path})"


def keyring_for(settings: Settings) -> Keyring:
    """The data keys, from ``ENCOMPASS_DATA_KEY`` or ``ENCOMPASS_DATA_KEY_FILE``.

    A key is made silently only for the embedded database (a SQLite file inside the data
    folder, the key file beside it). Any other database may be shared by other processes,
    which must all hold the same key: without one given explicitly, refuse to start."""
    from foundations.startup import StartupRefused, embedded_database

    if settings.data_key is not None:
        spec = settings.data_key.get_secret_value()
        if any(p.strip().partition(":")[0] == PLACEHOLDER_KEY_ID for p in spec.split(",")):
            raise StartupRefused(
                "ENCOMPASS_DATA_KEY is still the placeholder from the deployment files: "
                "put the installation's own key in the Secret (make one with "
                "`encompass keys new`; docs/security.md, 'Keys')"
            )
        try:
            return keyring_from_material(parse_key_spec(spec))
        except KeyError_ as exc:
            raise StartupRefused(f"ENCOMPASS_DATA_KEY: {exc}") from exc
    embedded = embedded_database(settings)
    if settings.data_key_file is not None and not settings.data_key_file.exists() and not embedded:
        raise StartupRefused(
            f"ENCOMPASS_DATA_KEY_FILE {settings.data_key_file} does not exist. The database "
            "is not the embedded one, so a new key made here would not be the key of the "
            "data already there: give the key file the other processes use (or make the "
            "first one with `encompass keys new --file PATH`)"
        )
    if settings.data_key_file is None and not embedded:
        raise StartupRefused(
            "no data key: ENCOMPASS_DATABASE_URL names a database outside the data folder, "
            "which other processes may share, and each must hold the same key. Set "
            "ENCOMPASS_DATA_KEY (make one with `encompass keys new`) or "
            "ENCOMPASS_DATA_KEY_FILE; a key is made silently only for the embedded SQLite "
            "database in ENCOMPASS_DATA_DIR"
        )
    try:
        return keyring_from_material(load_key_file(settings.data_key_path))
    except (KeyError_, ValueError, KeyError, TypeError) as exc:
        raise StartupRefused(f"{keyring_source(settings)} is not a data key file: {exc}") from exc


def engine_for(settings: Settings) -> Engine:
    """The engine every process uses: the configured database, with the data keys, refused
    (``StartupRefused``) when the keys are not this database's (foundations/identity.py). The
    database must be migrated first."""
    from foundations.identity import check_data_key, key_canary_written
    from foundations.startup import StartupRefused, embedded_database

    missing = settings.data_key is None and not settings.data_key_path.exists()
    if missing and embedded_database(settings):
        # A key file would be made now: not for a database that already has a key.
        probe = make_engine(settings.resolved_database_url)
        try:
            written = key_canary_written(probe)
        finally:
            probe.dispose()
        if written:
            raise StartupRefused(
                f"the data key file {settings.data_key_path} is missing, but this database "
                "was encrypted with a key: restore the key file from the backup (or give "
                "the key in ENCOMPASS_DATA_KEY). A new key would read none of its data."
            )
    keyring = keyring_for(settings)
    engine = make_engine(settings.resolved_database_url, keyring)
    try:
        checked = check_data_key(engine, keyring, keyring_source(settings))
    except BaseException:
        engine.dispose()
        raise
    if checked.plaintext_refused:
        refuse_plaintext(engine.dialect)
    if checked.unbound_refused:
        refuse_unbound(engine.dialect)
    return engine


def _make_engine(url: str) -> Engine:
    sa_url = make_url(sqlalchemy_url(url))
    if sa_url.get_backend_name() == "sqlite":
        if sa_url.database and sa_url.database != ":memory:":
            Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            sa_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_pre_ping=True,
        )
        _sqlite_write_transactions(engine)
        return engine
    return create_engine(sa_url, pool_pre_ping=True, pool_size=5, max_overflow=5)


# The page size of a new SQLite database (``set_page_size``).
PAGE_BYTES = 16_384


def set_page_size(dbapi_connection: Any) -> None:
    """A new SQLite database's pages: 16 KiB, not SQLite's 4. Within a write transaction
    every page read first looks for a newer copy in the write-ahead log, through the hash
    table of each 4,096 frames in turn, so a first roll of England's pupils (its rows,
    then its indexes built from them, in one transaction) costs with the square of the
    pages it writes: four times fewer pages, sixteen times fewer looks. The price: a lookup
    reads 16 KiB for each candidate row (docs/performance.md, "The first roll's pages").
    Set on every connection, by the migrations' too (they make the file); no effect once
    the database has a table, whose pages stay as they were made."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA page_size={PAGE_BYTES}")
    cursor.close()


# The execution option of a transaction that only reads (``read_only``).
READ_ONLY = "encompass_read_only"


def _sqlite_write_transactions(engine: Engine) -> None:
    """Every SQLite transaction takes the write lock at BEGIN (``BEGIN IMMEDIATE``), but
    one opened by ``read_only``.

    The audit chain reads the last row and appends the next: two processes (the broker
    and a reviewer's CLI) must not both read the same tail. WAL lets readers go on.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        set_page_size(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 32 MiB of pages per connection (the default is 2 MiB): the matcher's index pages
        # stay in the process instead of being read again from the OS for every lookup.
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that only reads (``read_only``) does not queue for the lock: in WAL
        # mode it reads the last commit while a writer works.
        reading = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def per_transaction(session: Session, key: str, make: Callable[[], T]) -> T:
    """``make()``, computed once per database transaction of ``session`` and kept in
    ``session.info`` until that transaction ends (a new one computes it again).

    For what a transaction reads and does not change, many times over: a school's
    calendar for every notification of an intake batch (``school_directory.calendar``).
    Only for values that nothing written in the same transaction can make stale."""
    root = session.get_transaction()
    if root is None:  # no transaction yet: nothing to keep it for
        return make()
    memo = session.info.get("_per_transaction")
    if memo is None or memo[0] is not root:
        memo = (root, {})
        session.info["_per_transaction"] = memo
    values: dict[str, Any] = memo[1]
    if key not in values:
        values[key] = make()
    return values[key]  # type: ignore[no-any-return]


def forget_per_transaction(session: Session) -> None:
    """Drop what ``per_transaction`` kept: called by what writes the values it keeps (the
    directory's and the calendar's imports), so that the rest of their transaction reads
    them again."""
    session.info.pop("_per_transaction", None)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with sessions() as session, session.begin():
        yield session


@contextmanager
def read_only(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that only reads: on SQLite it takes no write lock (it sees the last
    commit, as every reader in WAL mode does). Both databases refuse a write in it
    (SQLite's ``query_only``, PostgreSQL's ``SET TRANSACTION READ ONLY``), so a caller
    can never write by mistake without the lock."""
    with sessions() as session, session.begin():
        connection = session.connection(execution_options={READ_ONLY: True})
        if connection.dialect.name != "sqlite":
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield session
            return
        connection.exec_driver_sql("PRAGMA query_only = 1")
        try:
            yield session
        finally:
            connection.exec_driver_sql("PRAGMA query_only = 0")


async def run_in_session(sessions: sessionmaker[Session], fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(session, *args)`` in one transaction on a worker thread."""

    def _work() -> T:
        with transaction(sessions) as session:
            return fn(session, *args)

    return await asyncio.to_thread(_work)


async def run_reading(sessions: sessionmaker[Session], fn: Callable[..., T], *args: Any) -> T:
    """``run_in_session`` for ``fn`` that only reads (``read_only``)."""

    def _work() -> T:
        with read_only(sessions) as session:
            return fn(session, *args)

    return await asyncio.to_thread(_work)


# The key of the PostgreSQL advisory lock held while migrating ("encompas" in ASCII): one
# lock for every installation, since it only serialises migrations of one database.
MIGRATION_LOCK_KEY = 0x656E636F6D706173


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Held while migrating, so that processes starting together migrate one at a time
    (the next one finds the work done).

    PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a connection of its own,
    released when that connection ends, however the migration ends. SQLite: an exclusive
    ``flock`` on a file beside the database (``<database>.migrate-lock``). SQLite's own
    locks do not serialise Alembic: the driver runs DDL outside a transaction, so two
    upgrades would both create the same tables."""
    sa_url = make_url(sqlalchemy_url(url))
    backend = sa_url.get_backend_name()
    if backend == "postgresql":
        engine = create_engine(sa_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                try:
                    yield
                finally:
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
        finally:
            engine.dispose()
    elif backend == "sqlite" and sa_url.database not in (None, "", ":memory:"):
        import fcntl

        path = Path(f"{sa_url.database}.migrate-lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    else:
        yield


def upgrade(url: str) -> None:
    """Bring the database to the newest schema with Alembic, under ``migration_lock``."""
    from alembic import command

    with migration_lock(url):
        command.upgrade(_alembic_config(url), "head")


def schema_behind(url: str) -> str | None:
    """Why the database is behind this code's newest migration, or None when it is not.

    A database at a revision this code does not know is ahead (a newer version migrated
    it during a rolling upgrade): not behind."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    sa_url = make_url(sqlalchemy_url(url))
    file = sa_url.database if sa_url.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(str(file)).exists():
        return "the database does not exist yet"
    script = ScriptDirectory.from_config(_alembic_config(url))
    engine = create_engine(sa_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    heads = set(script.get_heads())
    if current >= heads:
        return None
    known = {rev.revision for rev in script.walk_revisions()}
    if current and not current <= known:
        return None
    at = ", ".join(sorted(current)) or "no schema"
    return f"the database is at {at}, this version needs {', '.join(sorted(heads))}"
