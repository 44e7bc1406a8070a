"""The intake's worker pool (consumers/intake_pool.py, consumers/batch_memo.py): the pure
part of minimising computed in other processes gives exactly what the intake computes in
process (SPEC section 4: nothing a school receives may change); a worker that dies is
replaced and its work done in process, never an event lost or dead-lettered; no pool
configured starts no process; and the batch's memo answers only for the very incident and
child it was computed for."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from broker.app import EncompassService
from broker.demo import PupilSeed, incident_stream
from broker.embedded import free_port
from consumers import batch_memo, intake_batch, intake_pool
from consumers.batch_memo import BatchMemo, ChildWork
from consumers.held_account import screen
from consumers.intake_batch import IntakeBatches, take_all, take_batch
from consumers.intake_pool import IntakePool, child_work, precompute
from consumers.minimise import minimise
from consumers.redact import redact
from consumers.residual import residual_check
from foundations.database import READ_ONLY, make_engine, session_factory, transaction, upgrade
from foundations.models import Notification, Pupil
from foundations.settings import Role, Settings
from schemas.incident import PoliceIncident
from schemas.notification import DEFAULT_PROFILE, FirstResponseContact, MinimisationProfile
from school_directory import imports
from school_directory.synthetic import write_directory
from tests.conftest import TEST_KEYRING
from tests.factories import incident, isolated_settings
from tests.redaction_corpus import corpus
from tests.test_intake_batch import DeadLetters, record

CORPUS_SAMPLE = 150  # of the 3,750 accounts; the whole corpus is bench/redaction.py's


@pytest.fixture(scope="module")
def pool() -> Iterator[IntakePool]:
    fallbacks: list[str] = []
    pool = IntakePool(1, on_fallback=fallbacks.append)
    pool.start()
    pool.fallbacks = fallbacks  # type: ignore[attr-defined]
    yield pool
    pool.stop()


def everything() -> MinimisationProfile:
    """A profile that asks for every free text the pool computes (the child's voice too)."""
    return DEFAULT_PROFILE.model_copy(update={"include_voice_of_child": True})


def school_content(incident: PoliceIncident, child: Any) -> tuple[dict[str, Any], Any]:
    """What minimise and screen give the school (and hold), as the intake calls them."""
    profile = everything()
    n = minimise(
        incident,
        child,
        reference="EN-TEST",
        school_name="A School",
        child_name="A Child",
        child_date_of_birth=child.date_of_birth or incident.occurred_at.date(),
        deliver_by=incident.reported_at,
        first_response=FirstResponseContact(name="FR", email="fr@example.org", phone="0"),
        profile=profile,
    )
    screened = screen(n.model_dump(mode="json"), incident, child, profile)
    return screened.content, screened.held


def test_the_pool_gives_exactly_the_in_process_results_over_the_redaction_corpus(
    pool: IntakePool,
) -> None:
    cases = list(corpus(limit=CORPUS_SAMPLE))
    memo = pool.submit(c.incident for c in cases)
    memo.settle()  # else the intake's thread takes what the pool has not started yet
    held = 0
    with batch_memo.using(memo):
        pooled = [school_content(c.incident, c.child) for c in cases]
    for c, with_pool in zip(cases, pooled, strict=True):
        assert memo.lookup(c.incident, c.child) is not None  # served by the pool
        alone = school_content(c.incident, c.child)  # no memo: in process, as before
        assert with_pool == alone
        assert precompute(c.incident)[c.child.person_id] == memo.lookup(c.incident, c.child)
        held += alone[1] is not None
    assert held  # the sample has accounts that a person must read
    assert pool.fallbacks == []  # type: ignore[attr-defined]
    memo.close()


def test_a_killed_worker_is_replaced_and_its_work_done_in_process(pool: IntakePool) -> None:
    cases = list(corpus(limit=6))
    for pid in pool.pids:
        os.kill(pid, signal.SIGKILL)
    memo = pool.submit(c.incident for c in cases)
    with batch_memo.using(memo):
        after = [school_content(c.incident, c.child) for c in cases]
    assert after == [school_content(c.incident, c.child) for c in cases]
    # Found broken when the batch was submitted, or when its results were needed.
    assert {"broken", "submit"} & set(pool.fallbacks)  # type: ignore[attr-defined]
    memo.close()
    pool.fallbacks.clear()  # type: ignore[attr-defined]
    # The next batch has a new pool, which serves it.
    memo = pool.submit(c.incident for c in cases)
    memo.settle()
    assert all(memo.lookup(c.incident, c.child) is not None for c in cases)
    assert pool.fallbacks == []  # type: ignore[attr-defined]
    memo.close()


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def poisoned(incident: PoliceIncident) -> BatchMemo:
    """A memo whose every answer is wrong, for ``incident`` only: a test of its keys."""
    memo = BatchMemo()
    memo.add(
        incident,
        done(
            {
                c.person_id: ChildWork(
                    child=c,
                    redacted={incident.summary: "POISON"},
                    checked={"POISON": ()},
                )
                for c in incident.children
            }
        ),
    )
    return memo


def parsed(**changes: Any) -> PoliceIncident:
    return PoliceIncident.model_validate(incident("incident_two_children.json", **changes))


def test_the_memo_answers_only_for_its_own_incident_object_child_and_text() -> None:
    mine = parsed()
    memo = poisoned(mine)
    c1, c2 = mine.children
    with batch_memo.using(memo):
        assert batch_memo.redacted(mine.summary, mine, c1) == "POISON"  # its own: served
        # The same incident_id and revision with another text: another object, not served.
        other = parsed(summary=mine.summary + " Mark Other was there.")
        assert other.incident_id == mine.incident_id
        assert batch_memo.redacted(mine.summary, other, other.children[0]) == redact(
            mine.summary, other, other.children[0]
        )
        # An equal incident, but not the object the pool was given: not served.
        twin = parsed()
        assert twin == mine and twin is not mine
        assert batch_memo.redacted(mine.summary, twin, twin.children[0]) != "POISON"
        # The other child of the same incident gets its own result, never the first's.
        second = ChildWork(child=c2, redacted={mine.summary: "SECOND"})
        memo.add(mine, done({c1.person_id: memo.lookup(mine, c1), c2.person_id: second}))
        assert batch_memo.redacted(mine.summary, mine, c2) == "SECOND"
        # A child with the same person_id but other details: not served.
        changed = c1.model_copy(update={"given_names": "Someone"})
        assert batch_memo.redacted(mine.summary, mine, changed) == redact(
            mine.summary, mine, changed
        )
        # A text the pool did not compute: in process.
        assert batch_memo.redacted("Jo said so.", mine, c1) == redact("Jo said so.", mine, c1)
        assert batch_memo.checked("Jo Bloggs said so.", mine, c1) == residual_check(
            "Jo Bloggs said so.", mine, c1
        )
    # Outside the batch: nothing is served.
    assert batch_memo.redacted(mine.summary, mine, c1) == redact(mine.summary, mine, c1)


def test_a_failed_or_late_result_is_computed_in_process() -> None:
    mine = parsed()
    failures: list[str] = []
    memo = BatchMemo(lambda why, exc: failures.append(why))
    failed: Future[Any] = Future()
    failed.set_exception(RuntimeError("in the worker"))
    memo.add(mine, failed)
    c1 = mine.children[0]
    with batch_memo.using(memo):
        assert batch_memo.redacted(mine.summary, mine, c1) == redact(mine.summary, mine, c1)
    assert failures == ["error"]
    # Not started when the intake needs it: cancelled, and done in process at once.
    memo = BatchMemo(lambda why, exc: failures.append(why))
    memo.add(mine, Future())
    with batch_memo.using(memo):
        assert batch_memo.redacted(mine.summary, mine, c1) == redact(mine.summary, mine, c1)
    assert failures == ["error"]


def test_child_work_is_what_the_call_sites_ask_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every redact and residual_check call of minimise and screen is served by the memo
    (so the pool saves them all), for a child's voice and an unknown police code too."""
    data = incident("incident_two_children.json")
    data["police_actions"] = [*data.get("police_actions", []), "spoke_to_jo_bloggs"]
    mine = PoliceIncident.model_validate(data)
    memo = BatchMemo()
    memo.add(mine, done(precompute(mine)))
    calls: list[str] = []

    def counting(name: str, real: Any) -> Any:
        def call(*args: Any) -> Any:
            calls.append(name)
            return real(*args)

        return call

    monkeypatch.setattr(batch_memo, "redact", counting("redact", redact))
    monkeypatch.setattr(batch_memo, "residual_check", counting("check", residual_check))
    with batch_memo.using(memo):
        for c in mine.children:
            school_content(mine, c)
    assert calls == []
    school_content(mine, mine.children[0])  # without the memo: the calls are made
    assert "redact" in calls and "check" in calls
    assert child_work(mine, mine.children[0]).redacted


# --- end to end: the intake's batches, with and without the pool ----------------------------


def seeded(url: str, folder: Path) -> tuple[sessionmaker[Session], list[PupilSeed]]:
    upgrade(url)
    sessions = session_factory(make_engine(url, TEST_KEYRING))
    files = write_directory(folder, schools=10, pupils=400)
    with transaction(sessions) as session:
        imports.import_schools(session, files.schools)
        imports.import_contacts(session, files.contacts)
        imports.import_pupils(session, files.pupils)
        imports.import_calendar(session, files.calendar)
        seeds = [
            PupilSeed(p.given_names, p.family_name, p.preferred_name, p.date_of_birth, p.postcode)
            for p in session.execute(select(Pupil).limit(200)).scalars()
        ]
    return sessions, seeds


def recorded(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with transaction(sessions) as session:
        return {
            n.id: (n.status, n.reason, n.content, n.held_account, n.account_status, n.urn)
            for n in session.execute(select(Notification)).scalars()
        }


async def test_end_to_end_the_pool_changes_nothing_a_school_receives(
    pool: IntakePool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memos: list[BatchMemo] = []
    submit = pool.submit

    def submitted(incidents: Any) -> BatchMemo:
        memos.append(submit(incidents))
        return memos[-1]

    monkeypatch.setattr(pool, "submit", submitted)
    alone, seeds = seeded(f"sqlite:///{tmp_path / 'alone.db'}", tmp_path / "d1")
    pooled, _ = seeded(f"sqlite:///{tmp_path / 'pooled.db'}", tmp_path / "d2")
    events = [json.dumps(i).encode() for i in incident_stream(seeds, 60, unknown_rate=0.1)]
    records = tuple(record(n, value) for n, value in enumerate(events))
    settings = isolated_settings()
    without = IntakeBatches(settings, alone, DeadLetters())
    with_pool = IntakeBatches(settings, pooled, DeadLetters(), pool=pool)
    for start in range(0, len(records), 25):
        await without.take_batch(records[start : start + 25])
        await with_pool.take_batch(records[start : start + 25])
    a, b = recorded(alone), recorded(pooled)
    assert a == b and len(a) >= 60
    assert sum(content is not None for _, _, content, *_ in a.values()) >= 30
    assert sum(m.served for m in memos) > 0  # the pool served some, the thread took others
    assert pool.fallbacks == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_pool_configured_starts_no_process(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENCOMPASS_INTAKE_WORKERS", raising=False)
    assert Settings().intake_workers == 0  # the default
    before = set(multiprocessing.active_children())
    batches = IntakeBatches(isolated_settings(), sessions, DeadLetters())
    assert batches.pool is None
    with transaction(sessions) as session:
        take_all(session, batches.settings, [(parsed(), "t/0/0")], [])
    assert set(multiprocessing.active_children()) == before


def test_a_batch_is_redacted_and_matched_before_its_transaction_takes_the_write_lock(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's write lock is taken at a writing transaction's BEGIN: without a pool, the
    batch's redaction and residual checks run before it, and its matching in a
    transaction that only reads, not while the other writers wait."""
    order: list[str] = []
    engine = sessions.kw["bind"]

    def began(conn: Any) -> None:
        order.append("read" if conn.get_execution_options().get(READ_ONLY) else "write")

    event.listen(engine, "begin", began)
    redact_ahead, match = intake_pool.precompute, intake_batch.match_child

    def redacting(incident: PoliceIncident) -> dict[str, ChildWork]:
        order.append("redact")
        return redact_ahead(incident)

    def matching(*args: Any) -> Any:
        order.append("match")
        return match(*args)

    monkeypatch.setattr(intake_pool, "precompute", redacting)
    monkeypatch.setattr(intake_batch, "match_child", matching)
    try:
        taken = take_batch(sessions, isolated_settings(), [(parsed(), "t/0/0")], [])
    finally:
        event.remove(engine, "begin", began)
    children = len(parsed().children)
    assert order == ["redact", "read", *["match"] * children, "write"]
    assert len(taken) == 1


async def test_the_broker_wires_a_pool_to_its_intake_only_when_configured(tmp_path: Path) -> None:
    def service(**values: Any) -> EncompassService:
        url = f"sqlite:///{tmp_path / 'wiring.db'}"
        settings = isolated_settings(data_dir=tmp_path, database_url=url, **values)
        return EncompassService(settings, bootstrap=f"127.0.0.1:{free_port()}")

    before = set(multiprocessing.active_children())
    assert service(intake_workers=0).intake_pool is None
    assert service(intake_workers=1, roles={Role.DELIVERY}).intake_pool is None
    wired = service(intake_workers=1)
    assert wired.intake_pool is not None and wired.intake.pool is wired.intake_pool
    assert wired.intake_pool.workers == 1
    assert set(multiprocessing.active_children()) == before  # started with the intake only
    await wired.stopped()  # stopping a pool never started is harmless
    memo = wired.intake_pool.submit([parsed()])  # a batch after the stop: in process
    assert len(memo) == 0 and set(multiprocessing.active_children()) == before
