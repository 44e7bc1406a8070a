"""``encompass keys rotate``: a new data key, and every encrypted value re-encrypted with it.

With a key file, rotation adds the new key to the file; with ``ENCOMPASS_DATA_KEY``, add the
new ``id:key`` entry at the end yourself, then run this to re-encrypt. Old keys stay in the
keyring until nothing is encrypted with them (``rotate`` reports what is left).
The database's key canary (foundations/identity.py) is re-encrypted with the rest.

Every value comes out as ``enc2``, bound to its table, column and row: ``enc1`` values (bound
to no row, from before migration 0017) and values in clear are rewritten too, whatever their
key. Once none is left, the database records that neither is read any more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import Engine, MetaData, Select, Table, Text, cast, literal, select, update

from foundations.crypto import (
    BOUND,
    PREFIX,
    Encrypted,
    Keyring,
    NotThisRow,
    associated_data,
    identity_of,
    row_parts,
)
from foundations.identity import (
    refuse_plaintext_from_now,
    refuse_unbound_from_now,
    rewrite_canary,
)


@dataclass
class Rotation:
    values: int = 0
    rows: int = 0
    plaintext_encrypted: int = 0
    unbound_bound: int = 0  # enc1 values rewritten bound to their row
    plaintext_refused: bool = False
    unbound_refused: bool = False


def encrypted_columns(metadata: MetaData) -> dict[Table, list[str]]:
    found: dict[Table, list[str]] = {}
    for table in metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, Encrypted)]
        if names:
            found[table] = names
    return found


def stored_with_rows(table: Table, column: str, prefix: str) -> Select[Any]:
    """The stored text of ``column`` (as TEXT: the column type neither opens it nor asks
    for its row) where it starts with ``prefix``, then the columns that name its row."""
    stored = cast(table.c[column], Text())
    identity = [table.c[name] for name in identity_of(table)]
    return select(stored, *identity).where(stored.like(prefix + ".%"))


def open_stored(
    keyring: Keyring, table: Table, column: str, row: Sequence[Any], stored: str
) -> bytes:
    """The plaintext of a value as stored in ``table.column`` of the row named by ``row``:
    ``enc2`` opened for that row (``NotThisRow`` if it was sealed for another), ``enc1``
    as it is, a value in clear as its bytes."""
    if stored.startswith(BOUND + "."):
        try:
            return keyring.unseal(stored, associated_data(table.name, column, row_parts(row)))
        except InvalidTag as exc:
            raise NotThisRow(
                f"a value in {table.name}.{column} does not decrypt for its row and column: "
                "copied or moved there from another, or altered"
            ) from exc
    if stored.startswith(PREFIX + "."):
        return keyring.decrypt(stored)
    return stored.encode()


def reencrypt(engine: Engine, keyring: Keyring, metadata: MetaData, batch: int = 2000) -> Rotation:
    """Re-encrypt every value that is not ``enc2`` under the current key, bound to its row;
    plaintext left from before encryption was switched on is encrypted too. Reads and
    writes the stored text itself (cast to TEXT), so the column types neither decrypt nor
    encrypt it a second time."""
    done = Rotation()
    for table, columns in encrypted_columns(metadata).items():
        pk = next(iter(table.primary_key.columns))
        identity = [table.c[name] for name in identity_of(table)]
        stored = [cast(table.c[name], Text()) for name in columns]
        named = len(identity)
        last = None
        while True:
            query = select(pk, *identity, *stored).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            with engine.begin() as conn:
                rows = conn.execute(query).all()
                for row in rows:
                    names_row = row_parts(row[1 : 1 + named])
                    changes: dict[str, str] = {}
                    for name, value in zip(columns, row[1 + named :], strict=True):
                        if value is None:
                            continue
                        bound = value.startswith(BOUND + ".")
                        if bound and keyring.key_id_of(value) == keyring.current:
                            continue
                        if value.startswith(PREFIX + "."):
                            done.unbound_bound += 1
                        elif not bound:
                            done.plaintext_encrypted += 1
                        plain = open_stored(keyring, table, name, names_row, value)
                        changes[name] = keyring.seal(
                            plain, associated_data(table.name, name, names_row)
                        )
                    if changes:
                        conn.execute(
                            update(table)
                            .where(pk == row[0])
                            .values({table.c[n]: literal(v, Text()) for n, v in changes.items()})
                        )
                        done.values += len(changes)
                        done.rows += 1
            if len(rows) < batch:
                break
            last = rows[-1][0]
    rewrite_canary(engine, keyring)
    # Nothing left in clear: from now on a value in clear is refused, not passed through.
    done.plaintext_refused = refuse_plaintext_from_now(engine)
    # Nothing left bound to no row: from now on an enc1 value is refused too.
    done.unbound_refused = refuse_unbound_from_now(engine)
    return done
