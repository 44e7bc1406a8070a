"""The commands of SPEC section 7, run as a person (or a checker) runs them."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.database import engine_for, session_factory, transaction, upgrade
from foundations.settings import Settings
from tests.factories import AMY_UPN, TWIN_A_UPN, child, incident, write_directory


def encompass(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    return base | {
        "ENCOMPASS_DATA_DIR": str(tmp_path),
        "ENCOMPASS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }


@pytest.fixture
def directory(env: dict[str, str], tmp_path: Path) -> dict[str, Path]:
    files = write_directory(tmp_path / "directory")
    done = encompass(env, "directory", "import", *(f"--{k}={v}" for k, v in files.items()))
    assert done.returncode == 0, done.stderr
    return files


def feed(env: dict[str, str], *incidents: dict[str, object]) -> None:
    """What the intake consumer does with each event, straight into the database."""
    url = env["ENCOMPASS_DATABASE_URL"]
    upgrade(url)
    engine = engine_for(Settings(data_dir=Path(env["ENCOMPASS_DATA_DIR"]), database_url=url))
    for data in incidents:
        with transaction(session_factory(engine)) as session:
            process_incident(session, Settings(), parse_incident(json.dumps(data).encode()), "t")
    engine.dispose()


def test_directory_import_reports_and_is_idempotent(
    env: dict[str, str], directory: dict[str, Path]
) -> None:
    again = encompass(env, "directory", "import", f"--pupils={directory['pupils']}")
    assert again.returncode == 0
    assert "unchanged" in again.stdout.lower()


def test_a_bad_row_is_reported_by_line_and_the_rest_imported(
    env: dict[str, str], directory: dict[str, Path], tmp_path: Path
) -> None:
    pupils = tmp_path / "more.csv"
    lines = directory["pupils"].read_text().splitlines()
    pupils.write_text("\n".join([lines[0], "NOTAUPN,X,Y,,2016-13-45,F,,100001,,", *lines[1:]]))
    done = encompass(env, "directory", "import", f"--pupils={pupils}")
    assert done.returncode == 3
    assert "line 2" in done.stderr


def test_import_needs_at_least_one_file(env: dict[str, str]) -> None:
    assert encompass(env, "directory", "import").returncode == 2


def test_review_list_json_has_the_contract_fields_best_candidate_first(
    env: dict[str, str], directory: dict[str, Path]
) -> None:
    twins = incident(
        incident_id="44-20261121-000400",
        persons=[*incident()["persons"][:2], child("c9", "Leo", "Twin", "2017-05-05")],
    )
    feed(env, incident(), twins)
    done = encompass(env, "review", "list", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["person_id"] for r in rows] == ["c1", "c9"] or len(rows) == 2
    for row in rows:
        assert {
            "notification_id",
            "incident_id",
            "person_id",
            "status",
            "deliver_by",
            "candidates",
        } <= row.keys()
        scores = [c["score"] for c in row["candidates"]]
        assert scores == sorted(scores, reverse=True)
        assert all({"upn", "urn", "score"} <= c.keys() for c in row["candidates"])
    amy = next(r for r in rows if r["person_id"] == "c1")
    assert amy["candidates"][0]["upn"] == AMY_UPN
    assert [r["deliver_by"] for r in rows] == sorted(r["deliver_by"] for r in rows)


def test_review_approve_and_reject(env: dict[str, str], directory: dict[str, Path]) -> None:
    twins = incident(
        incident_id="44-20261121-000401",
        persons=[*incident()["persons"][:2], child("c9", "Leo", "Twin", "2017-05-05")],
    )
    feed(env, incident(), twins)
    rows = [
        json.loads(x) for x in encompass(env, "review", "list", "--json").stdout.split("\n") if x
    ]
    amy = next(r for r in rows if r["person_id"] == "c1")
    twin = next(r for r in rows if r["person_id"] == "c9")
    shown = encompass(env, "review", "show", amy["notification_id"])
    assert shown.returncode == 0 and "Jane" not in shown.stdout
    assert encompass(env, "review", "approve", twin["notification_id"]).returncode == 1
    ok = encompass(
        env, "review", "approve", twin["notification_id"], "--upn", TWIN_A_UPN, "--as", "alice"
    )
    assert ok.returncode == 0, ok.stderr
    rejected = encompass(env, "review", "reject", amy["notification_id"], "--reason", "test")
    assert rejected.returncode == 0
    left = encompass(env, "review", "list", "--json").stdout.splitlines()
    assert [json.loads(x)["status"] for x in left] == ["approved"]


def test_audit_verify_passes_then_fails_after_a_row_is_altered(
    env: dict[str, str], directory: dict[str, Path], tmp_path: Path
) -> None:
    feed(env, incident())
    ok = encompass(env, "audit", "verify", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"]
    with sqlite3.connect(tmp_path / "cli.db") as db:
        db.execute("DROP TRIGGER audit_events_no_update")  # an attacker with owner rights
        db.execute("UPDATE audit_events SET actor = 'someone else' WHERE seq = 3")
    broken = encompass(env, "audit", "verify")
    assert broken.returncode == 1
    assert "row 3" in broken.stdout
    report = encompass(env, "audit", "report", "--json")
    assert report.returncode == 0 and json.loads(report.stdout)["chain_intact"] is False


def test_a_non_loopback_plaintext_mail_server_is_refused(env: dict[str, str]) -> None:
    bad = env | {"ENCOMPASS_SMTP_TLS": "none", "ENCOMPASS_SMTP_HOST": "smtp.example.org"}
    done = encompass(bad, "review", "list")
    assert done.returncode != 0 and "loopback" in done.stderr


def test_audit_reports_answer_by_school_incident_and_child_and_are_audited(
    env: dict[str, str], directory: dict[str, Path]
) -> None:
    feed(env, incident())
    by_school = encompass(env, "audit", "report", "--school", "100001", "--json", "--as", "ann")
    assert by_school.returncode == 0, by_school.stderr
    [row] = json.loads(by_school.stdout)["notifications"]
    assert (row["incident_id"], row["upn"], row["school_urn"]) == (
        "44-20261121-000123",
        AMY_UPN,
        "100001",
    )
    other_school = encompass(env, "audit", "report", "--school", "100002", "--json")
    assert json.loads(other_school.stdout)["notifications"] == []
    as_csv = encompass(env, "audit", "report", "--upn", AMY_UPN, "--format", "csv")
    assert as_csv.stdout.splitlines()[0].startswith("notification_id,incident_id")
    text = encompass(
        env,
        "audit",
        "report",
        "--incident",
        "44-20261121-000123",
        "--from",
        "2026-01-01",
        "--to",
        "2030-12-31",
    )
    assert row["notification_id"] in text.stdout
    sar = encompass(env, "audit", "subject-access", AMY_UPN)
    export = json.loads(sar.stdout)
    assert export["pupil_records"][0]["family_name"] == "Doe"
    assert export["notifications"][0]["notification_id"] == row["notification_id"]
    trail = json.loads(encompass(env, "audit", "report", "--json").stdout)
    assert trail["chain_intact"]
    url = env["ENCOMPASS_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(url) as db:
        actors = db.execute(
            "SELECT actor FROM audit_events WHERE action = 'report_produced'"
        ).fetchall()
        exports = db.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'subject_access_export'"
        ).fetchone()
    assert ("cli:ann",) in actors and exports == (1,)


def leaf_commands(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command that runs (``review approve``), with its parser."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield words, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from leaf_commands(sub, (*words, name))


def test_each_command_group_is_one_module_that_names_the_handler_of_each_command() -> None:
    from broker import cli

    commands = dict(leaf_commands(cli.parser()))
    assert ("review", "approve") in commands and ("keys", "new") in commands
    for words, parser in commands.items():
        handler = parser.get_default("handler")
        assert callable(handler), words
        # The handler lives in the module of its group: `encompass audit ...` in
        # broker/cli/audit.py, and so on.
        assert handler.__module__ == f"broker.cli.{words[0]}", words


def test_the_encompass_script_is_the_cli_and_loads_no_pipeline_to_start() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["encompass"] == "broker.cli:main"
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, broker.cli; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert "broker.cli.review" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("consumers", "console", "audit")] == []


def test_a_command_without_its_subcommand_is_refused_with_usage(env: dict[str, str]) -> None:
    done = encompass(env, "review")
    assert done.returncode == 2
    assert "usage: encompass review" in done.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (
            "postgresql://enc:secret-pw@127.0.0.1:1/none",
            "cannot use the database at postgresql://enc:***@127.0.0.1:1/none: ",
        ),
        ("foo://somewhere", "ENCOMPASS_DATABASE_URL is not a database URL this broker can use"),
        ("not a url", "ENCOMPASS_DATABASE_URL is not a database URL this broker can use"),
    ],
)
def test_a_database_that_cannot_be_used_gets_one_clear_line(
    env: dict[str, str], url: str, says: str
) -> None:
    for args in (("db", "upgrade"), ("review", "list")):
        done = encompass(env | {"ENCOMPASS_DATABASE_URL": url}, *args)
        assert done.returncode == 2
        assert done.stderr.startswith(f"encompass: {says}"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "secret-pw" not in done.stderr and "Traceback" not in done.stderr


def test_mail_dkim_key_writes_a_key_and_prints_the_record_and_never_overwrites(
    env: dict[str, str], tmp_path: Path
) -> None:
    made = encompass(
        env, "mail", "dkim-key", "--selector", "enc2026", "--domain", "council.example"
    )
    assert made.returncode == 0, made.stderr
    assert '"v=DKIM1; k=rsa; p=' in made.stdout
    assert "enc2026._domainkey.council.example. IN TXT (" in made.stdout
    assert f"ENCOMPASS_DKIM_KEY_FILE={tmp_path / 'dkim.key'}" in made.stdout
    assert (tmp_path / "dkim.key").stat().st_mode & 0o777 == 0o600
    again = encompass(env, "mail", "dkim-key")
    assert again.returncode == 1 and "never overwritten" in again.stderr


def test_review_show_puts_each_candidate_beside_the_child_as_police_recorded_them(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 15, item 7: a terminal reviewer sees the child as the police recorded them
    beside each candidate, field by field, with what differs; --json carries the same."""
    files = write_directory(tmp_path / "directory")
    assert (
        encompass(env, "directory", "import", *(f"--{k}={v}" for k, v in files.items())).returncode
        == 0
    )
    near = incident(
        incident_id="44-20261121-000402",
        persons=[*incident()["persons"][:2], child("c9", "Leo", "Twin", "2017-05-06")],
    )
    feed(env, near)
    [row] = [json.loads(x) for x in encompass(env, "review", "list", "--json").stdout.splitlines()]
    shown = encompass(env, "review", "show", row["notification_id"])
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "the child as the police recorded them" in text and "Leo Twin, born 6 May 2017" in text
    assert "Example Primary School (100001)" in text and "St Mary’s C of E Primary School" in text
    comparing = [line for line in text.splitlines() if line.strip().startswith("date of birth")]
    assert len(comparing) == 2
    assert all("6 May 2017" in line and "| 5 May 2017" in line for line in comparing)
    assert all("CLOSE (one digit differs)" in line for line in comparing)
    assert text.count("differs: date of birth (one digit differs)") == 2
    assert "Jane" not in text and "Example Road" not in text  # adults and addresses stay out
    data = json.loads(encompass(env, "review", "show", row["notification_id"], "--json").stdout)
    assert data["child_as_recorded"]["date_of_birth"] == "2017-05-06"
    assert "address" not in data["child_as_recorded"]
    [first, second] = data["compared"]
    dob = next(f for f in first["compared"] if f["field"] == "date of birth")
    assert (dob["police"], dob["record"], dob["verdict"]) == ("6 May 2017", "5 May 2017", "close")
    assert {first["urn"], second["urn"]} == {"100001", "100002"}


def test_review_show_previews_the_email_the_school_will_get(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 15, item 5: the preview is addressed to the role the e-mail goes to (a deputy
    when the school has no DSL) and shows where the acknowledgement link will be."""
    from tests.console_pages import NOAH, pupils

    files = write_directory(tmp_path / "directory", pupils())
    assert (
        encompass(env, "directory", "import", *(f"--{k}={v}" for k, v in files.items())).returncode
        == 0
    )
    feed(env, incident(), incident(incident_id="44-20261121-000403",
                                   persons=[*incident()["persons"][:2], NOAH]))  # fmt: skip
    rows = [json.loads(x) for x in encompass(env, "review", "list", "--json").stdout.splitlines()]
    by_school = {r["urn"]: r["notification_id"] for r in rows}
    to_deputy = encompass(
        env | {"ENCOMPASS_ACK_LINK_TTL_DAYS": "7"}, "review", "show", by_school["100002"]
    )
    assert "Dear deputy designated safeguarding lead at St Mary" in to_deputy.stdout
    link = "[the school's own confirmation link goes here when the e-mail is sent; it works"
    assert f"{link} for 7 days]" in to_deputy.stdout
    to_dsl = encompass(env, "review", "show", by_school["100001"]).stdout
    assert "Dear designated safeguarding lead at Example Primary School" in to_dsl
    assert "it works for 14 days" in to_dsl
    for shown in (to_deputy.stdout, to_dsl):
        assert "Please confirm to First Response" not in shown
    data = json.loads(encompass(env, "review", "show", by_school["100002"], "--json").stdout)
    assert "Dear deputy designated safeguarding lead" in data["preview"]["text"]


def test_commands_on_a_fresh_machine_make_the_data_folder(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    for command in (("db", "upgrade"), ("users", "list")):
        folder = tmp_path / "-".join(command) / "not" / "made" / "yet"
        done = encompass(base | {"ENCOMPASS_DATA_DIR": str(folder)}, *command)
        assert done.returncode == 0, done.stderr
        assert (folder / "encompass.db").exists()


def test_council_contacts_import_reports_bad_rows_by_line_and_is_idempotent(
    env: dict[str, str], directory: dict[str, Path]
) -> None:
    """Issue 17, item 3: ``directory import --council-contacts`` (``la,role,name,email``)."""
    sample = Path(__file__).parent / "data" / "council_contacts_sample.csv"
    done = encompass(env, "directory", "import", f"--council-contacts={sample}")
    assert done.returncode == 3
    assert "council contacts: 8 rows read, 4 inserted" in done.stdout
    assert "council_contacts_sample.csv line 5: role 'welfare'" in done.stderr
    again = encompass(env, "directory", "import", f"--council-contacts={sample}")
    assert "0 inserted, 0 updated, 4 unchanged" in again.stdout


def test_a_child_on_no_roll_is_routed_to_the_councils_officer(
    env: dict[str, str], directory: dict[str, Path], tmp_path: Path
) -> None:
    """``review route N --to ehe|cme``; refused for a role the council has no officer for."""
    ours = tmp_path / "officers.csv"  # one council: one officer of a role
    ours.write_text("la,role,name,email\n850,ehe,Robin Example,ehe.officer@hants.example\n")
    assert encompass(env, "directory", "import", f"--council-contacts={ours}").returncode == 0
    nobody = child("c1", "Zed", "Nobody-Example", "2015-06-06")
    feed(env, incident(persons=[nobody]))
    (row,) = [json.loads(x) for x in encompass(env, "review", "list", "--json").stdout.split("\n")
              if x]  # fmt: skip
    assert (row["status"], row["route"]) == ("not_found", "school")
    refused = encompass(env, "review", "route", row["notification_id"], "--to", "cme")
    assert refused.returncode == 1
    assert "has no children missing education officer" in refused.stderr
    routed = encompass(
        env, "review", "route", row["notification_id"], "--to", "ehe", "--as", "rita"
    )
    assert routed.returncode == 0, routed.stderr
    assert "routed to the home council's ehe officer" in routed.stdout
    shown = encompass(env, "review", "show", row["notification_id"])
    assert "to the home council's elective home education officer" in shown.stdout
    assert "Dear Robin Example, elective home education officer," in shown.stdout
