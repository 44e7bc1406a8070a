"""One lifecycle, and roles that scale apart (issue 14, items 5 and 6).

What needs only the database does not wait for Kafka: approved e-mails go and the
acknowledgement pages answer while the intake has not yet joined its consumer group (after
a crash, the dead member's session must end first). A process runs the roles it is given;
one without intake or the scheduler never connects to Kafka. ``faststream run`` goes
through the same steps as ``encompass up``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from broker import cli
from broker.app import EncompassService, build_app
from broker.embedded import free_port
from foundations.clock import utcnow
from foundations.database import transaction, upgrade
from foundations.mailer import MemoryMailer
from foundations.models import Notification
from foundations.settings import ALL_ROLES, Role, Settings
from foundations.startup import StartupRefused
from tests.deadlines import DSL, add_notification, add_schools
from tests.factories import isolated_settings
from tests.test_acknowledge import plain_text


def soon() -> datetime:
    return utcnow() + timedelta(hours=12)  # due, and not late: no escalation alert


def nowhere() -> str:
    """A Kafka that is not up (yet): nothing listens there."""
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    port = free_port()
    yield isolated_settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'life.db'}",
        http_port=port,
        public_url=f"http://127.0.0.1:{port}",
    )


async def eventually(check: object, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def test_delivery_and_the_acknowledgement_pages_do_not_wait_for_kafka(
    settings: Settings,
) -> None:
    mailer = MemoryMailer()
    service = EncompassService(settings, bootstrap=nowhere(), mailer=mailer)
    add_schools(service.sessions)
    nid = add_notification(service.sessions, "N-approved", status="approved", deliver_by=soon())
    starting = asyncio.create_task(service.start())
    try:
        await eventually(lambda: mailer.messages)
        [message] = mailer.messages
        assert message["To"] == DSL
        found = re.search(r"/ack/\S+", plain_text(message))
        assert found is not None
        assert service.console is not None and service.internal is not None
        async with httpx.AsyncClient(base_url=service.console.url, timeout=10) as http:
            page = await http.get(found.group(0))
            assert page.status_code == 200 and "<form" in page.text
            assert (await http.post(found.group(0))).status_code == 200
        async with httpx.AsyncClient(base_url=service.internal.url, timeout=10) as internal:
            ready = await internal.get("/readyz")
            assert ready.json() == {"database": "ok", "kafka": "unavailable"}
        assert not starting.done(), "the start is still waiting for Kafka"
        assert service.broker.subscribers and not service.broker.running
    finally:
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
    # A start that was cancelled stopped what it had started.
    assert not service.running and service.console is None and service.internal is None
    with transaction(service.sessions) as session:
        notification = session.get(Notification, nid)
        assert notification is not None and notification.acknowledged_at is not None


async def test_a_process_without_intake_or_scheduler_never_reaches_for_kafka(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"roles": frozenset({Role.DELIVERY, Role.CONSOLE})})
    mailer = MemoryMailer()
    service = EncompassService(settings, bootstrap=nowhere(), mailer=mailer)
    assert not service.uses_kafka and service.broker.subscribers == []
    add_schools(service.sessions)
    add_notification(service.sessions, "N-approved", status="approved", deliver_by=soon())
    await asyncio.wait_for(service.start(), 10)  # no Kafka anywhere, and it starts
    try:
        await eventually(lambda: mailer.messages)
        assert service.console is not None and service.internal is not None
        async with httpx.AsyncClient(base_url=service.internal.url, timeout=10) as internal:
            ready = await internal.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"database": "ok"}
    finally:
        await service.stop()


@pytest.mark.parametrize(
    ("roles", "workers", "console"),
    [
        ({Role.INTAKE}, set(), False),
        ({Role.DELIVERY}, {"delivery", "escalation"}, False),
        ({Role.SCHEDULER}, {"retention"}, False),
        ({Role.CONSOLE}, set(), True),
        (set(ALL_ROLES), {"delivery", "escalation", "retention"}, True),
    ],
)
async def test_each_role_starts_only_its_own_parts(
    settings: Settings, roles: set[Role], workers: set[str], console: bool
) -> None:
    """Before Kafka: the database workers of the roles, the console with its role, and
    the internal listener (/metrics, /readyz) in every process."""
    settings = settings.model_copy(update={"roles": frozenset(roles)})
    service = EncompassService(settings, bootstrap=nowhere(), mailer=MemoryMailer())
    assert bool(service.broker.subscribers) == (Role.INTAKE in roles)
    service.start_workers()
    service.start_console()
    service.start_internal()
    service.running = True
    try:
        assert set(service._tasks) == workers
        assert (service.console is not None) == console
        assert service.internal is not None
        async with httpx.AsyncClient(base_url=service.internal.url, timeout=10) as internal:
            # Whatever the roles, the queue is reported: a process not sending is seen.
            scraped = (await internal.get("/metrics/")).text
            assert 'encompass_notifications{status="approved"} 0.0' in scraped
            assert ("encompass_consumer_lag" in scraped) == (Role.INTAKE in roles)
    finally:
        await service.stop()


@pytest.mark.kafka
async def test_faststream_run_goes_through_the_same_steps(
    settings: Settings, kafka_bootstrap: str
) -> None:
    settings = settings.model_copy(update={"kafka_bootstrap": kafka_bootstrap})
    app = build_app(settings)
    service = app.context.get("encompass")
    assert isinstance(service, EncompassService) and service.broker is app.broker
    await app.start()
    try:
        assert service.running and service.broker.running
        assert set(service._tasks) == {
            "delivery",
            "escalation",
            "retention",
            "audit-publish",
            "audit-checkpoint",
        }
        assert service.console is not None
        async with httpx.AsyncClient(base_url=service.console.url, timeout=10) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
    finally:
        await app.stop()
    assert not service.running and service._tasks == {} and service.console is None


def test_the_roles_come_from_the_setting_or_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().roles == ALL_ROLES
    monkeypatch.setenv("ENCOMPASS_ROLES", "intake, Delivery")
    assert Settings().roles == {Role.INTAKE, Role.DELIVERY}
    monkeypatch.setenv("ENCOMPASS_ROLES", "all")
    assert Settings().roles == ALL_ROLES
    for bad in ("", "intake,mail"):
        monkeypatch.setenv("ENCOMPASS_ROLES", bad)
        with pytest.raises(ValueError, match="role"):
            Settings()
    args = cli.parser().parse_args(["up", "--roles", "scheduler,console"])
    assert args.roles == {Role.SCHEDULER, Role.CONSOLE}
    assert cli.parser().parse_args(["up"]).roles is None  # then ENCOMPASS_ROLES
    with pytest.raises(SystemExit):
        cli.parser().parse_args(["up", "--roles", "everything"])


def test_without_migrating_at_start_a_database_behind_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"migrate_on_start": False})
    with pytest.raises(StartupRefused, match="encompass db upgrade"):
        EncompassService(settings, bootstrap=nowhere())
    upgrade(settings.resolved_database_url)
    EncompassService(settings, bootstrap=nowhere()).engine.dispose()
