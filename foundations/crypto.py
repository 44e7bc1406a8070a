"""Personal data encrypted at rest: AES-256-GCM per value, with key identifiers so keys can
be rotated, and keyed blind indexes (HMAC-SHA256) for the few values the matcher must look
up by equality (name keys, date of birth, postcode).

The keyring belongs to an engine (``make_engine(url, keyring)``): the column types below
find it on the engine's dialect, so two databases with two keys can live in one process
(as they do in the tests), and nothing is read from the environment at import time.

Stored form of an encrypted value: ``enc1.<key id>.<base64url(nonce || ciphertext+tag)>``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from foundations.purpose_keys import Purpose, purpose_key

PREFIX = "enc1"


class KeyError_(ValueError):
    """A key that is missing or malformed, or a value that will not decrypt."""


@dataclass(frozen=True)
class Keyring:
    """``keys`` by id; ``current`` encrypts, every key decrypts; ``index_key`` makes blind
    indexes and never rotates with the data keys (rotating it means re-indexing)."""

    keys: dict[str, bytes]
    current: str
    index_key: bytes = field(repr=False, default=b"")

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyError_(f"current key {self.current!r} is not in the keyring")
        if any(len(k) != 32 for k in self.keys.values()):
            raise KeyError_("data keys are 32 bytes (AES-256)")
        # One cipher object per key, made once: constructing one costs a third of a decrypt.
        object.__setattr__(self, "_ciphers", {kid: AESGCM(k) for kid, k in self.keys.items()})
        # A lookup hashes the same few hundred dates and name keys again and again.
        object.__setattr__(self, "_blinded", lru_cache(maxsize=8_192)(self._blind))

    def _cipher(self, key_id: str) -> AESGCM:
        ciphers: dict[str, AESGCM] = self._ciphers  # type: ignore[attr-defined]
        return ciphers[key_id]

    def encrypt(self, plaintext: bytes, context: bytes = b"") -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._cipher(self.current).encrypt(nonce, plaintext, context)
        token = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{PREFIX}.{self.current}.{token}"

    def decrypt(self, stored: str, context: bytes = b"") -> bytes:
        try:
            prefix, key_id, token = stored.split(".", 2)
        except ValueError as exc:
            raise KeyError_("not an encrypted value") from exc
        if prefix != PREFIX:
            raise KeyError_("not an encrypted value")
        if key_id not in self.keys:
            raise KeyError_(f"no key {key_id!r} in the keyring: was it rotated away?")
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return self._cipher(key_id).decrypt(raw[:12], raw[12:], context)

    def key_id_of(self, stored: str) -> str | None:
        parts = stored.split(".", 2)
        return parts[1] if len(parts) == 3 and parts[0] == PREFIX else None

    def blind(self, value: str) -> str:
        blinded: Callable[[str], str] = self._blinded  # type: ignore[attr-defined]
        return blinded(value)

    def _blind(self, value: str) -> str:
        # hmac.digest with a digest name: the one-shot OpenSSL path
        return hmac.digest(self.index_key, value.encode(), "sha256").hex()[:32]


def keyring_from_material(entries: list[tuple[str, bytes]]) -> Keyring:
    """From (key id, 32 random bytes) pairs, newest last. The index key comes from the
    oldest entry, so adding a key (rotation) keeps every blind index valid."""
    if not entries:
        raise KeyError_("no data keys")
    keys = {kid: purpose_key(material, Purpose.DATA_ENCRYPTION) for kid, material in entries}
    index_key = purpose_key(entries[0][1], Purpose.BLIND_INDEX)
    return Keyring(keys=keys, current=entries[-1][0], index_key=index_key)


def parse_key_spec(spec: str) -> list[tuple[str, bytes]]:
    """``ENCOMPASS_DATA_KEY``: ``id:base64`` entries separated by commas, newest last."""
    entries = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        kid, _, material = part.partition(":")
        if not kid or not material:
            raise KeyError_("ENCOMPASS_DATA_KEY entries are id:base64key, newest last")
        try:
            raw = base64.b64decode(material + "=" * (-len(material) % 4), validate=True)
        except binascii.Error as exc:
            raise KeyError_(f"data key {kid!r} is not base64") from exc
        if len(raw) < 32:
            raise KeyError_(f"data key {kid!r} is shorter than 32 bytes")
        entries.append((kid, raw))
    return entries


def load_key_file(path: Path) -> list[tuple[str, bytes]]:
    """A JSON list of {"id", "key"} (base64), newest last; made (mode 0600) if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        first = [{"id": "k1", "key": base64.b64encode(secrets.token_bytes(32)).decode()}]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as out:
                json.dump(first, out)
    data = json.loads(path.read_text())
    return [(str(e["id"]), base64.b64decode(e["key"])) for e in data]


def new_key_spec(key_id: str = "k1") -> str:
    """A new random key as an ``ENCOMPASS_DATA_KEY`` entry: ``id:base64``."""
    if not key_id or any(c in key_id for c in ":,. "):
        raise KeyError_("a key id is a short word without ':', ',', '.' or spaces")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


def new_key_file(path: Path, key_id: str = "k1") -> None:
    """A new key file (0600); an existing one is never overwritten."""
    kid, _, material = new_key_spec(key_id).partition(":")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump([{"id": kid, "key": material}], out)


def add_key_to_file(path: Path) -> str:
    """Rotation, step one: a new current key. Returns its id."""
    entries = json.loads(path.read_text()) if path.exists() else []
    new_id = f"k{len(entries) + 1}"
    entries.append({"id": new_id, "key": base64.b64encode(secrets.token_bytes(32)).decode()})
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(entries, out)
    os.replace(tmp, path)
    return new_id


def _keyring(dialect: Dialect) -> Keyring | None:
    return getattr(dialect, "encompass_keyring", None)


def attach(dialect: Dialect, keyring: Keyring | None) -> None:
    dialect.encompass_keyring = keyring  # type: ignore[attr-defined]


def refuse_plaintext(dialect: Dialect) -> None:
    """Every value in this database is encrypted (foundations/identity.py says so): from now on
    a value that is not is refused when read, not passed through. Someone who can write to
    the database but does not hold the key cannot slip a forged value in as plaintext."""
    dialect.encompass_refuse_plaintext = True  # type: ignore[attr-defined]


class PlaintextRefused(KeyError_):
    """A value in an encrypted column that is not encrypted, where none may be."""


def _open(stored: str, dialect: Dialect) -> str:
    """The plaintext of a stored value; a value from before encryption passes through,
    until the database records that every value is encrypted."""
    if not stored.startswith(PREFIX + "."):
        if getattr(dialect, "encompass_refuse_plaintext", False):
            raise PlaintextRefused(
                "a value in an encrypted column is not encrypted: refused (written without "
                "the data key, or forged)"
            )
        return stored
    ring = _keyring(dialect)
    if ring is None:
        raise KeyError_("encrypted data but no data key: set ENCOMPASS_DATA_KEY")
    return ring.decrypt(stored).decode()


class EncryptedText(TypeDecorator[str]):
    """A string encrypted with the engine's keyring (stored as text)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        ring = _keyring(dialect)
        if value is None or ring is None:
            return value
        return ring.encrypt(value.encode())

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else _open(value, dialect)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document encrypted as a whole."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        ring = _keyring(dialect)
        return ring.encrypt(text.encode()) if ring else text

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = _open(value, dialect)
        return json.loads(value)


class EncryptedDate(TypeDecorator[date]):
    """A date encrypted as its ISO text; look it up through a ``BlindIndex`` column."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: date | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        ring = _keyring(dialect)
        return ring.encrypt(value.isoformat().encode()) if ring else value.isoformat()

    def process_result_value(self, value: str | None, dialect: Dialect) -> date | None:
        if value is None:
            return None
        value = _open(value, dialect)
        return date.fromisoformat(value)


class BlindIndex(TypeDecorator[str]):
    """A keyed hash of a lookup key: equal values stay equal (so ``==`` and ``in_`` work,
    with the query's values hashed the same way), but the stored text reveals nothing."""

    impl = String(200)  # 32 hex characters when keyed; the key itself without a keyring
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        text = value.isoformat() if isinstance(value, date) else str(value)
        ring = _keyring(dialect)
        return ring.blind(text) if ring and text else text
