"""Issue 17, item 1 at the terminal: ``encompass review list|show|approve|reject --la`` act
only within those councils, and ``encompass users add|councils --la`` give an account its
councils (docs/councils.md). Run as a person runs them, on SQLite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.database import engine_for, session_factory, transaction, upgrade
from foundations.settings import Settings
from tests.councils_setup import PORTSMOUTH, move_school, write_councils
from tests.factories import write_directory
from tests.test_cli import encompass, env
from tests.test_councils_deployment import AMY, NO_ROLL, PIP, pupils

__all__ = ["env"]  # the fixture, shared with tests/test_cli.py


@pytest.fixture
def two(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A deployment of Hampshire (850) and Portsmouth (851) with Amy's, Pip's and Nell's
    notifications in it; the environment to run ``encompass`` in."""
    update = write_councils(tmp_path / "councils")
    files = write_directory(tmp_path / "directory", pupils())
    done = encompass(env, "directory", "import", *(f"--{k}={v}" for k, v in files.items()))
    assert done.returncode == 0, done.stderr
    url = env["ENCOMPASS_DATABASE_URL"]
    upgrade(url)
    settings = Settings(data_dir=Path(env["ENCOMPASS_DATA_DIR"]), database_url=url, **update)
    engine = engine_for(settings)
    with transaction(session_factory(engine)) as session:
        move_school(session, "100002", PORTSMOUTH)
    for data in (AMY, PIP, NO_ROLL):
        with transaction(session_factory(engine)) as session:
            process_incident(session, settings, parse_incident(json.dumps(data).encode()), "t")
    engine.dispose()
    return env | {
        "ENCOMPASS_COUNCILS_DIR": str(update["councils_dir"]),
        "ENCOMPASS_ALLOW_UNSAFE": update["allow_unsafe"],
    }


def listed(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    done = encompass(env, "review", "list", "--json", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_review_list_la_shows_only_that_councils_notifications_with_their_council(
    two: dict[str, str],
) -> None:
    every = listed(two)
    assert sorted(str(r["council"]) for r in every) == ["850", "851", "851"]
    portsmouth = listed(two, "--la", "851")
    assert {r["incident_id"] for r in portsmouth} == {PIP["incident_id"], NO_ROLL["incident_id"]}
    for row in portsmouth:  # the SPEC's fields, and the council
        assert {"notification_id", "incident_id", "person_id", "status", "deliver_by",
                "candidates", "council"} <= row.keys()  # fmt: skip
    assert [r["incident_id"] for r in listed(two, "--la", "850")] == [AMY["incident_id"]]


def test_approve_or_reject_of_another_councils_notification_is_refused(
    two: dict[str, str],
) -> None:
    [amy] = listed(two, "--la", "850")
    nid = str(amy["notification_id"])
    refusals = (("approve", ()), ("reject", ("--reason", "not ours")), ("show", ()),
                ("route", ("--to", "cme")))  # fmt: skip
    for verb, extra in refusals:
        done = encompass(two, "review", verb, nid, "--la", "851", *extra)
        assert done.returncode == 1, (verb, done.stdout)
        assert f"{nid} belongs to council 850, not to --la 851: refused" in done.stderr
    assert [r["status"] for r in listed(two, "--la", "850")] == ["pending_review"]
    ok = encompass(two, "review", "reject", nid, "--la", "850", "--reason", "test")
    assert ok.returncode == 0, ok.stderr


def test_la_must_name_a_council_this_deployment_serves(
    two: dict[str, str], env: dict[str, str]
) -> None:
    stranger = encompass(two, "review", "list", "--la", "999")
    assert stranger.returncode != 0 and "999 is not a council this deployment serves" in (
        stranger.stderr
    )
    single = encompass(env, "review", "list", "--la", "850")
    assert single.returncode != 0 and "one council" in single.stderr


def test_a_councils_folder_that_cannot_be_used_stops_the_command(
    two: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "850.toml").write_text('la_code = "850"\n')
    done = encompass(two | {"ENCOMPASS_COUNCILS_DIR": str(broken)}, "review", "list", "--la", "850")
    assert done.returncode == 2
    assert "ENCOMPASS_COUNCILS_DIR: 850.toml" in done.stderr


def test_users_add_and_councils_give_an_account_its_councils(two: dict[str, str]) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "broker.cli", "users", "add", "pat", "--role", "reviewer",
         "--la", "851", "--password-stdin"],
        env=two, input="correct horse battery\n", capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "for council(s) 851" in added.stdout
    refused = encompass(two, "users", "councils", "pat", "--la", "999")
    assert refused.returncode == 2 and "999 is not a council" in refused.stderr
    assert encompass(two, "users", "councils", "pat", "--la", "850,851").returncode == 0
    [pat] = [json.loads(x) for x in encompass(two, "users", "list", "--json").stdout.splitlines()]
    assert pat["councils"] == "850,851"
