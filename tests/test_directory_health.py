"""The directory's health, a go-live gate (issue 18, item 3): each measure on both
databases, the gate held against the ``ENCOMPASS_HEALTH_*`` thresholds, and
``encompass directory health`` on the demo's directory: it lists the schools the demo
leaves without a deputy, and fails its gate (non-zero exit) when the thresholds are raised."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broker.cli import common
from broker.up import import_demo_directory
from consumers.acknowledge import AckClaim, AckOutcome, acknowledge
from foundations.clock import utcnow
from foundations.database import transaction
from foundations.models import (
    Bounce,
    BounceKind,
    CalendarEntry,
    Notification,
    NotificationStatus,
    Pupil,
    SafeguardingContact,
    School,
)
from foundations.settings import Settings
from school_directory import health, imports
from school_directory.health import AUTO_MATCH_MIN_SAMPLE, Thresholds
from tests.factories import GIAS_HEADER, import_directory, write_directory

# What each test holds the directory to, unless it says otherwise: the defaults.
DEFAULTS = Thresholds.from_settings(Settings())
DSL = "dsl@100001.school.example"


@pytest.fixture
def directory(sessions: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    """Two open schools in LA 850 (100001 with a DSL and a deputy, 100002 with a deputy
    only), a closed one, five pupil records and LA 850's terms (tests/factories.py)."""
    with transaction(sessions) as session:
        import_directory(session, write_directory(tmp_path / "directory"))
    return sessions


def report_of(
    sessions: sessionmaker[Session], now: datetime | None = None, **changes: Any
) -> health.HealthReport:
    with transaction(sessions) as session:
        return health.directory_health(session, replace(DEFAULTS, **changes), now or utcnow())


def gate(report: health.HealthReport, name: str) -> health.Gate:
    return next(g for g in health.evaluate(report) if g.name == name)


def add_school(sessions: sessionmaker[Session], urn: str, la_code: str = "850") -> None:
    with transaction(sessions) as s:
        s.add(School(urn=urn, name=f"School {urn}", la_code=la_code, la_name="LA", status="Open"))


def add_notification(
    sessions: sessionmaker[Session], nid: str, *, created_at: datetime, **values: Any
) -> None:
    values.setdefault("status", NotificationStatus.SENT)
    with transaction(sessions) as s:
        s.add(
            Notification(
                id=nid, incident_id=f"44-{nid}", revision=1, person_id="c1", urn="100001",
                urn_key="100001", deliver_by=created_at + timedelta(hours=12),
                created_at=created_at, updated_at=created_at, **values,
            )
        )  # fmt: skip


# --- open schools with no DSL or no deputy -----------------------------------------------------


def test_open_schools_with_no_dsl_or_no_deputy_are_listed_and_closed_ones_are_not(
    directory: sessionmaker[Session],
) -> None:
    add_school(directory, "100004")  # open, and nobody to write to
    report = report_of(directory)
    assert report.open_schools == 3
    assert [s.urn for s in report.no_dsl] == ["100002", "100004"]
    assert [s.urn for s in report.no_deputy] == ["100004"]
    dsl = gate(report, "dsl")
    assert not dsl.passed and dsl.measured == pytest.approx(1 / 3)
    assert gate(replace(report, thresholds=replace(DEFAULTS, min_dsl_share=0.3)), "dsl").passed
    deputy = gate(report, "deputy")
    assert not deputy.passed and "2 of 3 open schools" in deputy.detail
    lower = replace(report, thresholds=replace(DEFAULTS, min_deputy_share=0.6))
    assert gate(lower, "deputy").passed


def test_an_empty_directory_is_not_fit(sessions: sessionmaker[Session]) -> None:
    report = report_of(sessions)
    assert report.open_schools == 0
    failed = {g.name for g in health.evaluate(report) if not g.passed}
    assert failed == {"dsl", "deputy", "calendar"}
    assert not health.passed(health.evaluate(report))


# --- contacts confirmed --------------------------------------------------------------------


def test_an_import_confirms_every_contact_it_names_and_they_go_stale_after_the_days(
    directory: sessionmaker[Session], tmp_path: Path
) -> None:
    now = utcnow()
    report = report_of(directory, now)
    assert report.contacts == 3 and report.unconfirmed == ()
    assert gate(report, "confirmed").passed
    later = report_of(directory, now + timedelta(days=366))
    assert [(c.urn, c.role) for c in later.unconfirmed] == [
        ("100001", "deputy_dsl"),
        ("100001", "dsl"),
        ("100002", "deputy_dsl"),
    ]
    assert not gate(later, "confirmed").passed
    # Importing the same file again confirms them again, and changes nothing else.
    with transaction(directory) as session:
        again = imports.import_contacts(
            session, tmp_path / "directory" / "contacts.csv", at=now + timedelta(days=366)
        )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert report_of(directory, now + timedelta(days=366)).unconfirmed == ()


def test_a_contact_the_import_does_not_name_is_not_confirmed(
    directory: sessionmaker[Session],
) -> None:
    with transaction(directory) as s:
        s.add(SafeguardingContact(urn="100002", role="dsl", name="New DSL", email="new@x.example"))
    report = report_of(directory)
    assert [(c.urn, c.email, c.confirmed_at) for c in report.unconfirmed] == [
        ("100002", "new@x.example", None)
    ]
    assert "3 of 4 contacts" in gate(report, "confirmed").detail


def test_an_acknowledgement_confirms_the_address_its_link_went_to(
    directory: sessionmaker[Session],
) -> None:
    before = utcnow() - timedelta(days=400)
    with transaction(directory) as s:
        for contact in s.scalars(select(SafeguardingContact)):
            contact.confirmed_at = before
    sent = utcnow() - timedelta(hours=2)
    add_notification(directory, "N-ack", created_at=sent, recipient=DSL.upper(), sent_at=sent)
    now = utcnow()
    with transaction(directory) as s:
        done = acknowledge(s, AckClaim("N-ack", "dsl", now + timedelta(days=1)), now)
    assert done.outcome is AckOutcome.RECORDED
    with transaction(directory) as s:
        confirmed = {
            (c.urn, c.role): c.confirmed_at for c in s.scalars(select(SafeguardingContact))
        }
    assert confirmed == {
        ("100001", "dsl"): now,  # the address the e-mail went to
        ("100001", "deputy_dsl"): before,  # not this role's link
        ("100002", "deputy_dsl"): before,  # another school
    }
    assert [c.role for c in report_of(directory).unconfirmed] == ["deputy_dsl", "deputy_dsl"]


# --- addresses that bounced ------------------------------------------------------------------


def _bounce(session: Session, nid: str, recipient: str, at: datetime, kind: BounceKind) -> None:
    session.add(Bounce(notification_id=nid, role="dsl", recipient=recipient, kind=kind,
                       status="5.1.1", via="smtp", report_sha256=nid.ljust(64, "0")[:64],
                       received_at=at))  # fmt: skip


def test_addresses_in_the_directory_that_bounced_in_the_window_are_listed(
    directory: sessionmaker[Session],
) -> None:
    now = utcnow()
    recent, old = now - timedelta(days=2), now - timedelta(days=45)
    for nid in ("N-b1", "N-b2", "N-b3", "N-d1"):
        add_notification(directory, nid, created_at=recent, recipient=DSL)
    with transaction(directory) as s:
        _bounce(s, "N-b1", DSL.upper(), recent, BounceKind.PERMANENT)
        _bounce(s, "N-b2", "deputy@100001.school.example", old, BounceKind.PERMANENT)
        _bounce(s, "N-b3", "gone@100001.school.example", recent, BounceKind.PERMANENT)
        _bounce(s, "N-d1", "deputy@100001.school.example", recent, BounceKind.DELAYED)
    with transaction(directory) as s:
        found = health.bounced_addresses(s, now - timedelta(days=30))
    assert [(b.urn, b.role, b.email) for b in found] == [("100001", "dsl", DSL)]
    report = report_of(directory, now)
    assert report.bounces_recorded and len(report.bounced) == 1


def test_the_bounce_gate_allows_the_maximum_and_passes_unmeasured_until_bounces_are_recorded(
    directory: sessionmaker[Session],
) -> None:
    report = report_of(directory)
    one = health.BouncedAddress("100001", "dsl", DSL, utcnow())
    recorded = replace(report, bounces_recorded=True, bounced=(one,))
    assert not gate(recorded, "bounced").passed
    allowing = replace(recorded, thresholds=replace(DEFAULTS, max_bounced_addresses=1))
    assert gate(allowing, "bounced").passed
    unrecorded = gate(replace(report, bounces_recorded=False, bounced=()), "bounced")
    assert unrecorded.passed and unrecorded.measured is None


# --- pupils against GIAS's NumberOfPupils ------------------------------------------------------


def write_gias(path: Path, counts: dict[str, str]) -> Path:
    """The factories' three schools, with a NumberOfPupils column."""
    rows = [
        ["100001", "850", "Hampshire", "2001", "Example Primary School", "Community school",
         "Open", "Primary", "SO23 9AA", "Winchester"],
        ["100002", "850", "Hampshire", "2002", "St Mary’s C of E Primary School",
         "Voluntary aided school", "Open", "Primary", "SO22 4BB", "Winchester"],
        ["100003", "850", "Hampshire", "2003", "Old Mill Infant School", "Community school",
         "Closed", "Primary", "SO21 1CC", "Winchester"],
    ]  # fmt: skip
    with path.open("w", encoding="cp1252", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*GIAS_HEADER, "NumberOfPupils"])
        writer.writerows([*row, counts.get(row[0], "")] for row in rows)
    return path


def test_the_schools_import_reads_number_of_pupils_when_present(
    directory: sessionmaker[Session], tmp_path: Path
) -> None:
    gias = write_gias(tmp_path / "gias.csv", {"100001": "4", "100002": "lots"})
    with transaction(directory) as s:
        done = imports.import_schools(s, gias)
        counts = {u: n for u, n in s.execute(select(School.urn, School.number_of_pupils))}
    assert counts == {"100001": 4, "100002": None, "100003": None}
    assert done.errors == [] and done.updated == 1  # 100001 has a count now
    assert done.warnings == [(3, "NumberOfPupils is not a whole number; left empty")]


def test_pupils_on_roll_are_held_against_gias_number_of_pupils(
    directory: sessionmaker[Session], tmp_path: Path
) -> None:
    report = report_of(directory)
    assert report.counted_rolls == ()  # the factories' extract has no NumberOfPupils
    assert gate(report, "pupils").passed and gate(report, "pupils").measured is None
    with transaction(directory) as s:
        imports.import_schools(s, write_gias(tmp_path / "gias.csv", {"100001": "4", "100002": "2"}))
    report = report_of(directory)
    # 100001: Amy, a twin and the dual-registered child (3 of 4); 100002: two of two.
    assert [(r.urn, r.imported, r.gias) for r in report.rolls] == [
        ("100001", 3, 4),
        ("100002", 2, 2),
    ]
    assert [r.urn for r in report.short_rolls] == ["100001"]
    pupils = gate(report, "pupils")
    assert not pupils.passed and pupils.measured == 1
    assert "5 of 6 pupils" in pupils.detail
    lower = replace(report, thresholds=replace(DEFAULTS, min_pupil_coverage=0.75))
    assert gate(lower, "pupils").passed
    # A pupil who has left is not on roll.
    today = utcnow().date()
    with transaction(directory) as s:
        twin = s.scalars(select(Pupil).where(Pupil.urn == "100002")).first()
        assert twin is not None
        twin.on_roll_until = today - timedelta(days=1)
    assert [r.imported for r in report_of(directory).rolls] == [3, 1]


# --- calendars ---------------------------------------------------------------------------


def test_schools_with_no_term_dates_of_their_own_or_their_las_are_listed(
    directory: sessionmaker[Session],
) -> None:
    add_school(directory, "200001", la_code="851")
    add_school(directory, "200002", la_code="851")
    today = utcnow().date()
    with transaction(directory) as s:
        s.add(CalendarEntry(scope="urn:200002", first_day=today, last_day=today, kind="closure"))
    report = report_of(directory)
    assert [s.urn for s in report.no_calendar] == ["200001", "200002"]  # a closure is no calendar
    assert not gate(report, "calendar").passed
    with transaction(directory) as s:
        s.add(
            CalendarEntry(
                scope="urn:200002", first_day=today, last_day=today + timedelta(60), kind="term"
            )
        )
    assert [s.urn for s in report_of(directory).no_calendar] == ["200001"]


# --- notifications matched without a person ------------------------------------------------


def test_the_share_of_recent_notifications_matched_without_a_person(
    directory: sessionmaker[Session],
) -> None:
    now = utcnow()
    recent = now - timedelta(days=1)
    add_notification(directory, "N-1", created_at=recent, releasable=True)
    add_notification(directory, "N-2", created_at=recent, decided_by="policy:auto_release_exact")
    add_notification(directory, "N-3", created_at=recent, decided_by="console:rita")
    add_notification(directory, "N-4", created_at=recent, status=NotificationStatus.NOT_FOUND)
    # Not counted: an update (always held for a person), a superseded revision, an old one.
    add_notification(directory, "N-5", created_at=recent, is_update=True)
    add_notification(directory, "N-6", created_at=recent, status=NotificationStatus.SUPERSEDED)
    add_notification(directory, "N-7", created_at=now - timedelta(days=31), releasable=True)
    report = report_of(directory, now)
    assert (report.notifications, report.matched_without_person) == (4, 2)
    few = gate(report, "auto_match")
    assert few.passed and few.measured is None  # fewer than AUTO_MATCH_MIN_SAMPLE
    enough = replace(report, notifications=AUTO_MATCH_MIN_SAMPLE, matched_without_person=15)
    assert not gate(enough, "auto_match").passed  # 75 % < 80 %
    assert gate(replace(enough, matched_without_person=16), "auto_match").passed


def test_the_report_as_json(directory: sessionmaker[Session]) -> None:
    report = report_of(directory)
    body = health.as_json(report, health.evaluate(report))
    json.dumps(body)  # plain values only
    assert body["ok"] is False and body["open_schools"] == 2
    assert [g["name"] for g in body["gates"]] == [
        "dsl", "deputy", "confirmed", "bounced", "pupils", "calendar", "auto_match",
    ]  # fmt: skip
    assert [s["urn"] for s in body["no_dsl"]] == ["100002"]


# --- the command, on the demo's directory --------------------------------------------------------


def encompass(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "broker.cli", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def without_deputy(folder: Path) -> list[str]:
    """What the demo's files leave without a deputy: open schools no deputy row names."""
    with (folder / "schools.csv").open(encoding="cp1252", newline="") as f:
        schools = list(csv.DictReader(f))
    open_urns = [r["URN"] for r in schools if r["EstablishmentStatus (name)"] != "Closed"]
    with (folder / "contacts.csv").open(encoding="utf-8", newline="") as f:
        deputies = {r["urn"] for r in csv.DictReader(f) if r["role"] == "deputy_dsl"}
    return sorted(u for u in open_urns if u not in deputies)


@pytest.mark.slow
def test_directory_health_on_the_demo_lists_schools_without_a_deputy_and_fails_when_raised(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(data_dir=tmp_path, database_url=url)
    import_demo_directory(common.sessions(settings), tmp_path / "demo-directory")
    expected = without_deputy(tmp_path / "demo-directory")
    assert len(expected) >= 3  # the demo leaves some schools without a deputy
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env = base | {"ENCOMPASS_DATA_DIR": str(tmp_path), "ENCOMPASS_DATABASE_URL": url}
    met = env | {
        "ENCOMPASS_HEALTH_MIN_DSL_SHARE": "0.5",
        "ENCOMPASS_HEALTH_MIN_DEPUTY_SHARE": "0.3",
        "ENCOMPASS_HEALTH_MIN_PUPIL_COVERAGE": "0.1",
    }

    done = encompass(met, "directory", "health")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = done.stdout.split("Open schools with no deputy DSL")[1].split("\n\n")[0]
    assert sorted(line.split()[0] for line in listed.splitlines()[1:]) == expected
    assert done.stdout.rstrip().endswith("Directory health: pass")

    raised = encompass(met | {"ENCOMPASS_HEALTH_MIN_DEPUTY_SHARE": "1"}, "directory", "health")
    assert raised.returncode == 1
    assert raised.stdout.rstrip().endswith("Directory health: FAIL (deputy below threshold)")

    as_json = encompass(
        met | {"ENCOMPASS_HEALTH_MIN_DEPUTY_SHARE": "1"}, "directory", "health", "--json"
    )
    assert as_json.returncode == 1
    body = json.loads(as_json.stdout)
    assert body["ok"] is False
    assert [g["name"] for g in body["gates"] if not g["passed"]] == ["deputy"]
    assert [s["urn"] for s in body["no_deputy"]] == expected

    assert encompass(env, "directory", "health").returncode == 1  # the defaults: not fit


def test_thresholds_come_from_the_settings() -> None:
    changed = Settings(health_min_deputy_share=0.5, health_window_days=7)
    assert Thresholds.from_settings(changed) == replace(
        DEFAULTS, min_deputy_share=0.5, window_days=7
    )
    assert DEFAULTS.min_deputy_share == 0.95 and DEFAULTS.max_bounced_addresses == 0
