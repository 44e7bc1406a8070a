"""Issue 13, defect 10: the /audit page's check of the chain is incremental.

The page used to recompute the whole trail and every signed head on every load. It now
remembers how far it has checked (table ``audit_chain_checks``) and reads only the rows and
heads added since, plus the one row where it stopped. ``encompass audit verify`` still
checks everything, so a tampered row the page has already passed is still found, and a
rewrite that keeps the chain consistent moves the row the page stopped at, which sends the
page itself to the full check."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from audit import checkpoints, incremental, merkle
from audit.ledger import AuditAction, hash_of, record
from broker.cli import audit as audit_cli
from foundations.database import transaction
from foundations.models import AuditEvent, ChainCheck
from foundations.settings import Settings
from tests import test_console
from tests.conftest import disable_audit_protection
from tests.test_console import sign_in

directory = test_console.directory
app_settings = test_console.app_settings
client = test_console.client


@contextmanager
def rows_read() -> Iterator[list[int]]:
    """Counts the audit rows loaded from the database while it is open."""
    seen: list[int] = []

    def loaded(target: AuditEvent, context: object) -> None:
        seen.append(target.seq)

    event.listen(AuditEvent, "load", loaded)
    try:
        yield seen
    finally:
        event.remove(AuditEvent, "load", loaded)


def add_rows(sessions: sessionmaker[Session], count: int) -> None:
    with transaction(sessions) as s:
        for i in range(count):
            record(s, AuditAction.RECEIVED, actor="test", incident_id=f"44-{i}")


def sign(sessions: sessionmaker[Session], settings: Settings) -> None:
    key = checkpoints.load_or_create_key(settings.signing_key_path)
    with transaction(sessions) as s:
        assert checkpoints.sign_head(s, key, settings.checkpoint_path) is not None


def check(sessions: sessionmaker[Session], settings: Settings, **kw: bool) -> dict[str, object]:
    with transaction(sessions) as s:
        return incremental.check(s, settings, **kw)


def cli_verify(sessions: sessionmaker[Session], settings: Settings) -> int:
    """``encompass audit verify``: the full check, always."""
    return audit_cli.verify(settings, sessions, argparse.Namespace(json=True))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def test_the_compact_range_gives_the_same_tree_heads_as_the_leaves() -> None:
    rng = random.Random(13)
    leaves = [merkle.leaf_hash(rng.randbytes(32)) for _ in range(70)]
    frontier: list[bytes] = []
    assert merkle.frontier_root(frontier) == merkle.root([])
    for size, leaf in enumerate(leaves):
        frontier = merkle.append_leaf(frontier, size, leaf)
        assert merkle.frontier_root(frontier) == merkle.root(leaves[: size + 1]), size + 1
        assert len(frontier) == (size + 1).bit_count()


def test_a_second_check_reads_only_the_rows_and_heads_added_since(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_rows(sessions, 60)
    sign(sessions, settings)
    with rows_read() as seen:
        first = check(sessions, settings)
    assert first["ok"] and first["rows_verified"] == 60 and first["signed_heads"] == 1
    assert len(seen) >= 60

    add_rows(sessions, 3)
    with rows_read() as seen:
        second = check(sessions, settings)
    assert second["ok"] and second["mode"] == "incremental"
    assert (second["rows_verified"], second["new_rows"], second["new_heads"]) == (63, 3, 0)
    assert sorted(seen) == [60, 61, 62, 63]  # where it stopped, and the new rows

    sign(sessions, settings)  # a head over 63 rows, then two more rows
    add_rows(sessions, 2)
    with rows_read() as seen:
        third = check(sessions, settings)
    assert third["ok"] and (third["new_rows"], third["new_heads"]) == (2, 1)
    assert third["signed_heads"] == 2
    assert sorted(seen) == [63, 64, 65]

    with rows_read() as seen:
        idle = check(sessions, settings)
    assert idle["ok"] and (idle["new_rows"], idle["new_heads"]) == (0, 0)
    assert seen == [65]
    with transaction(sessions) as s:
        state = s.get(ChainCheck, incremental.STATE)
        assert state is not None and (state.rows, state.heads, state.head_size) == (65, 2, 63)


def test_a_tampered_row_already_checked_is_found_by_audit_verify(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_rows(sessions, 20)
    sign(sessions, settings)
    assert check(sessions, settings)["ok"] and cli_verify(sessions, settings) == 0
    with transaction(sessions) as s:
        disable_audit_protection(s)
        row = s.get(AuditEvent, 7)
        assert row is not None
        row.actor = "someone else"  # its stored hash no longer matches its content
    add_rows(sessions, 1)
    # The page reads row 20 and row 21 only: it cannot see row 7 (a documented limit).
    assert check(sessions, settings)["new_rows"] == 1
    assert cli_verify(sessions, settings) == 1  # encompass audit verify: always everything
    full = check(sessions, settings, full=True)  # the page's "check the whole trail now"
    assert not full["ok"] and full["first_broken_seq"] == 7


def test_a_rewrite_that_keeps_the_chain_consistent_sends_the_page_to_the_full_check(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_rows(sessions, 20)
    sign(sessions, settings)
    assert check(sessions, settings)["ok"]
    with transaction(sessions) as s:
        rechain_from(s, 7)
    result = check(sessions, settings)
    assert not result["ok"] and result["mode"] == "full"
    assert any("history was rewritten" in p for p in result["problems"])  # type: ignore[attr-defined]
    assert cli_verify(sessions, settings) == 1


def test_a_signed_head_that_names_another_database_sends_the_page_to_the_full_check(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    """A head names the database it signs (audit/checkpoints.py): the page applies the same
    rule as ``encompass audit verify``, even to a head that is otherwise the root of these
    very rows under a good signature."""
    add_rows(sessions, 5)
    sign(sessions, settings)
    key = checkpoints.load_or_create_key(settings.signing_key_path)
    ours = checkpoints.TreeHead.from_dict(json.loads(settings.checkpoint_path.read_text()))
    other = dataclasses.replace(ours, database_id="f" * 32, signature="")
    signature = base64.b64encode(key.sign(other.payload())).decode()
    other = dataclasses.replace(other, signature=signature)
    settings.checkpoint_path.write_text(json.dumps(other.as_dict()) + "\n")
    with transaction(sessions) as s, pytest.raises(incremental.Recheck, match="another database"):
        incremental.extend(s, settings, incremental.Progress())
    result = check(sessions, settings)
    assert not result["ok"] and result["mode"] == "full"
    assert any("of another database" in p for p in result["problems"])  # type: ignore[attr-defined]
    with transaction(sessions) as s:
        assert s.get(ChainCheck, incremental.STATE) is None  # nothing remembered
    assert cli_verify(sessions, settings) == 1


def rechain_from(session: Session, seq: int) -> None:
    """What an insider with the database can do: change row ``seq`` and re-chain every row
    after it, so that the chain alone verifies again."""
    disable_audit_protection(session)
    prev = None
    rows = session.execute(select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq))
    for row in rows.scalars():
        if prev is None:
            row.actor = "someone else"
        else:
            row.prev_hash = prev
        row.hash = hash_of(row)
        prev = row.hash
        session.flush()


def test_rows_rewritten_under_a_new_signed_head_are_found_by_the_page(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    add_rows(sessions, 10)
    assert check(sessions, settings)["ok"]
    add_rows(sessions, 5)
    sign(sessions, settings)  # over 15 rows; the page has checked 10
    with transaction(sessions) as s:
        rechain_from(s, 12)  # the chain verifies from row 10 on; the head does not
    result = check(sessions, settings)
    assert not result["ok"]
    assert any("history was rewritten" in p for p in result["problems"])  # type: ignore[attr-defined]


def test_the_audit_page_says_what_it_checked_this_time(
    client: TestClient, directory: sessionmaker[Session]
) -> None:
    add_rows(directory, 30)
    sign_in(client, "aud")
    page = client.get("/audit").text
    assert "The audit trail is intact" in page
    add_rows(directory, 2)
    with rows_read() as seen:
        page = client.get("/audit").text
    assert "This time: 2 new rows" in page and 'href="/audit?full=1"' in page
    assert len(seen) <= 4  # the row it stopped at, two new rows, the page's own sign-in row
    with rows_read() as seen:
        page = client.get("/audit?full=1").text
    assert "The audit trail is intact" in page and len(seen) > 30
