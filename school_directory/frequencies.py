"""How common each name is on the roll, for the matcher's term-frequency weights.

An exact agreement on "Maszkiewicz" says far more than one on "Smith": one pupil in a
million shares the first, ten thousand the second. The counts are kept by blind index
(``name_frequencies``), rebuilt from the pupils table after each pupil import, and read
with one primary-key lookup per child; ``match_weights.rarity_bits`` turns them into bits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache

from sqlalchemy import (
    BindParameter,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    table,
)
from sqlalchemy import column as column_of
from sqlalchemy.orm import Session

from foundations.database import forget_per_transaction, per_transaction
from foundations.models import NameFrequency, Pupil
from school_directory.match_weights import Rarity, load_weights, name_share, rarity_bits
from school_directory.matching import ChildRecord

ROLL = ("roll", "")  # the row holding the roll's size


def refresh(session: Session) -> None:
    """Count every family name and first given name on the roll again (in the caller's
    transaction, so a matcher never sees counts from half an import)."""
    forget_per_transaction(session)  # the counts ``read_counts`` kept for this transaction
    session.execute(delete(NameFrequency))
    for kind, column in (("family", Pupil.family_name_key), ("given", Pupil.given_name_key)):
        counted = select(literal(kind), column, func.count()).group_by(column)
        session.execute(insert(NameFrequency).from_select(["kind", "key", "pupils"], counted))
    session.execute(
        insert(NameFrequency).from_select(
            ["kind", "key", "pupils"],
            select(literal(ROLL[0]), literal(ROLL[1]), func.count(Pupil.id)),
        )
    )


# name_frequencies without its column types: the counted keys are written as stored
# (already keyed hashes), not hashed again as a ``BlindIndex`` would on the way in.
_STORED = table(
    NameFrequency.__tablename__, column_of("kind"), column_of("key"), column_of("pupils")
)


def store(session: Session, family: Counter[str], given: Counter[str]) -> None:
    """The counts as ``refresh`` would make them, from the stored keys of every row of the
    roll counted as they were inserted (``family_name_key``, ``given_name_key``): a first
    roll of nine million pupils is then not read back twice to be counted (docs/performance.md)."""
    forget_per_transaction(session)
    session.execute(delete(NameFrequency))
    rows = [{"kind": "family", "key": k, "pupils": n} for k, n in family.items()]
    rows += [{"kind": "given", "key": k, "pupils": n} for k, n in given.items()]
    rows.append({"kind": ROLL[0], "key": ROLL[1], "pupils": family.total()})
    for start in range(0, len(rows), 5_000):
        session.execute(insert(_STORED), rows[start : start + 5_000])


def names_of(child: ChildRecord) -> dict[str, str]:
    """The child's family name and first given name as the roll's counts key them."""
    first = child.given[:1] or child.known_as[:1]
    found = {"family": "".join(child.family), "given": first[0] if first else ""}
    return {kind: value for kind, value in found.items() if value}


@cache
def _counts() -> Select[str, str, int]:
    """The roll's size and the counts of one family name and one first given name: one
    statement, built once, the names bound as (blind-indexed) parameters."""
    column = NameFrequency.key
    return select(NameFrequency.kind, column, NameFrequency.pupils).where(
        or_(
            and_(NameFrequency.kind == ROLL[0], column == ROLL[1]),
            and_(NameFrequency.kind == "family", column == bindparam("family", type_=column.type)),
            and_(NameFrequency.kind == "given", column == bindparam("given", type_=column.type)),
        )
    )


_KEPT = "name_counts"  # per transaction: (kind, name) -> pupils; ROLL -> the roll's size


def _kept(session: Session) -> dict[tuple[str, str], int]:
    return per_transaction(session, _KEPT, dict)


@cache
def _batch_counts() -> Select[str, str, int]:
    """The roll's size and the counts of many names: their blind indexes are bound as
    they are (hashed by ``read_counts``, which needs them to tell the rows apart)."""
    column, kind = NameFrequency.key, NameFrequency.kind

    def hashed(name: str) -> BindParameter[str]:
        return bindparam(name, expanding=True, type_=String())

    return select(kind, column, NameFrequency.pupils).where(
        or_(
            and_(kind == ROLL[0], column == ROLL[1]),
            and_(kind == "family", column.in_(hashed("family"))),
            and_(kind == "given", column.in_(hashed("given"))),
        )
    )


def read_counts(session: Session, children: Iterable[ChildRecord]) -> None:
    """Read the counts of these children's names (an intake batch's) and the roll's size
    in one query, kept for the transaction, so that ``rarity`` asks nothing for each of
    them. ``refresh`` forgets them. A name not counted is kept as 0, as ``rarity`` reads
    a name with no row."""
    kept = _kept(session)
    wanted = {(kind, name) for child in children for kind, name in names_of(child).items()}
    wanted -= kept.keys()
    if not wanted:
        return
    connection = session.connection()
    blind = NameFrequency.__table__.c.key.type  # the column's own hashing, as a bind
    bind = blind.bind_processor(connection.dialect)
    keyed = {(kind, bind(name) if bind else name): (kind, name) for kind, name in wanted}
    params = {kind: sorted(key for k, key in keyed if k == kind) for kind in ("family", "given")}
    counts = dict.fromkeys(wanted, 0)
    roll = 0
    for kind, key, pupils in connection.execute(_batch_counts(), params):
        if kind == ROLL[0]:
            roll = pupils
        elif (kind, key) in keyed:
            counts[keyed[(kind, key)]] = pupils
    kept.update(counts)
    kept[ROLL] = roll


def rarity(session: Session, child: ChildRecord) -> Rarity:
    """The extra bits an exact agreement on this child's names is worth on this roll."""
    wanted = names_of(child)
    if not wanted:
        return Rarity()
    kept = _kept(session)
    counts: dict[str, int] = {}
    roll = 0
    if ROLL in kept and all(pair in kept for pair in wanted.items()):
        counts, roll = {kind: kept[(kind, name)] for kind, name in wanted.items()}, kept[ROLL]
    else:
        params = {"family": wanted.get("family", ""), "given": wanted.get("given", "")}
        for kind, _key, pupils in session.connection().execute(_counts(), params):
            if kind == ROLL[0]:
                roll = pupils
            elif kind in wanted:
                counts[kind] = pupils
    if not roll:  # counts never made (a roll loaded another way): weigh names as on average
        return Rarity()
    weights = load_weights()
    bits = {
        kind: rarity_bits(counts.get(kind, 0), roll, weights, f"{kind}_name") for kind in wanted
    }
    shares = {
        kind: name_share(counts.get(kind, 0), roll, weights, f"{kind}_name") for kind in wanted
    }
    return Rarity(
        family_bits=bits.get("family", 0.0),
        given_bits=bits.get("given", 0.0),
        family_share=shares.get("family"),
        given_share=shares.get("given"),
        roll=roll,
    )
