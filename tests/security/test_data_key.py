"""Issue 13, defect 2: a data key is never made silently for a database other processes may
share, and a process whose key is not the database's is refused at start, saying which
setting to fix. Item 10: outside a container image the data folder is 0700 and the
database, its WAL and the demo's mail 0600."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import alembic.command
import pytest
from alembic.config import Config
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from broker.app import EncompassService
from broker.mail_catcher import MailCatcher
from foundations.crypto import PlaintextRefused
from foundations.database import (
    MIGRATIONS_DIR,
    Base,
    engine_for,
    keyring_for,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from foundations.identity import check_data_key
from foundations.keys import reencrypt
from foundations.models import DatabaseIdentity, Pupil
from foundations.settings import Settings
from foundations.startup import StartupRefused, restrict_data_files
from tests.conftest import _postgres_database
from tests.factories import import_directory, isolated_settings, write_directory

KEY_A = "k1:" + base64.b64encode(b"\xaa" * 32).decode()
KEY_B = "k1:" + base64.b64encode(b"\xbb" * 32).decode()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    for url in _postgres_database():
        upgrade(url)
        yield url


def encompass(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        env=clean | {"PYTHONPATH": str(ROOT)} | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def canary(url: str) -> str | None:
    engine = make_engine(url)
    with Session(engine) as session:
        value = session.execute(select(DatabaseIdentity.key_canary)).scalar_one()
    engine.dispose()
    return value


# --- two processes, one PostgreSQL database ---------------------------------------------------


def test_a_second_process_with_another_key_is_refused_at_start(
    postgres_url: str, tmp_path: Path
) -> None:
    first = Settings(data_dir=tmp_path / "a", database_url=postgres_url, data_key=KEY_A)
    engine_for(first).dispose()  # the first process writes the canary with its key
    assert (canary(postgres_url) or "").startswith("enc2.k1.")

    second = isolated_settings(data_dir=tmp_path / "b", database_url=postgres_url, data_key=KEY_B)
    with pytest.raises(StartupRefused, match="not this database's key") as refused:
        EncompassService(second)
    assert "ENCOMPASS_DATA_KEY" in str(refused.value)

    # The same refusal from a command run by a person, with the setting named.
    done = encompass(
        {
            "ENCOMPASS_DATA_DIR": str(tmp_path / "c"),
            "ENCOMPASS_DATABASE_URL": postgres_url,
            "ENCOMPASS_DATA_KEY": KEY_B,
        },
        "review",
        "list",
    )
    assert done.returncode == 2, done.stdout
    assert "ENCOMPASS_DATA_KEY" in done.stderr and "not this database's key" in done.stderr

    # With the first process's key, the second starts.
    engine_for(
        isolated_settings(data_dir=tmp_path / "b", database_url=postgres_url, data_key=KEY_A)
    ).dispose()


def test_no_key_and_a_postgresql_url_is_refused_and_no_key_is_made(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    with pytest.raises(StartupRefused, match="ENCOMPASS_DATA_KEY"):
        engine_for(settings)
    assert not (tmp_path / "data.key").exists()
    done = encompass(
        {"ENCOMPASS_DATA_DIR": str(tmp_path), "ENCOMPASS_DATABASE_URL": postgres_url},
        "audit",
        "verify",
    )
    assert done.returncode == 2
    assert "no data key" in done.stderr and "ENCOMPASS_DATA_KEY" in done.stderr
    assert not (tmp_path / "data.key").exists()
    assert canary(postgres_url) is None


def test_a_key_file_that_does_not_exist_is_not_made_for_a_shared_database(
    postgres_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "keys" / "data.key"
    settings = Settings(data_dir=tmp_path, database_url=postgres_url, data_key_file=missing)
    with pytest.raises(StartupRefused, match="ENCOMPASS_DATA_KEY_FILE"):
        engine_for(settings)
    assert not missing.exists()


def test_two_processes_with_one_key_file_share_the_database(
    postgres_url: str, tmp_path: Path
) -> None:
    done = encompass({}, "keys", "new", "--file", str(tmp_path / "shared.key"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "shared.key").stat().st_mode & 0o777 == 0o600
    for folder in ("a", "b"):
        engine_for(
            Settings(
                data_dir=tmp_path / folder,
                database_url=postgres_url,
                data_key_file=tmp_path / "shared.key",
            )
        ).dispose()


def test_the_deployment_placeholder_key_is_refused() -> None:
    with pytest.raises(StartupRefused, match="placeholder"):
        keyring_for(Settings(data_key="placeholder:replace-with-the-output-of-encompass-keys-new"))
    with pytest.raises(StartupRefused, match="not base64"):
        keyring_for(Settings(data_key="k1:not-a-key!"))


def test_a_database_from_before_the_canary_is_not_adopted_by_a_stranger_key(
    postgres_url: str, tmp_path: Path
) -> None:
    """Upgrading: the first process to start after migration 0013 writes the canary. If its
    key does not open the personal data already there, it is refused instead."""
    settings_a = Settings(data_dir=tmp_path, database_url=postgres_url, data_key=KEY_A)
    # Pupils stored under key A by a process from before the canary:
    engine = make_engine(postgres_url, keyring_for(settings_a))
    with transaction(session_factory(engine)) as session:
        import_directory(session, write_directory(tmp_path / "directory"))
        session.execute(update(DatabaseIdentity).values(key_canary=None, key_canary_at=None))
    engine.dispose()
    with pytest.raises(StartupRefused, match="does not decrypt the personal data already"):
        engine_for(Settings(data_dir=tmp_path, database_url=postgres_url, data_key=KEY_B))
    assert canary(postgres_url) is None
    engine_for(settings_a).dispose()
    assert canary(postgres_url) is not None


# --- the embedded default ---------------------------------------------------------------------


def test_the_embedded_database_still_starts_with_a_key_made_in_the_data_folder(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)  # no ENCOMPASS_DATABASE_URL: the embedded SQLite
    upgrade(settings.resolved_database_url)
    engine_for(settings).dispose()
    key_file = tmp_path / "data.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    made = key_file.read_bytes()
    engine_for(settings).dispose()  # the next start reads the same key
    assert key_file.read_bytes() == made
    assert (canary(settings.resolved_database_url) or "").startswith("enc2.k1.")
    # A copy of the database without its key file does not start with a new key, and
    # none is made.
    key_file.unlink()
    with pytest.raises(StartupRefused, match=r"data key file .* is missing"):
        engine_for(settings)
    assert not key_file.exists()
    # Nor with another key file of its own.
    other = tmp_path / "other.key"
    other.write_text(f'[{{"id": "k1", "key": "{KEY_B.removeprefix("k1:")}"}}]')
    with pytest.raises(StartupRefused, match="not this database's key"):
        engine_for(settings.model_copy(update={"data_key_file": other}))


def test_rotation_re_encrypts_the_canary(postgres_url: str, tmp_path: Path) -> None:
    old = Settings(data_dir=tmp_path, database_url=postgres_url, data_key=KEY_A)
    engine_for(old).dispose()
    new_entry = "k2:" + base64.b64encode(b"\xcc" * 32).decode()
    both = Settings(data_dir=tmp_path, database_url=postgres_url, data_key=f"{KEY_A},{new_entry}")
    done = encompass(
        {
            "ENCOMPASS_DATA_DIR": str(tmp_path),
            "ENCOMPASS_DATABASE_URL": postgres_url,
            "ENCOMPASS_DATA_KEY": f"{KEY_A},{new_entry}",
        },
        "keys",
        "rotate",
    )
    assert done.returncode == 0, done.stderr
    assert (canary(postgres_url) or "").startswith("enc2.k2.")
    engine_for(both).dispose()
    # A process left with the old key alone is refused: it cannot read what k2 encrypts.
    with pytest.raises(StartupRefused, match="not this database's key"):
        engine_for(old)
    keyring = keyring_for(both)
    engine = make_engine(postgres_url, keyring)
    assert reencrypt(engine, keyring, Base.metadata).values == 0
    check_data_key(engine, keyring, "ENCOMPASS_DATA_KEY")
    engine.dispose()


# --- values in clear (issue 13, item 10) -----------------------------------------------------


def forge_a_family_name(url: str) -> None:
    """What someone with write access to the database but not the key can do: put a value
    in clear into an encrypted column."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE pupils SET family_name = 'Forged' WHERE id = (SELECT min(id) FROM pupils)")
        )
    engine.dispose()


def family_names(settings: Settings) -> list[str]:
    engine = engine_for(settings)
    try:
        with transaction(session_factory(engine)) as session:
            return list(session.execute(select(Pupil.family_name)).scalars())
    finally:
        engine.dispose()


def test_a_value_in_clear_is_refused_once_every_value_is_encrypted(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=database_url, data_key=KEY_A)
    upgrade(database_url)
    engine = engine_for(settings)
    with transaction(session_factory(engine)) as session:
        import_directory(session, write_directory(tmp_path / "directory"))
    engine.dispose()
    assert "Doe" in family_names(settings)
    forge_a_family_name(database_url)
    # A new database holds nothing in clear: a value in clear is a forgery, refused.
    with pytest.raises(PlaintextRefused, match="not encrypted"):
        family_names(settings)


def test_after_an_upgrade_values_in_clear_are_refused_once_rotation_encrypted_them(
    tmp_path: Path,
) -> None:
    """A database with values in clear from before encryption at rest reaches migration
    0013: they are still read until `keys rotate` encrypts them; from then on, refused."""
    settings = Settings(data_dir=tmp_path, data_key=KEY_A)
    url = settings.resolved_database_url
    upgrade(url)
    engine = engine_for(settings)
    with transaction(session_factory(engine)) as session:
        import_directory(session, write_directory(tmp_path / "directory"))
    engine.dispose()
    forge_a_family_name(url)  # here: a value left in clear from before
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    alembic.command.downgrade(config, "0012")
    upgrade(url)  # 0013 again: it finds the value in clear
    assert "Forged" in family_names(settings)

    done = encompass(
        {"ENCOMPASS_DATA_DIR": str(tmp_path), "ENCOMPASS_DATA_KEY": KEY_A}, "keys", "rotate"
    )
    assert done.returncode == 0, done.stderr
    assert "(1 were not yet encrypted)" in done.stdout
    assert "refused from now on" in done.stdout
    assert "Forged" in family_names(settings)  # encrypted now, and still read
    forge_a_family_name(url)
    with pytest.raises(PlaintextRefused):
        family_names(settings)


# --- files outside a container image ----------------------------------------------------------


def test_the_data_folder_and_its_files_are_for_their_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    settings = Settings(data_dir=folder)
    upgrade(settings.resolved_database_url)
    engine = engine_for(settings)
    with engine.begin() as conn:  # the WAL and shared-memory files exist while it is open
        conn.execute(text("SELECT 1"))
    database = folder / "encompass.db"
    for path in folder.glob("encompass.db*"):
        path.chmod(0o644)
    mail = folder / "demo-mail"
    catcher = MailCatcher(mail)
    catcher.start()
    catcher.stop()
    old_mail = mail / "old.eml"
    old_mail.write_text("Subject: made before\n\n")
    old_mail.chmod(0o644)
    restrict_data_files(settings)
    engine.dispose()
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.name for p in folder.glob("encompass.db*")} >= {database.name}
    for path in folder.glob("encompass.db*"):
        assert path.stat().st_mode & 0o777 == 0o600, path.name
    assert mail.stat().st_mode & 0o777 == 0o700
    assert old_mail.stat().st_mode & 0o777 == 0o600
    assert (folder / "data.key").stat().st_mode & 0o777 == 0o600


def test_a_command_makes_its_files_for_its_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    done = encompass({"ENCOMPASS_DATA_DIR": str(folder)}, "review", "list")
    assert done.returncode == 0, done.stderr
    assert folder.stat().st_mode & 0o777 == 0o700
    files = list(folder.glob("encompass.db*"))
    assert files
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path.name
