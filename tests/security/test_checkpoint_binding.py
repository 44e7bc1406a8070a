"""Issue 13, defect 9: each signed tree head names the database it signs (an id made at
migration), so a checkpoint file kept beside a new database is reported as belonging to
another database, not as "history was rewritten"; and a head is signed at start when the
trail has grown, so a process that keeps crashing still leaves signed heads."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import checkpoints, merkle
from audit.ledger import AuditAction, record
from audit.verify import verify_all
from consumers.audit_publish import AuditCheckpointer
from foundations import identity
from foundations.database import engine_for, session_factory, transaction, upgrade
from foundations.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def write_rows(sessions: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with transaction(sessions) as session:
            record(session, AuditAction.RECEIVED, actor="broker:intake", incident_id=f"44-{i}")


def sign(sessions: sessionmaker[Session], settings: Settings) -> checkpoints.TreeHead | None:
    key = checkpoints.load_or_create_key(settings.signing_key_path)
    with transaction(sessions) as session:
        return checkpoints.sign_head(session, key, settings.checkpoint_path)


def verify(sessions: sessionmaker[Session], settings: Settings) -> dict[str, object]:
    with transaction(sessions) as session:
        return verify_all(session, settings)


def open_database(folder: Path, name: str) -> tuple[Settings, sessionmaker[Session]]:
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{folder / name}")
    upgrade(settings.resolved_database_url)
    return settings, session_factory(engine_for(settings))


def problems(result: dict[str, object]) -> list[str]:
    found = result["problems"]
    assert isinstance(found, list)
    return found


def test_heads_name_the_database_they_sign(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    write_rows(sessions, 3)
    head = sign(sessions, settings)
    assert head is not None
    with transaction(sessions) as session:
        this_database = identity.database_id(session)
        stored = session.execute(select(checkpoints.Checkpoint)).scalar_one()
    assert len(this_database) == 32
    assert head.database_id == stored.database_id == this_database
    (line,) = settings.checkpoint_path.read_text().splitlines()
    assert json.loads(line)["database_id"] == this_database
    assert verify(sessions, settings)["ok"]


def test_a_checkpoint_file_beside_a_new_database_is_named_as_another_databases(
    tmp_path: Path,
) -> None:
    first_settings, first = open_database(tmp_path, "first.db")
    write_rows(first, 6)
    assert sign(first, first_settings) is not None

    # ENCOMPASS_DATABASE_URL now names a fresh database; the data folder keeps the file.
    settings, fresh = open_database(tmp_path, "fresh.db")
    write_rows(fresh, 2)
    assert settings.checkpoint_path == first_settings.checkpoint_path
    result = verify(fresh, settings)
    assert not result["ok"]
    (problem,) = problems(result)
    assert "of another database" in problem and "not of this one" in problem
    assert "ENCOMPASS_AUDIT_CHECKPOINT_FILE" in problem
    assert not any("rewritten" in p or "missing" in p for p in problems(result))

    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env |= {
        "ENCOMPASS_DATA_DIR": str(tmp_path),
        "ENCOMPASS_DATABASE_URL": settings.resolved_database_url,
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "broker.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "this database's audit trail is intact (2 rows" in done.stdout
    assert "of another database" in done.stdout
    assert "BROKEN" not in done.stdout and "rewritten" not in done.stdout

    # The new database's own heads, appended to the same file, check out; each database
    # sees the other's heads for what they are.
    assert sign(fresh, settings) is not None
    for sessions in (fresh, first):
        found = problems(verify(sessions, settings))
        assert len(found) == 1 and "of another database" in found[0]


def test_the_database_id_is_under_the_signature(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    write_rows(sessions, 2)
    sign(sessions, settings)
    line = json.loads(settings.checkpoint_path.read_text())
    forged = line | {"database_id": "0" * 32}  # to pass a real head off as another's
    settings.checkpoint_path.write_text(json.dumps(forged) + "\n")
    found = problems(verify(sessions, settings))
    assert any("checkpoint 1: signature does not verify" in p for p in found)
    assert not any("another database" in p for p in found)


def test_heads_signed_before_databases_had_ids_still_verify(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)
    write_rows(sessions, 4)
    key = checkpoints.load_or_create_key(settings.signing_key_path)
    with transaction(sessions) as session:
        head = checkpoints.TreeHead(
            number=1,
            tree_size=4,
            root=merkle.root(checkpoints.leaves(session)).hex(),
            signed_at="2026-11-20T09:00:00+00:00",
            key_id=checkpoints.key_id(key.public_key()),
        )
        signature = base64.b64encode(key.sign(head.payload())).decode()
        session.add(
            checkpoints.Checkpoint(
                number=1,
                tree_size=4,
                root=head.root,
                signed_at=datetime.fromisoformat(head.signed_at),
                key_id=head.key_id,
                signature=signature,
            )
        )
    old = checkpoints.TreeHead(**{**head.__dict__, "signature": signature})
    checkpoints.append_to_file(settings.checkpoint_path, old)
    assert "database_id" not in settings.checkpoint_path.read_text()
    assert verify(sessions, settings)["ok"]
    write_rows(sessions, 1)
    newer = sign(sessions, settings)
    assert newer is not None and newer.number == 2 and newer.database_id
    assert verify(sessions, settings)["ok"]


async def test_a_head_is_signed_at_start_when_the_trail_has_grown(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)  # the interval stays 300 s
    published: list[bytes] = []

    async def publish(payload: bytes, key: str) -> None:
        published.append(payload)

    async def start_then_crash() -> None:
        task = asyncio.create_task(AuditCheckpointer(settings, sessions, publish).run())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if len(published) > before:
                break
        task.cancel()  # the process dies long before its first interval

    write_rows(sessions, 3)
    before = 0
    await start_then_crash()
    assert [json.loads(p)["tree_size"] for p in published] == [3]

    before = 1
    await start_then_crash()  # nothing new since: no second head
    assert len(published) == 1

    write_rows(sessions, 2)
    await start_then_crash()
    assert [json.loads(p)["tree_size"] for p in published] == [3, 5]
    assert verify(sessions, settings)["ok"]
