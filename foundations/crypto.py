"""Personal data encrypted at rest: AES-256-GCM per value, with key identifiers so keys can
be rotated, and keyed blind indexes (HMAC-SHA256) for the few values the matcher must look
up by equality (name keys, date of birth, postcode).

The keyring belongs to an engine (``make_engine(url, keyring)``): the column types below
find it on the engine's dialect, so two databases with two keys can live in one process
(as they do in the tests), and nothing is read from the environment at import time.

Stored form of an encrypted value: ``enc2.<key id>.<base64url(nonce || ciphertext+tag)>``,
its AES-GCM associated data naming the table, the column and the row it was written to
(``associated_data``): a value copied to another row or column does not decrypt there
(``NotThisRow``). A row is named by columns known before it is inserted, declared per table
(``bound_to``): a natural key that never changes, or a random ``row_key``. The ORM binds a
row's values when it flushes the row (``seal_on_flush``); a Core INSERT or UPDATE passes
each value with its row (``write_rows``, ``InRow``), and a value written without its row is
refused (``UnboundWrite``). Reading needs no help: the column's SELECT expression brings the
row's identity along with the stored text (``Encrypted.column_expression``).

``enc1.<key id>.<…>`` is the form from before migration 0017, bound to no row. It is read
until the database records that none is left (``encompass keys rotate`` rewrites every value
as ``enc2``), then refused (``UnboundRefused``), as values in clear are.
"""

from __future__ import annotations

import binascii
import hmac
import json
import json.scanner
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    ColumnElement,
    String,
    Table,
    Text,
    cast,
    event,
    func,
    type_coerce,
)
from sqlalchemy import literal_column as _sql
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import Label
from sqlalchemy.types import TypeDecorator

from foundations.purpose_keys import Purpose, purpose_key

_T = TypeVar("_T")

PREFIX = "enc1"  # before migration 0017: bound to no row
BOUND = "enc2"  # bound by associated data to its table, column and row
ENCRYPTED_PREFIXES = (PREFIX + ".", BOUND + ".")
# Table.info key: the columns that name a row for its encrypted values (``bound_to``).
ROW_IDENTITY = "row_identity"
ROW_KEY = "row_key"
# Between the parts of the associated data, and of a value as a SELECT reads it; no column
# that names a row holds it (``row_parts``).
SEP = "\x1f"


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


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

    def seal(self, plaintext: bytes, associated: bytes) -> str:
        """``enc2.<key id>.<token>`` under the current key, bound to ``associated``."""
        return self._seal(BOUND, plaintext, associated)

    def unseal(self, stored: str, associated: bytes) -> bytes:
        """The plaintext of an ``enc2`` value: ``InvalidTag`` unless ``associated`` is what
        it was sealed with."""
        return self._open(BOUND, stored, associated)

    def encrypt(self, plaintext: bytes, context: bytes = b"") -> str:
        """``enc1``, the form from before migration 0017: kept for the tests that make old
        values; the broker writes ``enc2`` only."""
        return self._seal(PREFIX, plaintext, context)

    def decrypt(self, stored: str, context: bytes = b"") -> bytes:
        """The plaintext of an ``enc1`` value."""
        return self._open(PREFIX, stored, context)

    def _seal(self, prefix: str, plaintext: bytes, associated: bytes) -> str:
        nonce = os.urandom(12)  # what secrets.token_bytes does, a call less per value
        sealed = self._cipher(self.current).encrypt(nonce, plaintext, associated)
        token = binascii.b2a_base64(nonce + sealed, newline=False).translate(_TO_URLSAFE)
        return f"{prefix}.{self.current}.{token.rstrip(b'=').decode()}"

    def _open(self, expected: str, stored: str, associated: bytes) -> bytes:
        try:
            prefix, key_id, token = stored.split(".", 2)
        except ValueError as exc:
            raise KeyError_("not an encrypted value") from exc
        if prefix != expected:
            raise KeyError_(f"not an {expected} value")
        ciphers: dict[str, AESGCM] = self._ciphers  # type: ignore[attr-defined]
        if (cipher := ciphers.get(key_id)) is None:
            raise KeyError_(f"no key {key_id!r} in the keyring: was it rotated away?")
        # base64url without padding; what urlsafe_b64decode does, in one call
        raw = binascii.a2b_base64(
            (token + "=" * (-len(token) % 4)).encode().translate(_FROM_URLSAFE)
        )
        return cipher.decrypt(raw[:12], raw[12:], associated)

    def key_id_of(self, stored: str) -> str | None:
        parts = stored.split(".", 2)
        return parts[1] if len(parts) == 3 and parts[0] in (PREFIX, BOUND) else None

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


def keyring_of(dialect: Dialect) -> Keyring | None:
    return getattr(dialect, "encompass_keyring", None)


def attach(dialect: Dialect, keyring: Keyring | None) -> None:
    dialect.encompass_keyring = keyring  # type: ignore[attr-defined]


def refuse_plaintext(dialect: Dialect) -> None:
    """Every value in this database is encrypted (foundations/identity.py says so): from now on
    a value that is not is refused when read, not passed through. Someone who can write to
    the database but does not hold the key cannot slip a forged value in as plaintext."""
    dialect.encompass_refuse_plaintext = True  # type: ignore[attr-defined]


def refuse_unbound(dialect: Dialect) -> None:
    """Every value in this database is bound to its row (``enc2``; foundations/identity.py
    says so): from now on an ``enc1`` value is refused when read. Someone who can write to
    the database cannot put an old unbound value, copied from another row, where it would
    still decrypt."""
    dialect.encompass_refuse_unbound = True  # type: ignore[attr-defined]


class PlaintextRefused(KeyError_):
    """A value in an encrypted column that is not encrypted, where none may be."""


class UnboundRefused(KeyError_):
    """An ``enc1`` value (bound to no row) where every value must be bound to its row."""


class NotThisRow(KeyError_):
    """An ``enc2`` value that does not decrypt where it was read: sealed for another row or
    column and copied or moved here, or altered."""


class UnboundWrite(KeyError_):
    """A value for an encrypted column written, or read, without the row it belongs to."""


# --- which table, column and row a value belongs to ------------------------------------------


def bound_to(*columns: str) -> dict[str, Any]:
    """In ``__table_args__`` of a table with encrypted columns: the columns that name a row
    for the associated data. Each is known before the row is inserted and never changes: a
    natural key, or ``row_key`` (random, made when the row is first written)."""
    return {"info": {ROW_IDENTITY: tuple(columns)}}


def new_row_key() -> str:
    """A row's random name, for tables whose primary key is known only once inserted."""
    return secrets.token_hex(16)


def row_parts(values: Sequence[Any]) -> tuple[str, ...]:
    """A row's identity as text, as SQL's ``CAST(... AS VARCHAR)`` gives it too."""
    parts = []
    for value in values:
        if value is None:
            raise UnboundWrite("a column that names the row is empty: its values cannot be bound")
        text = str(value)
        if SEP in text:
            raise UnboundWrite("a column that names the row holds a control character")
        parts.append(text)
    return tuple(parts)


def associated_data(table: str, column: str, row: Sequence[str]) -> bytes:
    """What an ``enc2`` value is bound to: its table, its column and its row."""
    return SEP.join((BOUND, table, column, *row)).encode()


def row_name(values: Sequence[Any]) -> bytes:
    """A row's identity as the last part of its values' associated data."""
    return SEP.join(row_parts(values)).encode()


class InRow:
    """A value on its way to an encrypted column with the identity of its row
    (``row_name``): what a Core INSERT or UPDATE passes instead of the bare value."""

    __slots__ = ("row", "value")  # one per value the ORM writes: kept small

    def __init__(self, value: Any, row: bytes) -> None:
        self.value, self.row = value, row

    def __repr__(self) -> str:
        return "InRow(…)"  # never the value: statement errors print their parameters


def identity_of(table: Table) -> tuple[str, ...]:
    """The columns that name a row of ``table`` (``bound_to``)."""
    identity: tuple[str, ...] = tuple(table.info.get(ROW_IDENTITY) or ())
    if not identity:
        raise UnboundWrite(
            f"table {table.name} has encrypted columns but names no row identity: give it "
            "bound_to(...) in __table_args__"
        )
    return identity


def _open_unbound(stored: str, dialect: Dialect, where: str) -> str:
    """The plaintext of a stored value that is not ``enc2``: ``enc1``, and a value from
    before encryption, are read until the database records that none is left."""
    if stored.startswith(_UNBOUND_DOT):
        if getattr(dialect, "encompass_refuse_unbound", False):
            raise UnboundRefused(
                f"a value in {where} is encrypted without its row (enc1), where every value "
                "is bound to its row: refused (copied from an older copy, or forged)"
            )
        ring = keyring_of(dialect)
        if ring is None:
            raise KeyError_("encrypted data but no data key: set ENCOMPASS_DATA_KEY")
        return ring.decrypt(stored).decode()
    if getattr(dialect, "encompass_refuse_plaintext", False):
        raise PlaintextRefused(
            "a value in an encrypted column is not encrypted: refused (written without "
            "the data key, or forged)"
        )
    return stored


_BOUND_DOT, _UNBOUND_DOT = BOUND + ".", PREFIX + "."
# The separator as SQL text (a literal: PostgreSQL cannot type ``unknown || unknown``).
_SEP_SQL = _sql(f"'{SEP}'", String)
_EMPTY_SQL = _sql("''", String)


class Encrypted(TypeDecorator[_T]):
    """Text in the database, sealed for its table, column and row (module docstring)."""

    impl = Text
    cache_ok = True
    # (table, column, the columns naming a row, the associated data before the row's part):
    # set when the column joins its table.
    _place: tuple[Table, str, tuple[str, ...], bytes] | None = None

    def _dump(self, value: _T) -> str:
        raise NotImplementedError

    def _load(self, text: str) -> _T:
        raise NotImplementedError

    def bind_to_column(self, table: Table, column: str) -> None:
        if self._place is None:
            head = associated_data(table.name, column, ("",))  # the row's part comes last
            self._place = (table, column, identity_of(table), head)
        elif (self._place[0].name, self._place[1]) != (table.name, column):
            raise UnboundWrite(
                f"one encrypted type object is used for {self._place[0].name}."
                f"{self._place[1]} and {table.name}.{column}: give each column its own"
            )

    def _where(self) -> tuple[Table, str, tuple[str, ...], bytes]:
        if self._place is None:
            raise UnboundWrite("an encrypted type is used outside a table's column")
        return self._place

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        row = None
        if type(value) is InRow:
            value, row = value.value, value.row
        if value is None:
            return None
        text = self._dump(value)
        ring = keyring_of(dialect)
        if ring is None:
            return text
        table, column, _, head = self._where()
        if row is None:
            raise UnboundWrite(
                f"a value for {table.name}.{column} is written without its row: the ORM "
                "binds a row's values when it flushes it; a Core INSERT or UPDATE passes "
                "them with write_rows(...) or InRow(value, row_name(...)) (foundations/crypto.py)"
            )
        return ring.seal(text.encode(), head + row)

    def column_expression(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        """What a SELECT reads: the row's identity, then the stored text, so that the value
        is opened for the row it is read from, whatever the query."""
        return type_coerce(self._with_row(colexpr), self)

    def sealed(self, colexpr: ColumnElement[Any]) -> ColumnElement[str]:
        """What ``column_expression`` reads, as text left sealed, for ``open_all``: a query
        reading hundreds of values at once (the matcher's candidate rows) opens them in one
        loop, without a call through SQLAlchemy's result processing for each."""
        return type_coerce(self._with_row(colexpr), Text)

    def _with_row(self, colexpr: ColumnElement[Any]) -> ColumnElement[Any]:
        table, column, identity, _ = self._where()
        source: Any = colexpr
        while isinstance(source, Label):
            source = source.element
        selectable = getattr(source, "table", None)
        expression: ColumnElement[Any] | None = None
        for name in identity:
            part = None
            if selectable is not None:
                part = selectable.corresponding_column(table.c[name])
                if part is None:
                    part = selectable.c.get(name)
            if part is None:
                names = ", ".join(identity)
                raise UnboundWrite(
                    f"{table.name}.{column} is read without the columns that name its row "
                    f"({names}): read it from its table, or together with them"
                )
            as_text = part if isinstance(part.type, String) else cast(part, String)
            text = func.coalesce(as_text, _EMPTY_SQL)  # never NULL: that would hide the value
            expression = text if expression is None else expression.concat(_SEP_SQL).concat(text)
        assert expression is not None
        return expression.concat(_SEP_SQL).concat(colexpr)

    def process_result_value(self, value: str | None, dialect: Dialect) -> _T | None:
        """``value`` is the row's identity, then the stored text (``column_expression``)."""
        return self.open_all((value,), dialect)[0]

    def open_all(self, values: Sequence[str | None], dialect: Dialect) -> list[_T | None]:
        """Each of ``values`` as ``column_expression`` reads it (or ``sealed``), opened
        for the row it was read from; None stays None."""
        table, column, identity, head = self._place or self._where()
        ring = keyring_of(dialect)
        load = self._load
        opened: list[_T | None] = []
        for value in values:
            if value is None:
                opened.append(None)
                continue
            pieces = value.split(SEP, len(identity))
            if len(pieces) <= len(identity):
                raise UnboundWrite(f"{table.name}.{column} was read without its row")
            stored = pieces[-1]
            if not stored.startswith(_BOUND_DOT):
                opened.append(load(_open_unbound(stored, dialect, f"{table.name}.{column}")))
                continue
            if ring is None:
                raise KeyError_("encrypted data but no data key: set ENCOMPASS_DATA_KEY")
            row = value[: len(value) - len(stored) - 1]  # the parts with their separators
            try:
                opened.append(load(ring.unseal(stored, head + row.encode()).decode()))
            except InvalidTag as exc:
                raise NotThisRow(
                    f"a value in {table.name}.{column} does not decrypt for its row and "
                    "column: it was copied or moved there from another row or column, or "
                    "altered; refused"
                ) from exc
        return opened


@event.listens_for(Column, "after_parent_attach")
def _place_encrypted_column(column: Column[Any], parent: Any) -> None:
    if isinstance(column.type, Encrypted) and isinstance(parent, Table):
        column.type.bind_to_column(parent, column.name)


class EncryptedText(Encrypted[str]):
    """A string encrypted with the engine's keyring (stored as text)."""

    cache_ok = True

    def _dump(self, value: str) -> str:
        return value

    def _load(self, text: str) -> str:
        return text


class EncryptedJSON(Encrypted[Any]):
    """A JSON document encrypted as a whole."""

    cache_ok = True

    def _dump(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def _load(self, text: str) -> Any:
        try:
            value, end = _SCAN_JSON(text, 0)
        except StopIteration:
            end = -1
        return value if end == len(text) else json.loads(text)  # json says what is wrong


# The C scanner ``json.loads`` ends in, without its two frames and two regular expressions:
# a pupil's match record is read hundreds of times by one lookup at 9 M pupils (a third of
# the cost of opening it). Anything it does not read whole, ``json.loads`` reads.
_SCAN_JSON = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


class EncryptedDate(Encrypted[date]):
    """A date encrypted as its ISO text; look it up through a ``BlindIndex`` column."""

    cache_ok = True

    def _dump(self, value: date) -> str:
        return value.isoformat()

    def _load(self, text: str) -> date:
        return date.fromisoformat(text)


class BlindIndex(TypeDecorator[str]):
    """A keyed hash of a lookup key: equal values stay equal (so ``==`` and ``in_`` work,
    with the query's values hashed the same way), but the stored text reveals nothing."""

    impl = String(200)  # 32 hex characters when keyed; the key itself without a keyring
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return blind_value(keyring_of(dialect), value)


def blind_value(ring: Keyring | None, value: Any) -> str:
    """What a ``BlindIndex`` column stores for ``value``: its keyed hash, "" for "", the text
    itself without a keyring (also for rows the directory import prepares apart)."""
    text = value.isoformat() if isinstance(value, date) else str(value)
    return ring.blind(text) if ring and text else text
