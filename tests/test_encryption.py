"""Personal data at rest: AES-GCM with key ids, keys rotated without losing a value, and a
raw copy of the database that is not a list of vulnerable children."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

import foundations.models
from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.crypto import KeyError_, keyring_from_material
from foundations.database import (
    Base,
    engine_for,
    make_engine,
    session_factory,
    transaction,
    upgrade,
)
from foundations.keys import reencrypt
from foundations.settings import Settings
from tests.factories import import_directory, incident, write_directory

K1 = keyring_from_material([("k1", b"\x01" * 32)])
K1_K2 = keyring_from_material([("k1", b"\x01" * 32), ("k2", b"\x02" * 32)])


def test_values_round_trip_and_tampering_is_refused() -> None:
    sealed = K1.encrypt(b"Amy Louise Doe")
    assert sealed.startswith("enc1.k1.") and "Amy" not in sealed
    assert K1.decrypt(sealed) == b"Amy Louise Doe"
    assert K1.encrypt(b"same") != K1.encrypt(b"same")  # a fresh nonce every time
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(InvalidTag):
        K1.decrypt(tampered)
    with pytest.raises(KeyError_, match="no key 'k2'"):
        K1.decrypt(K1_K2.encrypt(b"x"))


def test_blind_indexes_survive_rotation() -> None:
    assert K1.blind("doe") == K1_K2.blind("doe") != K1.blind("roe")


def feed(sessions: sessionmaker[Session], folder: Path) -> None:
    files = write_directory(folder)
    with transaction(sessions) as session:
        import_directory(session, files)
    with transaction(sessions) as session:
        process_incident(session, Settings(), parse_incident(json.dumps(incident()).encode()), "t")


def test_police_records_and_school_content_are_stored_encrypted(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    feed(sessions, tmp_path / "d")
    with transaction(sessions) as session:
        payload = session.execute(text("SELECT payload FROM incidents")).scalar_one()
        content = session.execute(text("SELECT content FROM notifications")).scalar_one()
        read_back = session.execute(text("SELECT 1")).scalar_one()
    assert payload.startswith("enc2.") and content.startswith("enc2.")
    assert "Jane" not in payload and read_back == 1


def test_rotation_re_encrypts_everything_and_nothing_is_lost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rot.db'}"
    upgrade(url)
    old = make_engine(url, K1)
    feed(session_factory(old), tmp_path / "d")
    old.dispose()
    engine = make_engine(url, K1_K2)
    done = reencrypt(engine, K1_K2, Base.metadata)
    assert done.values >= 3
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT payload FROM incidents")).scalar_one()
    assert stored.startswith("enc2.k2.")
    with transaction(session_factory(engine)) as session:
        payload = session.execute(foundations.models.Incident.__table__.select()).one().payload
    assert payload["persons"][0]["given_names"] == "Jane"
    assert reencrypt(engine, K1_K2, Base.metadata).values == 0


ENCRYPTED_VALUE = re.compile(rb"enc[12]\.[A-Za-z0-9]+\.(?:(?!enc[12]\.)[A-Za-z0-9_-])+")


def test_encrypted_values_side_by_side_are_each_taken_out() -> None:
    side_by_side = b"\x00enc2.k1.AbDoe_x-enc2.k1.xxDoexxenc1.k2.Doe\x01"
    assert ENCRYPTED_VALUE.sub(b"", side_by_side) == b"\x00\x01"


def test_a_raw_copy_of_the_database_holds_no_child_or_police_record_in_clear(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'raw.db'}")
    upgrade(settings.resolved_database_url)
    engine = engine_for(settings)
    feed(session_factory(engine), tmp_path / "d")
    engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("raw.db*"))
    # Ciphertext is base64url: a three-letter name turns up in it by chance. Whatever is
    # left once the encrypted values are taken out must hold no secret. A row's values lie
    # side by side ("...tokenenc2.k1.token"): a token ends where the next value begins,
    # else the next one's token is left behind, and "Doe" turned up in one in a hundred.
    raw = re.sub(ENCRYPTED_VALUE, b"", raw)
    secrets = (
        "Jane",
        "Roe",
        "Example Road",
        "hid upstairs",
        "44/123456/26",
        "1990-04-01",
        # the directory's children: names, dates of birth, postcodes
        "Amy",
        "Louise",
        "Doe",
        "Twin",
        "Maya",
        "2016-09-14",
        "2017-05-05",
        "SO23 8UJ",
    )
    for secret in secrets:
        assert secret.encode() not in raw, secret
    assert (tmp_path / "data.key").stat().st_mode & 0o777 == 0o600
