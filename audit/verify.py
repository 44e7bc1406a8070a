"""The whole audit trail checked: the chain row by row, then every signed tree head, here
and in the checkpoint file, against the rows (``encompass audit verify``, the console's
audit page)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from audit import checkpoints
from audit.ledger import verify as verify_chain
from foundations import identity
from foundations.settings import Settings
from foundations.startup import StartupRefused


def verify_all(session: Session, settings: Settings) -> dict[str, Any]:
    """The chain row by row, then every signed tree head against the rows."""
    chain = verify_chain(session)
    problems: list[str] = []
    if not chain.ok:
        problems.append(f"row {chain.first_broken_seq}: {chain.problem}")
    try:
        this_database: str | None = identity.database_id(session)
    except StartupRefused as exc:
        this_database = None
        problems.append(str(exc))
    file_heads, file_problems = checkpoints.read_file(settings.checkpoint_path)
    problems += file_problems
    stored = checkpoints.db_heads(session)
    public_path = checkpoints.public_path(settings.signing_key_path)
    misplaced: list[str] = []
    if file_heads or stored:
        if not public_path.exists():
            problems.append(f"signed tree heads exist but no public key at {public_path}")
        else:
            public = checkpoints.load_public_key(public_path)
            # Heads of another database are not checked against these rows: said plainly.
            file_heads, found = checkpoints.foreign_heads(
                file_heads, this_database, public, f"the checkpoint file {settings.checkpoint_path}"
            )
            misplaced += found
            stored, found = checkpoints.foreign_heads(
                stored, this_database, public, "the database's table of heads"
            )
            misplaced += found
            problems += misplaced
            problems += checkpoints.check_heads(
                checkpoints.leaves(session), file_heads, stored, public
            )
    latest = max((h.number for h in [*file_heads, *stored]), default=None)
    return {
        "ok": not problems,
        # Problems that are another database's heads here, not damage to this trail.
        "misplaced_heads": misplaced,
        "rows": chain.rows if chain.ok else None,
        "rows_verified": chain.rows,
        "first_broken_seq": chain.first_broken_seq,
        "problem": chain.problem,
        "problems": problems,
        "head": chain.last_hash,
        "signed_heads": len({h.number for h in [*file_heads, *stored]}),
        "latest_signed_head": latest,
        "database_id": this_database,
    }
