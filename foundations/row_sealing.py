"""The ORM binds a row's encrypted values to the row when it writes it
(``foundations.crypto``, ``enc2``): before an insert or update each changed value is
wrapped with the row's identity (``InRow``), the column type seals it for that row, and
after the write the attribute holds the value as it was. The columns that name a row
cannot change once written. The directory imports' bulk writes seal the same way
(``write_rows``)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Table, Text, bindparam, event, insert, inspect, update
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import FromClause

from foundations.crypto import (
    ROW_KEY,
    Encrypted,
    InRow,
    Keyring,
    UnboundWrite,
    identity_of,
    keyring_of,
    new_row_key,
    row_name,
)


def seal_on_flush(base: type[Any]) -> None:
    """Every class mapped under ``base`` binds its encrypted values to its row when the ORM
    writes it, and has them back as they were once written."""
    event.listen(base, "before_insert", _before_insert, propagate=True)
    event.listen(base, "before_update", _before_update, propagate=True)
    event.listen(base, "after_insert", _after_write, propagate=True)
    event.listen(base, "after_update", _after_write, propagate=True)


@cache
def _flushed(mapper: Mapper[Any]) -> tuple[tuple[tuple[str, Column[Any]], ...], tuple[str, ...]]:
    """A mapper's encrypted attributes with their columns, and its identity attributes."""
    table = mapper.local_table
    assert isinstance(table, Table)
    encrypted = encrypted_in(table)
    if not encrypted:
        return (), ()
    key = mapper.get_property_by_column
    identity = tuple(key(table.c[name]).key for name in identity_of(table))
    return tuple((key(c).key, c) for c in encrypted), identity


def _before_insert(mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    encrypted, identity = _flushed(mapper)
    if not encrypted:
        return
    values = inspect(target).dict
    if ROW_KEY in identity and values.get(ROW_KEY) is None:
        setattr(target, ROW_KEY, new_row_key())
    row = row_name([values.get(name) for name in identity])
    for key, column in encrypted:
        value = values[key] if key in values else default_of(column)
        if isinstance(value, InRow):
            value = value.value
        if value is not None:
            values[key] = InRow(value, row)


def _before_update(mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    encrypted, identity = _flushed(mapper)
    if not encrypted:
        return
    state = inspect(target)
    for name in identity:
        if state.attrs[name].history.has_changes():
            raise UnboundWrite(
                f"{mapper.local_table.description}: the columns that name a row "
                f"({', '.join(identity)}) cannot change, its encrypted values are bound to them"
            )
    changed = [key for key, _ in encrypted if key in state.committed_state]
    values = state.dict
    changed = [key for key in changed if values.get(key) is not None]
    if not changed:
        return
    row = row_name([getattr(target, name) for name in identity])
    for key in changed:
        value = values[key]
        values[key] = InRow(value.value if isinstance(value, InRow) else value, row)


def _after_write(mapper: Mapper[Any], _connection: Any, target: Any) -> None:
    encrypted, _ = _flushed(mapper)
    values = inspect(target).dict
    for key, _column in encrypted:
        value = values.get(key)
        if isinstance(value, InRow):
            values[key] = value.value


# --- the directory imports' bulk writes, and what they share with the ORM's -------------------


@cache
def encrypted_in(table: Table) -> tuple[Column[Any], ...]:
    return tuple(c for c in table.columns if isinstance(c.type, Encrypted))


def default_of(column: Column[Any]) -> Any:
    """The Python-side default of an encrypted column (``""``, ``list``), for a row that
    leaves it out: SQLAlchemy would apply it after the value could be bound."""
    default: Any = column.default
    if default is None or getattr(default, "is_sequence", False):
        return None
    if getattr(default, "is_callable", False):
        return default.arg(None)
    return default.arg if getattr(default, "is_scalar", False) else None


def write_rows(
    session: Session, table: FromClause, rows: Sequence[dict[str, Any]], *, key: str | None = None
) -> None:
    """A bulk INSERT of ``rows`` into ``table`` (``key`` None), or an UPDATE of each row by
    its ``key`` column: how the directory imports write. Each encrypted value is sealed here
    for its row, named by the row itself (so an UPDATE names it too), and bound as the text
    it now is: no object per value is made or passed through the column type, which keeps
    an import of a million pupils as quick as before the binding. A new row gets its
    ``row_key`` and the defaults of the encrypted columns it leaves out."""
    assert isinstance(table, Table)
    if not rows:
        return
    ring = keyring_of(session.get_bind().dialect)
    encrypted = encrypted_in(table) if ring is not None else ()
    if ring is not None and encrypted:
        rows = sealed_rows(ring, table, encrypted, rows, inserting=key is None)
    # The sealed values bound as the text they are; every other column as its type says.
    sealed = {c.key: bindparam(c.key, type_=Text()) for c in encrypted if c.key in rows[0]}
    if key is None:
        statement = insert(table)
        session.execute(statement.values(sealed) if sealed else statement, rows)
        return
    by: BindParameter[Any] = bindparam("_where_" + key)  # the name of no column
    params = [{**{k: v for k, v in r.items() if k != key}, by.key: r[key]} for r in rows]
    where = update(table).where(table.c[key] == by)
    session.execute(where.values(sealed) if sealed else where, params)


def sealed_rows(
    ring: Keyring,
    table: Table,
    encrypted: Sequence[Column[Any]],
    rows: Sequence[dict[str, Any]],
    *,
    inserting: bool,
) -> list[dict[str, Any]]:
    """``rows`` with each encrypted value sealed for its row (as text), for ``write_rows`` and
    for the rows the directory import prepares in worker processes."""
    identity = identity_of(table)
    make_key = inserting and ROW_KEY in identity
    plan = []
    for column in encrypted:
        kind: Encrypted[Any] = column.type  # type: ignore[assignment]
        plan.append((column.key, kind._dump, kind._where()[3], column))
    seal = ring.seal
    done = []
    for given in rows:
        values = dict(given)
        if make_key and values.get(ROW_KEY) is None:
            values[ROW_KEY] = new_row_key()
        try:
            row = row_name([values[name] for name in identity])
        except KeyError as exc:
            raise UnboundWrite(
                f"{table.name}: a row written with encrypted values must name its identity "
                f"({', '.join(identity)})"
            ) from exc
        for key, dump, head, column in plan:
            if key in values:
                value = values[key]
            elif inserting:
                value = default_of(column)
            else:
                continue
            if type(value) is InRow:
                value = value.value
            values[key] = None if value is None else seal(dump(value).encode(), head + row)
        done.append(values)
    return done
