"""The outbox (consumers/outbox.py): claim with a short lease, renew it while sending, back
off, hand back. A worker that dies holds what it had not sent for about one lease; a live
worker keeps its claim however long the mail server takes. Over a controlled clock, on
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from consumers import alerts, deliver
from consumers.acknowledge import AckLinks
from consumers.deliver import DeliveryWorker, claim_due
from consumers.outbox import Outbox
from foundations.database import transaction
from foundations.mailer import MemoryMailer, PermanentDeliveryError, TransientDeliveryError
from foundations.models import EscalationStep, Notification
from foundations.settings import Settings
from tests.deadlines import Clock, add_notification, add_schools, london

NOW = london("2026-11-23 07:00")
LINKS = AckLinks(b"s" * 32, "https://encompass.council.example", timedelta(days=14))
SETTINGS = Settings()
LEASE = timedelta(seconds=SETTINGS.delivery_lease_s)


class HeldMailer(MemoryMailer):
    """A slow mail server: each message waits until the test lets it through."""

    def __init__(self) -> None:
        super().__init__()
        self.talking = asyncio.Event()  # a message is being sent
        self.through = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, message: EmailMessage) -> None:
        self.talking.set()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.through.wait()
            await super().send(message)
        finally:
            self.in_flight -= 1


def approved(sessions: sessionmaker[Session], count: int) -> list[str]:
    add_schools(sessions)
    return [
        add_notification(
            sessions, f"N-{i}", status="approved", deliver_by=london("2026-11-23 08:30")
        )
        for i in range(count)
    ]


def leases(sessions: sessionmaker[Session]) -> dict[str, tuple[str, datetime | None]]:
    with transaction(sessions) as s:
        rows = s.execute(select(Notification.id, Notification.status, Notification.claimed_until))
        return {nid: (status, until) for nid, status, until in rows}


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def test_the_lease_is_short() -> None:
    assert SETTINGS.delivery_lease_s <= 30


async def test_a_worker_that_dies_after_claiming_holds_the_batch_for_one_short_lease(
    sessions: sessionmaker[Session],
) -> None:
    ids = approved(sessions, 5)
    with transaction(sessions) as s:
        assert len(claim_due(s, SETTINGS, NOW, links=LINKS)) == 5  # then the process died
    clock = Clock(NOW)
    mailer = MemoryMailer()
    other = DeliveryWorker(SETTINGS, sessions, mailer, LINKS, clock=clock)
    clock.at(NOW + LEASE - timedelta(seconds=1))
    assert await other.run_once() == 0  # still held
    clock.at(NOW + LEASE + timedelta(seconds=1))
    assert await other.run_once() == 5  # not two minutes later
    assert sorted(str(m["Message-ID"]).split("@")[0][1:] for m in mailer.messages) == ids


async def test_a_live_worker_renews_its_lease_while_the_mail_server_is_slow(
    sessions: sessionmaker[Session],
) -> None:
    approved(sessions, 3)
    clock = Clock(NOW)
    slow = HeldMailer()
    worker = DeliveryWorker(SETTINGS, sessions, slow, LINKS, clock=clock)
    worker.courier.renew_every_s = 0.01
    sending = asyncio.create_task(worker.run_once())
    await asyncio.wait_for(slow.talking.wait(), 10)
    # Well past the first lease, the worker (still talking to the server) renews it ...
    clock.at(NOW + 3 * LEASE)
    renewed = NOW + 4 * LEASE
    await until(lambda: all(u == renewed for _, u in leases(sessions).values()))
    # ... so another worker finds nothing to send.
    clock.at(NOW + 4 * LEASE - timedelta(seconds=1))
    other = MemoryMailer()
    assert await DeliveryWorker(SETTINGS, sessions, other, LINKS, clock=clock).run_once() == 0
    slow.through.set()
    assert await sending == 3
    assert (len(slow.messages), other.messages) == (3, [])
    assert {status for status, _ in leases(sessions).values()} == {"sent"}


async def test_a_stopped_worker_finishes_the_emails_in_flight_and_hands_back_the_rest(
    sessions: sessionmaker[Session],
) -> None:
    approved(sessions, 5)
    clock = Clock(NOW)
    slow = HeldMailer()
    # Two lanes with two e-mails in flight each; one lane claims all five (a batch of 5).
    settings = Settings(delivery_concurrency=4)
    worker = DeliveryWorker(settings, sessions, slow, LINKS, clock=clock)
    running = asyncio.create_task(worker.run())
    await until(lambda: slow.in_flight == 2)
    worker.request_stop()
    slow.through.set()
    await asyncio.wait_for(running, 10)
    assert len(slow.messages) == 2
    assert (
        sorted(leases(sessions).values(), key=str)
        == [("approved", None)] * 3 + [("sent", None)] * 2
    )
    other = MemoryMailer()  # due again at once, with no lease to wait for
    assert await DeliveryWorker(SETTINGS, sessions, other, LINKS, clock=clock).run_once() == 3


async def test_a_worker_has_several_emails_in_flight_and_records_them_together(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow mail server does not make a backlog wait in single file; and the outcomes
    that finish together are recorded in one transaction, not one each."""
    approved(sessions, 8)
    slow = HeldMailer()
    worker = DeliveryWorker(Settings(delivery_concurrency=8), sessions, slow, LINKS,
                            clock=Clock(NOW))  # fmt: skip
    rounds: list[int] = []
    write = worker.courier._write
    monkeypatch.setattr(
        worker.courier, "_write", lambda s, batch: (rounds.append(len(batch)), write(s, batch))
    )
    sending = asyncio.create_task(worker.run_once())  # one lane: a batch of 8, 4 at a time
    await until(lambda: slow.in_flight == 4)
    slow.through.set()
    assert await sending == 8
    assert slow.most_in_flight == 4
    assert {status for status, _ in leases(sessions).values()} == {"sent"}
    assert sum(rounds) == 8 and len(rounds) < 8


async def test_a_batch_of_outcomes_reads_its_rows_once(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording the outcomes that finished together reads their rows in one query, not
    one query (and one flush) per outcome."""
    approved(sessions, 6)
    worker = DeliveryWorker(Settings(delivery_concurrency=8), sessions, MemoryMailer(), LINKS,
                            clock=Clock(NOW))  # fmt: skip
    reads: list[list[str]] = []
    write = worker.courier._write

    def counted(session: Session, batch: Any) -> None:
        statements: list[str] = []

        def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
            if statement.lstrip().upper().startswith("SELECT") and "notifications" in statement:
                statements.append(statement)

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", note)
        try:
            write(session, batch)
            session.flush()
        finally:
            event.remove(engine, "before_cursor_execute", note)
        reads.append(statements)

    monkeypatch.setattr(worker.courier, "_write", counted)
    assert await worker.run_once() == 6
    assert {status for status, _ in leases(sessions).values()} == {"sent"}
    assert reads and all(len(statements) == 1 for statements in reads), reads


async def test_a_batch_cancelled_after_an_email_was_accepted_records_it_before_handing_back(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The e-mail the server has accepted is recorded sent (not sent again by the next
    worker); the one still in flight is handed back. The recorder is held (as a slow
    write lock would hold it), so only the cancellation's own record can save it."""
    approved(sessions, 2)
    firsts: list[str] = []

    class OneThrough(HeldMailer):
        async def send(self, message: EmailMessage) -> None:
            if not firsts:
                firsts.append(str(message["Message-ID"]))
                await MemoryMailer.send(self, message)
                return
            await super().send(message)

    slow = OneThrough()
    worker = DeliveryWorker(Settings(delivery_concurrency=4), sessions, slow, LINKS,
                            clock=Clock(NOW))  # fmt: skip

    async def held_recorder(*_args: Any) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(worker.courier, "_recorder", held_recorder)
    sending = asyncio.create_task(worker.run_once())
    await until(lambda: slow.in_flight == 1 and len(slow.messages) == 1)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert sorted(leases(sessions).values(), key=str) == [("approved", None), ("sent", None)]


async def test_a_cancelled_batch_hands_back_what_was_not_sent(
    sessions: sessionmaker[Session],
) -> None:
    approved(sessions, 2)
    slow = HeldMailer()
    sending = asyncio.create_task(
        DeliveryWorker(SETTINGS, sessions, slow, LINKS, clock=Clock(NOW)).run_once()
    )
    await asyncio.wait_for(slow.talking.wait(), 10)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert list(leases(sessions).values()) == [("approved", None)] * 2


# --- the rules on each table ---------------------------------------------------------------


def notifications_row(sessions: sessionmaker[Session]) -> tuple[Outbox[Notification], str]:
    [nid] = approved(sessions, 1)
    return deliver.outbox(SETTINGS), nid


def escalation_row(sessions: sessionmaker[Session]) -> tuple[Outbox[EscalationStep], int]:
    [nid] = approved(sessions, 1)
    with transaction(sessions) as s:
        step = EscalationStep(notification_id=nid, step="late", due_at=NOW, raised_at=NOW,
                              role="first_response", recipient="duty@first-response.example",
                              status="pending", attempts=0, last_error="")  # fmt: skip
        s.add(step)
        s.flush()
        return alerts.outbox(SETTINGS), step.id


@pytest.mark.parametrize(
    "table", [notifications_row, escalation_row], ids=["notifications", "escalation_steps"]
)
def test_renewing_and_releasing_leave_alone_a_row_another_worker_took_over(
    sessions: sessionmaker[Session], table: Callable[..., tuple[Outbox[Any], object]]
) -> None:
    box, row_id = table(sessions)

    def claim(at: datetime) -> int:
        with transaction(sessions) as s:
            [row] = box.claimable(s, at, order_by=box.table.id, limit=5)
            box.lease(row, at)
            return row.attempts

    def state() -> tuple[str, datetime | None, int]:
        with transaction(sessions) as s:
            row = s.get(box.table, row_id)
            assert row is not None
            return row.status, row.claimed_until, row.attempts

    first = claim(NOW)
    later = NOW + LEASE + timedelta(seconds=1)
    with transaction(sessions) as s:
        assert box.claimable(s, NOW + LEASE - timedelta(seconds=1), order_by=box.table.id,
                             limit=5) == []  # fmt: skip
    second = claim(later)  # the first worker's lease ran out: another took the row
    assert (first, second) == (1, 2)
    with transaction(sessions) as s:
        assert box.renew(s, {row_id: first}, later) == 0
        box.release(s, {row_id: first})
    assert state() == (box.claimed, later + LEASE, 2)
    with transaction(sessions) as s:
        assert box.renew(s, {row_id: second}, later + LEASE / 2) == 1
    assert state() == (box.claimed, later + LEASE * 1.5, 2)
    with transaction(sessions) as s:
        box.release(s, {row_id: second})
    assert state() == (box.waiting, None, 2)
    with transaction(sessions) as s:  # handed back: due at once
        assert len(box.claimable(s, later, order_by=box.table.id, limit=5)) == 1


def test_temporary_failures_back_off_doubling_until_the_last_attempt() -> None:
    box = deliver.outbox(Settings(delivery_backoff_s=5, delivery_max_attempts=4))
    row = Notification(status="sending", attempts=0, last_error="")
    waits = []
    for attempt in range(1, 5):
        row.attempts = attempt
        waits.append(box.back_off(row, TransientDeliveryError("451 later"), NOW))
    assert waits == [5, 10, 20, None]
    row.attempts = 1
    assert box.back_off(row, PermanentDeliveryError("550 no such user"), NOW) is None


def test_a_row_backing_off_waits_unclaimed_until_its_next_attempt() -> None:
    box = alerts.outbox(Settings(delivery_backoff_s=5))
    row = EscalationStep(status="pending", attempts=2, claimed_until=NOW + LEASE)
    assert box.back_off(row, TransientDeliveryError("451 later"), NOW) == 10
    assert (row.status, row.claimed_until, row.next_attempt_at, row.last_error) == (
        "pending",
        None,
        NOW + timedelta(seconds=10),
        "451 later",
    )


async def test_the_email_is_built_off_the_event_loop_and_a_failed_build_hands_the_claims_back(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    approved(sessions, 3)
    clock = Clock(NOW)
    mailer = MemoryMailer()
    worker = DeliveryWorker(SETTINGS, sessions, mailer, LINKS, clock=clock)
    built_on: list[threading.Thread] = []
    build = worker._build

    def broken(job: deliver.Job) -> EmailMessage:
        built_on.append(threading.current_thread())
        raise RuntimeError("template broken")

    monkeypatch.setattr(worker, "_build", broken)
    with pytest.raises(RuntimeError):
        await worker.run_once()
    assert built_on and threading.main_thread() not in built_on
    # Handed back at once, not held for a lease: due again now, unsent, attempt counted.
    assert {status for status, _ in leases(sessions).values()} == {"approved"}
    assert {until for _, until in leases(sessions).values()} == {None}
    monkeypatch.setattr(worker, "_build", build)
    assert await worker.run_once() == 3
    assert len(mailer.messages) == 3
    assert {status for status, _ in leases(sessions).values()} == {"sent"}
