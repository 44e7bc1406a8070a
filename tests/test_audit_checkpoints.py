"""Signed tree heads: someone who can write to the database but does not hold the signing
key cannot rewrite or truncate history unnoticed, and one row can be proved on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from audit import checkpoints
from audit.ledger import GENESIS, AuditAction, hash_of, record
from audit.verify import verify_all
from foundations.database import transaction
from foundations.models import AuditEvent
from foundations.settings import Settings
from tests.conftest import disable_audit_protection


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def write_rows(sessions: sessionmaker[Session], n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with transaction(sessions) as session:
            record(
                session,
                AuditAction.RECEIVED,
                actor="broker:intake",
                incident_id=f"44-{i}",
                details={"revision": 1},
            )


def sign(sessions: sessionmaker[Session], settings: Settings) -> checkpoints.TreeHead | None:
    key = checkpoints.load_or_create_key(settings.signing_key_path)
    with transaction(sessions) as session:
        return checkpoints.sign_head(session, key, settings.checkpoint_path)


def result(sessions: sessionmaker[Session], settings: Settings) -> dict[str, object]:
    with transaction(sessions) as session:
        return verify_all(session, settings)


def rechain_from(session: Session, seq: int) -> None:
    """Recompute every row hash from ``seq`` on, as an attacker would after an edit."""
    rows = session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
    prev = GENESIS
    for row in rows:
        if row.seq >= seq:
            row.prev_hash = prev
            row.hash = hash_of(row)
        prev = row.hash


def test_heads_are_signed_only_when_the_trail_grows(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    write_rows(sessions, 5)
    first = sign(sessions, settings)
    assert first is not None and first.tree_size == 5
    assert sign(sessions, settings) is None
    write_rows(sessions, 3, start=5)
    second = sign(sessions, settings)
    assert second is not None and (second.number, second.tree_size) == (2, 8)
    assert result(sessions, settings)["ok"]
    assert len(settings.checkpoint_path.read_text().splitlines()) == 2


def test_a_rewritten_and_rechained_history_is_caught_by_the_signed_head(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    write_rows(sessions, 6)
    sign(sessions, settings)
    with transaction(sessions) as session:
        disable_audit_protection(session)
        session.execute(text("UPDATE audit_events SET actor = 'cli:mallory' WHERE seq = 3"))
        rechain_from(session, 3)
    found = result(sessions, settings)
    assert not found["ok"]
    assert any("history was rewritten" in p for p in found["problems"])  # type: ignore[attr-defined]


def test_truncating_the_trail_names_the_missing_rows(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    write_rows(sessions, 6)
    sign(sessions, settings)
    with transaction(sessions) as session:
        disable_audit_protection(session)
        session.execute(text("DELETE FROM audit_events WHERE seq > 4"))
    found = result(sessions, settings)
    assert not found["ok"]
    assert any("rows 5..6 are missing" in p for p in found["problems"])  # type: ignore[attr-defined]


def test_a_removed_or_altered_checkpoint_line_is_caught(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    write_rows(sessions, 2)
    sign(sessions, settings)
    write_rows(sessions, 2, start=2)
    sign(sessions, settings)
    lines = settings.checkpoint_path.read_text().splitlines()
    settings.checkpoint_path.write_text(lines[1] + "\n")
    assert any(
        "checkpoint 1 is in the database but not in the file" in p
        for p in result(sessions, settings)["problems"]
    )  # type: ignore[attr-defined]
    forged = json.loads(lines[1]) | {"tree_size": 3}
    settings.checkpoint_path.write_text(lines[0] + "\n" + json.dumps(forged) + "\n")
    assert any("signature does not verify" in p for p in result(sessions, settings)["problems"])  # type: ignore[attr-defined]


def test_one_row_is_proved_against_a_signed_head_with_the_public_key_alone(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    write_rows(sessions, 11)
    head = sign(sessions, settings)
    assert head is not None
    with transaction(sessions) as session:
        document = checkpoints.prove(session, 7, head)
    public = checkpoints.load_public_key(checkpoints.public_path(settings.signing_key_path))
    assert checkpoints.check_proof(json.loads(json.dumps(document)), public) == []
    document["row"]["actor"] = "cli:mallory"
    assert "the row's content does not match its hash" in checkpoints.check_proof(document, public)
