"""Candidate search: the few pupil records worth scoring, found through indexes only.

Each block is one indexed lookup; a child is compared only with the pupils that share at
least one block, so a lookup never scans the roll (docs/matching.md):

- family-name sound key and the date of birth, or with day and month swapped: finds a
  child whose given name is recorded as another name (a middle name, a pet name);
- given-name sound key (nicknames mapped to the formal name) and the date of birth, or
  with day and month swapped: finds a child whose family name changed;
- both sound keys and any likely corruption of the date of birth (one digit wrong, two
  neighbouring digits swapped), and both sound keys with the year of birth (or with no
  date of birth recorded, both sound keys alone), the child's own keys searched first so
  that a common name's many sound-alikes cannot crowd the child out of the block; for a
  name so common that a namesake born on another day cannot reach the review threshold
  from another district (or from another postcode), only the pupils of the child's
  district and of no known district (or of the child's postcode):
  ``Ranking.namesakes_to_read``;
- postcode: names mangled beyond recognition, a date wrong;
- the child's NHS number, when the police recorded a valid one: the pupil who carries it,
  whatever the names and the date of birth say (a family name changed, say);
- only when nothing above is likely: one sound key and any likely corruption of the date
  of birth (a typo in one name and a digit wrong in the date), then the officer's school
  hint and the birth year.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from functools import cache
from typing import Any, cast

from sqlalchemy import Select, bindparam, func, literal, or_, select, type_coerce, union_all
from sqlalchemy.orm import Session

from foundations.crypto import BlindIndex, Encrypted
from foundations.models import MATCH_RECORD, OPEN_STATUSES, Pupil, School, SchoolNameWord
from school_directory import names
from school_directory.comparisons import compare_school, dob_variants
from school_directory.matching import ChildRecord, Namesakes, PupilRow

Rows = Select[*tuple[Any, ...]]  # the candidate rows: the pupil columns the matcher reads
MAX_ROWS = 500  # rows a lookup reads, the strongest blocks' first; a block that may be
BLOCK_ROWS = 100  # wide has its own: the year-of-birth, no-date, postcode and school blocks
# The six personal fields (and the NHS number), one decryption a row; read sealed and
# opened together (``Encrypted.open_all``): a common name's lookup reads hundreds.
_RECORD = cast(Encrypted[list[str]], Pupil.__table__.c.match_record.type)
_SEALED = _RECORD.sealed(Pupil.__table__.c.match_record)
_COLUMNS = (
    Pupil.id,
    Pupil.upn,
    Pupil.urn,
    _SEALED,
    Pupil.on_roll_from,
    Pupil.on_roll_until,
)
# A row imported before the match record existed: its fields one by one (MATCH_RECORD).
_SEPARATE = select(Pupil.id, *(getattr(Pupil, f) for f in MATCH_RECORD)).where(
    Pupil.id.in_(bindparam("ids", expanding=True))
)


def search_keys(child: ChildRecord) -> tuple[set[str], set[str]]:
    """(the sound keys of the family name's words, those of the given names and known-as,
    with their formal forms)."""
    return (
        names.name_keys(" ".join(child.family)),
        names.name_keys(" ".join(child.given + child.known_as)),
    )


def _param(name: str) -> Any:
    return bindparam(name, expanding=True)


def _by_names(*conditions: Any) -> list[Select[Any]]:
    """Both sound keys, either way round (given and family names recorded swapped)."""
    straight = (Pupil.family_key.in_(_param("fam")), Pupil.given_key.in_(_param("giv")))
    crossed = (Pupil.family_key.in_(_param("giv")), Pupil.given_key.in_(_param("fam")))
    return [select(Pupil.id).where(*pair, *conditions) for pair in (straight, crossed)]


def _own_names(*conditions: Any) -> Select[Any]:
    """The child's own two keys (the whole family name, the first given name), before
    the sound-alikes of every part: a block cut at ``BLOCK_ROWS`` keeps the child."""
    own = (Pupil.family_key == bindparam("family_key"), Pupil.given_key == bindparam("given_key"))
    return select(Pupil.id).where(*own, *conditions)


@cache
def _statement(
    dated: bool,
    keyed: bool,
    paired: bool,
    addressed: bool,
    nhs: bool,
    namesakes: Namesakes,
    narrow: bool = True,
) -> Rows | None:
    """One statement per shape of police record, built once; the values are parameters,
    so the compiled form is cached too. None when no block applies. Without ``narrow``:
    the wide name blocks only (the namesakes read further, once the rest are ranked)."""
    born = Pupil.dob_key  # a blind index: the dates bound below are hashed the same way
    # A common name's namesakes born on another day, found only by the wide blocks below:
    # those of the child's district and of none known ("": no postcode, or a row imported
    # before the district was kept), or those at the child's postcode (search: none when
    # the child has no postcode, as those further away cannot reach review).
    nearby: tuple[Any, ...] = ()
    if namesakes is Namesakes.DISTRICT:
        nearby = (Pupil.district_key.in_(_param("districts")),)
    elif namesakes is Namesakes.POSTCODE:
        nearby = (Pupil.postcode_key == bindparam("postcode"),)
    wide = namesakes is not Namesakes.POSTCODE or addressed
    # Each block with its rank: when the blocks find more than MAX_ROWS, the rows of the
    # strongest evidence are kept (rows_query).
    found: list[tuple[int, Select[Any]]] = []
    if keyed and dated and narrow:
        near = born.in_(_param("near"))
        found += [
            # a given name recorded as another (a middle name, a pet name): family name
            # and birthday, or birthday with day and month swapped
            (1, select(Pupil.id).where(Pupil.family_key.in_(_param("keys")), near)),
            # a family name changed: given name and birthday
            (1, select(Pupil.id).where(Pupil.given_key.in_(_param("keys")), near)),
        ]
    if paired and dated:
        # a digit wrong in the date: both names and every likely corruption of it
        found += [(0, block) for block in _by_names(born.in_(_param("variants")))] if narrow else []
        # a date wrong altogether: both names and the year of birth
        year = (Pupil.birth_year_key == bindparam("year"), *nearby)
        if wide:
            found += _wide(_own_names(*year), _by_names(*year))
    elif paired and wide:
        found += _wide(_own_names(*nearby), _by_names(*nearby))
    if addressed and narrow:
        # names mangled beyond recognition, a date wrong: the children at that postcode
        at = select(Pupil.id).where(Pupil.postcode_key == bindparam("postcode"))
        found.append((2, at.limit(BLOCK_ROWS)))
    if nhs and narrow:
        # the pupil the child's NHS number names (a blind index: hashed the same way)
        numbered = select(Pupil.id).where(Pupil.nhs_key == bindparam("nhs"))
        found.append((0, numbered.limit(BLOCK_ROWS)))
    return rows_query(found) if found else None


def _wide(own: Select[Any], sound_alikes: list[Select[Any]]) -> list[tuple[int, Select[Any]]]:
    """The wide name blocks, each cut at BLOCK_ROWS: the child's own keys before the
    sound-alikes of every part."""
    return [(3, own.limit(BLOCK_ROWS))] + [(4, block.limit(BLOCK_ROWS)) for block in sound_alikes]


def search(
    child: ChildRecord, namesakes: Namesakes = Namesakes.EVERYWHERE, *, narrow: bool = True
) -> tuple[Rows, dict[str, Any]] | None:
    """The candidate query for one child and its parameters; None with nothing to search.
    ``namesakes``: which the wide name blocks read (``Ranking.namesakes_to_read``);
    without ``narrow``, only those blocks (``_statement``)."""
    family, given = search_keys(child)
    keys = sorted(family | given)
    born = child.date_of_birth
    if not keys and not child.postcode and not child.nhs_number:
        return None
    params: dict[str, Any] = {"keys": keys, "fam": sorted(family), "giv": sorted(given)}
    if born is not None:
        variants = dob_variants(born)
        swapped = [d for d in variants if (d.month, d.day) == (born.day, born.month)]
        params["near"] = [born, *swapped]
        params["variants"] = list(variants)
        params["year"] = str(born.year)
    if family and given:
        params |= _own_keys(child)
    if child.postcode:
        params["postcode"] = child.postcode
    if child.nhs_number:
        params["nhs"] = child.nhs_number
    district = names.postcode_district(child.postcode)
    if namesakes is Namesakes.DISTRICT and not district:
        namesakes = Namesakes.EVERYWHERE  # a postcode not in its written form
    if namesakes is Namesakes.DISTRICT:
        params["districts"] = [district, ""]
    shape = (born is not None, bool(keys), bool(family and given), bool(child.postcode))
    statement = _statement(*shape, bool(child.nhs_number), namesakes, narrow)
    return (statement, params) if statement is not None else None


@cache
def _fallback_statement() -> Rows:
    variants = Pupil.dob_key.in_(_param("variants"))
    own = (Pupil.family_key == bindparam("family_key"), Pupil.given_key == bindparam("given_key"))
    return rows_query([(0, select(Pupil.id).where(key, variants).limit(BLOCK_ROWS)) for key in own])


def fallback(session: Session, child: ChildRecord) -> list[PupilRow]:
    """For a child the blocks found no one likely for: pupils sharing the child's own
    family-name key or first-given-name key, and born on a likely corruption of the
    recorded date (a typo in one name and a digit wrong in the date). Wider than the
    blocks, so asked only then."""
    found = fallback_search(child)
    return _rows(session, *found) if found else []


def fallback_search(child: ChildRecord) -> tuple[Rows, dict[str, Any]] | None:
    """The wider query for one child and its parameters; None without a date of birth."""
    if child.date_of_birth is None:
        return None
    params = {"variants": list(dob_variants(child.date_of_birth)), **_own_keys(child)}
    return _fallback_statement(), params


def _own_keys(child: ChildRecord) -> dict[str, str | None]:
    """The keys the directory holds for a pupil of the child's names: the sound of the
    whole family name and of the formal form of the first given name (None, which
    matches no row, for a name not recorded)."""
    return {
        "family_key": names.family_key(" ".join(child.family)) or None,
        "given_key": names.given_key(" ".join(child.given or child.known_as)) or None,
    }


def rows_query(blocks: Sequence[tuple[int, Select[Any]]]) -> Rows:
    """The pupil rows found by any of ``blocks`` (their schools: ``schools_of``), each
    block with its rank: at most ``MAX_ROWS``, those found by the lowest ranks first (both
    names and a likely date, or the NHS number, before one name and the birthday, the
    postcode, then the name blocks cut at ``BLOCK_ROWS``), not whichever come first."""
    # Each block in its own subquery: SQLite allows no LIMIT inside a bare UNION member.
    parts = [select(block.subquery().c.id, literal(rank).label("rank")) for rank, block in blocks]
    found = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    kept = (
        select(found.c.id)
        .group_by(found.c.id)
        .order_by(func.min(found.c.rank), found.c.id)
        .limit(MAX_ROWS)
    )
    # ``IN``, not a join to the kept ids: SQLite then reads the rows in the table's order,
    # not the ranks', which is quicker (docs/performance.md, "The kept rows read in the
    # table's order")
    return select(*_COLUMNS).where(Pupil.id.in_(kept))


_SCHOOLS = select(School.urn, School.name, School.status).where(
    School.urn.in_(bindparam("urns", expanding=True))
)


def schools_of(session: Session, urns: set[str]) -> dict[str, tuple[str, bool]]:
    """Each school's name and whether it is open, read once a transaction: a lookup's
    hundreds of rows are at a few hundred of England's 22,000 schools, and the lookups of
    one transaction share most of them (joined to every row, they were a fifth of the
    candidate query's time at 9 M pupils: docs/performance.md)."""
    transaction = session.get_transaction()
    held = session.info.get("schools_of")
    if held is None or held[0] is not transaction:
        held = session.info["schools_of"] = (transaction, {})
    known: dict[str, tuple[str, bool]] = held[1]
    if missing := [urn for urn in urns if urn not in known]:
        found = session.connection().execute(_SCHOOLS, {"urns": sorted(missing)})
        known.update((urn, (name, status in OPEN_STATUSES)) for urn, name, status in found)
    return known


def _rows(session: Session, query: Rows, params: dict[str, Any]) -> list[PupilRow]:
    connection = session.connection()
    rows = connection.execute(query, params).all()
    records = _RECORD.open_all([row[3] for row in rows], connection.dialect)
    older: dict[int, Any] = {}
    if separate := [row[0] for row, record in zip(rows, records, strict=True) if record is None]:
        older = {r[0]: r[1:] for r in connection.execute(_SEPARATE, {"ids": separate})}
    schools = schools_of(session, {row[2] for row in rows})
    found = []
    for (pupil_id, upn, urn, _, start, until), record in zip(rows, records, strict=True):
        if (school := schools.get(urn)) is None:
            continue  # never: a pupil's school is a foreign key
        fields = record or older[pupil_id]
        given, family, preferred, born, gender, postcode = fields[:6]
        nhs = fields[6] if len(fields) > 6 else ""  # held only when the pupil has one
        if isinstance(born, str):
            born = date.fromisoformat(born)
        found.append(
            PupilRow(upn, urn, given, family, preferred, born, gender, postcode, start, until,
                     *school, nhs)
        )  # fmt: skip
    return found


def candidates(
    session: Session,
    child: ChildRecord,
    namesakes: Namesakes = Namesakes.EVERYWHERE,
    *,
    narrow: bool = True,
) -> list[PupilRow]:
    """Every pupil record sharing a block with the child, at most ``MAX_ROWS``; of the
    wide name blocks' namesakes, those ``namesakes`` says; ``narrow`` as ``search``."""
    found = search(child, namesakes, narrow=narrow)
    return _rows(session, *found) if found else []


def hinted_schools(session: Session, hint: str, limit: int = 5) -> list[str]:
    """The URNs of schools whose name fits the officer's hint ("Example Primary"): those
    sharing the hint's longest distinctive word (an index lookup), then compared whole."""
    words = names.school_words(hint)
    if not words:
        return []
    found = session.connection().execute(_schools_named(), {"word": max(words, key=len)})
    return [urn for urn, name in found if compare_school(hint, name) == "same"][:limit]


@cache
def _schools_named() -> Select[str, str]:
    return (
        select(School.urn, School.name)
        .join(SchoolNameWord, SchoolNameWord.urn == School.urn)
        .where(SchoolNameWord.word == bindparam("word"))
        .limit(200)
    )


def hinted(session: Session, child: ChildRecord) -> list[PupilRow]:
    """Pupils at the schools the officer's hint names, born within a year of the recorded
    date of birth and sharing a name key, given or family."""
    urns = hinted_schools(session, child.school_hint) if child.school_hint else []
    if not urns:
        return []
    keys = set.union(*search_keys(child))
    params: dict[str, Any] = {"urns": urns, "keys": sorted(keys)}
    if child.date_of_birth is not None:
        born = child.date_of_birth.year
        params["years"] = [str(y) for y in range(born - 1, born + 2)]
    return _rows(session, _hinted_statement("years" in params, bool(keys)), params)


@cache
def _hinted_statement(dated: bool, keyed: bool) -> Rows:
    block = select(Pupil.id).where(Pupil.urn.in_(_param("urns")))
    if dated:
        block = block.where(Pupil.birth_year_key.in_(_param("years")))
    if keyed:  # filters, not index lookups: the school and birth date index is the narrow one
        keys = _param("keys")
        block = block.where(
            or_(
                type_coerce(Pupil.family_key.concat(""), BlindIndex()).in_(keys),
                type_coerce(Pupil.given_key.concat(""), BlindIndex()).in_(keys),
            )
        )
    return rows_query([(0, block.limit(BLOCK_ROWS))])
