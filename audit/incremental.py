"""The /audit page's check of the trail, made incremental.

``encompass audit verify`` (``audit.verify.verify_all``) recomputes every row's hash and
the Merkle root under every signed tree head: right for an auditor's check, too slow for a
page that auditors load many times a day on a trail that only grows. The page instead keeps
(table ``audit_chain_checks``) the last row it checked with its hash, the compact range of
the Merkle tree over the rows so far (a handful of subtree roots, ``audit.merkle``), the
number and size of the last signed head checked and a digest of the heads checked. A load
then reads only:

- the row where the last check stopped, which must still carry the hash it had (a rewrite
  of any earlier row that kept the chain consistent would have changed it);
- the rows added since, chained on from that row, their leaves added to the compact range;
- the signed heads not yet checked (their signature, their place in the sequence, and the
  root of the rows they sign, read from the compact range when the head is reached);
- the list of heads, hashed (no signature checks) to see that those checked are unchanged.

Anything that does not hold sends the page to the full check, which finds and names the
problem; the remembered progress moves only after a check that found nothing. A change to
an old row that breaks its own hash, or an edit of this table, escapes the page until the
next full check: ``encompass audit verify`` always runs the full one, and auditors can ask
the page for it (``/audit?full=1``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audit import checkpoints, merkle
from audit.ledger import GENESIS, verify_rows
from audit.verify import verify_all
from foundations import identity
from foundations.clock import utcnow
from foundations.models import AuditEvent, ChainCheck
from foundations.settings import Settings
from foundations.startup import StartupRefused

STATE = "console"


class Recheck(Exception):
    """What the incremental check cannot vouch for: the full check must run."""


@dataclass
class Progress:
    rows: int = 0
    last_hash: str = GENESIS
    frontier: list[bytes] = field(default_factory=list)
    heads: int = 0
    head_size: int = 0
    heads_digest: str = hashlib.sha256(b"").hexdigest()

    @classmethod
    def of(cls, state: ChainCheck | None) -> Progress:
        if state is None:
            return cls()
        return cls(
            state.rows,
            state.last_hash,
            [bytes.fromhex(h) for h in state.frontier],
            state.heads,
            state.head_size,
            state.heads_digest,
        )


@dataclass(frozen=True)
class Extended:
    progress: Progress
    new_rows: int
    new_heads: int
    database_id: str


def heads_digest(heads: Iterable[checkpoints.TreeHead]) -> str:
    digest = hashlib.sha256()
    for head in heads:
        digest.update(json.dumps(head.as_dict(), sort_keys=True).encode() + b"\n")
    return digest.hexdigest()


def _all_heads(
    session: Session, settings: Settings, this_database: str
) -> tuple[list[checkpoints.TreeHead], Ed25519PublicKey | None]:
    """Every signed head, the file's copy where both have one (as ``check_heads`` reads
    them), and the public key when there are heads. Listing and hashing them is cheap; only
    new ones are verified. A head that names another database (``checkpoints.foreign_heads``,
    the rule ``verify_all`` applies) sends the page to the full check, which says so."""
    file_heads, file_problems = checkpoints.read_file(settings.checkpoint_path)
    if file_problems:
        raise Recheck("; ".join(file_problems))
    stored = checkpoints.db_heads(session)
    public: Ed25519PublicKey | None = None
    if file_heads or stored:
        public_path = checkpoints.public_path(settings.signing_key_path)
        if not public_path.exists():
            raise Recheck(f"signed tree heads exist but no public key at {public_path}")
        public = checkpoints.load_public_key(public_path)
        for heads, where in ((file_heads, "the checkpoint file"), (stored, "the database")):
            _, foreign = checkpoints.foreign_heads(heads, this_database, public, where)
            if foreign:
                raise Recheck(foreign[0])
    in_file = {h.number for h in file_heads}
    if any(h.number not in in_file for h in stored):
        raise Recheck("a signed head in the database is not in the checkpoint file")
    merged = {**{h.number: h for h in stored}, **{h.number: h for h in file_heads}}
    heads = sorted(merged.values(), key=lambda h: h.number)
    if [h.number for h in heads] != list(range(1, len(heads) + 1)):
        raise Recheck("signed heads are missing")
    return heads, public


def extend(session: Session, settings: Settings, start: Progress) -> Extended:
    """Check what was added since ``start``; raises :class:`Recheck` on anything amiss."""
    if start.rows:
        stop = session.get(AuditEvent, start.rows)
        if stop is None or stop.hash != start.last_hash:
            raise Recheck(f"row {start.rows}, checked before, is not as it was")
    try:  # the full check counts a database without its identity row as a problem too
        this_database = identity.database_id(session)
    except StartupRefused as exc:
        raise Recheck(str(exc)) from exc
    heads, public = _all_heads(session, settings, this_database)
    checked, pending = heads[: start.heads], heads[start.heads :]
    if len(checked) != start.heads or heads_digest(checked) != start.heads_digest:
        raise Recheck("signed heads checked before are not as they were")
    if pending:
        if public is None:  # _all_heads loads it whenever there are heads
            raise Recheck("signed tree heads exist but no public key was read")
        size = start.head_size
        for head in pending:
            if not checkpoints.signature_ok(head, public) or head.tree_size < size:
                raise Recheck(f"signed head {head.number} does not verify")
            size = head.tree_size

    wanted = {h.tree_size for h in pending}
    roots: dict[int, bytes] = {}
    frontier, size = list(start.frontier), start.rows
    if size in wanted:
        roots[size] = merkle.frontier_root(frontier)

    def walk(rows: Iterable[AuditEvent]) -> Iterator[AuditEvent]:
        nonlocal frontier, size
        for row in rows:
            yield row
            frontier = merkle.append_leaf(frontier, size, merkle.leaf_hash(bytes.fromhex(row.hash)))
            size += 1
            if size in wanted:
                roots[size] = merkle.frontier_root(frontier)

    new = session.execute(
        select(AuditEvent)
        .where(AuditEvent.seq > start.rows)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=1000)
    ).scalars()
    chain = verify_rows(walk(new), after=(start.rows, start.last_hash))
    if not chain.ok:
        raise Recheck(f"row {chain.first_broken_seq}: {chain.problem}")
    for head in pending:
        if head.tree_size > size:
            raise Recheck(f"signed head {head.number} covers rows the trail does not have")
        root = roots.get(head.tree_size)
        if root is None:  # a head over rows checked before it was signed: rare, read them
            root = merkle.root(checkpoints.leaves(session, upto=head.tree_size))
        if root.hex() != head.root:
            raise Recheck(f"signed head {head.number} does not match the rows it signs")
    progress = Progress(
        size,
        chain.last_hash,
        frontier,
        len(heads),
        pending[-1].tree_size if pending else start.head_size,
        heads_digest(heads),
    )
    return Extended(progress, chain.rows, len(pending), this_database)


def _save(session: Session, state: ChainCheck | None, p: Progress, *, full: bool) -> None:
    now = utcnow()
    values = {
        "rows": p.rows,
        "last_hash": p.last_hash,
        "frontier": [h.hex() for h in p.frontier],
        "heads": p.heads,
        "head_size": p.head_size,
        "heads_digest": p.heads_digest,
        "checked_at": now,
        **({"full_at": now} if full else {}),
    }
    if state is not None:
        for name, value in values.items():
            setattr(state, name, value)
        session.flush()
        return
    try:
        with session.begin_nested():  # two first loads at once: one remembers, both show
            session.add(ChainCheck(name=STATE, **values))
    except IntegrityError:
        pass


def _full(session: Session, settings: Settings, state: ChainCheck | None) -> dict[str, Any]:
    """The full check's verdict and problems; when it finds none, the progress is rebuilt
    from the start, so the next load is incremental again."""
    result = verify_all(session, settings)
    result.update(mode="full", new_rows=result["rows_verified"], new_heads=None)
    if result["ok"]:
        try:
            done = extend(session, settings, Progress())
        except Recheck:  # rows or heads added between the two reads: next time
            return result
        _save(session, state, done.progress, full=True)
    return result


def check(session: Session, settings: Settings, *, full: bool = False) -> dict[str, Any]:
    """What the /audit page shows: ``verify_all``'s keys, with ``mode`` ("incremental" or
    "full"), ``new_rows`` and ``new_heads`` checked by this call, and ``full_at``."""
    state = session.get(ChainCheck, STATE, with_for_update=True)
    full_at: datetime | None = state.full_at if state is not None else None
    if full:
        return {**_full(session, settings, state), "full_at": utcnow()}
    try:
        done = extend(session, settings, Progress.of(state))
    except Recheck:
        result = _full(session, settings, state)
        return {**result, "full_at": utcnow() if result["ok"] else full_at}
    _save(session, state, done.progress, full=state is None)
    p = done.progress
    return {
        "ok": True,
        "mode": "incremental" if state is not None else "full",
        "rows": p.rows,
        "rows_verified": p.rows,
        "first_broken_seq": None,
        "problem": "",
        "problems": [],
        "head": p.last_hash,
        "signed_heads": p.heads,
        "latest_signed_head": p.heads or None,
        "misplaced_heads": [],
        "database_id": done.database_id,
        "new_rows": done.new_rows,
        "new_heads": done.new_heads,
        "full_at": full_at if state is not None else utcnow(),
    }
