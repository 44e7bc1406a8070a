"""``encompass keys rotate``: a new data key, and every encrypted value re-encrypted with it.

With a key file, rotation adds the new key to the file; with ``ENCOMPASS_DATA_KEY``, add the
new ``id:key`` entry at the end yourself, then run this to re-encrypt. Old keys stay in the
keyring until nothing is encrypted with them (``rotate`` reports what is left).
The database's key canary (broker/identity.py) is re-encrypted with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, MetaData, Table, Text, cast, literal, select, update

from broker.crypto import PREFIX, EncryptedDate, EncryptedJSON, EncryptedText, Keyring
from broker.identity import refuse_plaintext_from_now, rewrite_canary

ENCRYPTED_TYPES = (EncryptedText, EncryptedJSON, EncryptedDate)


@dataclass
class Rotation:
    values: int = 0
    rows: int = 0
    plaintext_encrypted: int = 0
    plaintext_refused: bool = False


def encrypted_columns(metadata: MetaData) -> dict[Table, list[str]]:
    found: dict[Table, list[str]] = {}
    for table in metadata.sorted_tables:
        names = [c.name for c in table.columns if isinstance(c.type, ENCRYPTED_TYPES)]
        if names:
            found[table] = names
    return found


def reencrypt(engine: Engine, keyring: Keyring, metadata: MetaData, batch: int = 2000) -> Rotation:
    """Re-encrypt every value not under the current key; plaintext left from before
    encryption was switched on is encrypted too. Reads and writes the stored text itself
    (cast to TEXT), so the column types neither decrypt nor encrypt it a second time."""
    done = Rotation()
    for table, columns in encrypted_columns(metadata).items():
        pk = next(iter(table.primary_key.columns))
        stored = [cast(table.c[name], Text()) for name in columns]
        last = None
        while True:
            query = select(pk, *stored).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            with engine.begin() as conn:
                rows = conn.execute(query).all()
                for row in rows:
                    changes: dict[str, str] = {}
                    for name, value in zip(columns, row[1:], strict=True):
                        if value is None or keyring.key_id_of(value) == keyring.current:
                            continue
                        if value.startswith(PREFIX + "."):
                            plain = keyring.decrypt(value)
                        else:
                            plain = value.encode()
                            done.plaintext_encrypted += 1
                        changes[name] = keyring.encrypt(plain)
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
    return done
