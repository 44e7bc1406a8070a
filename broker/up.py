"""``encompass up``: everything on one machine, or the roles ``--roles`` names (each
Kubernetes Deployment runs one). ``--demo`` adds a synthetic directory, a stream of
synthetic incidents and a local mail catcher."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from broker.app import KAFKA_ROLES, EncompassService
from broker.demo import PupilSeed, incident_stream
from broker.embedded import EmbeddedKafka
from broker.mail_catcher import MailCatcher
from broker.runtime import clear_runtime, holding_data_folder, write_runtime
from consumers.profiles import check_profiles
from foundations.database import transaction
from foundations.logging import configure_logging
from foundations.models import Pupil
from foundations.settings import ALL_ROLES, ReviewPolicy, Role, Settings, SmtpTls
from foundations.startup import StartupRefused, refuse_unsafe_settings
from school_directory import imports
from school_directory.synthetic import write_directory

log = structlog.get_logger(__name__)


DEMO_SCHOOLS, DEMO_PUPILS = 40, 4000


def import_demo_directory(sessions: sessionmaker[Session], folder: Path) -> None:
    """The demo's synthetic directory, written to ``folder`` and imported: what
    ``up --demo`` starts with (some schools are left without a deputy, on purpose)."""
    files = write_directory(folder, schools=DEMO_SCHOOLS, pupils=DEMO_PUPILS)
    with transaction(sessions) as session:
        imports.import_schools(session, files.schools)
        imports.import_contacts(session, files.contacts)
        imports.import_pupils(session, files.pupils)
        imports.import_calendar(session, files.calendar)


def seed_directory(service: EncompassService, folder: Path) -> list[PupilSeed]:
    import_demo_directory(service.sessions, folder)
    with transaction(service.sessions) as session:
        rows = session.execute(
            select(Pupil).where(Pupil.on_roll_until.is_(None)).order_by(func.random()).limit(500)
        ).scalars()
        return [
            PupilSeed(
                p.given_names,
                p.family_name,
                p.preferred_name,
                p.date_of_birth,
                p.postcode,
                p.nhs_number or "",
            )
            for p in rows
        ]


async def publish_demo_incidents(
    service: EncompassService, seeds: list[PupilSeed], count: int, interval_s: float
) -> None:
    start = int.from_bytes(os.urandom(2), "big") * 1000
    for incident in incident_stream(seeds, count, seed=start, start=start):
        await service.broker.publish(
            json.dumps(incident).encode(),
            topic=service.topics.incidents,
            key=incident["incident_id"].encode(),
        )
        await asyncio.sleep(interval_s)
    log.info("demo_incidents_published", count=count)


async def _started(service: EncompassService, stop: asyncio.Event) -> bool:
    """Start the service (broker/app.py: what needs only the database at once, then Kafka);
    False when Ctrl-C came first, e.g. while Kafka was still being reached."""
    starting = asyncio.create_task(service.start())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        print("stopping...")
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return False
    starting.result()  # a start that failed raises here
    return True


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("demo_feed_failed", error=repr(task.exception()))


# What the demo needs and would otherwise be refused (foundations/startup.py): its First
# Response address is a placeholder and its links point at this machine.
DEMO_ALLOWS = ("first_response_email", "public_url")


def run_up(
    settings: Settings,
    *,
    demo: bool,
    incidents: int,
    interval_s: float,
    roles: frozenset[Role] | None = None,
) -> int:
    """``roles``: from ``--roles``, instead of ``ENCOMPASS_ROLES``."""
    configure_logging(settings.log_format, settings.log_level)
    if roles is not None:
        settings = settings.model_copy(update={"roles": roles})
    if demo and settings.roles != ALL_ROLES:
        raise StartupRefused("`encompass up --demo` runs every role: leave out --roles")
    if demo:
        allowed = ",".join(sorted(settings.allowed_unsafe | set(DEMO_ALLOWS)))
        settings = settings.model_copy(update={"allow_unsafe": allowed})
        if "ENCOMPASS_PUBLIC_URL" not in os.environ:  # links to the console it serves
            wildcard = settings.http_host in ("0.0.0.0", "::")  # noqa: S104 - compared, not bound
            host = "127.0.0.1" if wildcard else settings.http_host
            public = f"http://{host}:{settings.http_port}"
            settings = settings.model_copy(update={"public_url": public})
    # Before the embedded broker starts: the service checks again with its address.
    refuse_unsafe_settings(settings)
    check_profiles(settings)  # each council's named profile exists (docs/councils.md)
    with holding_data_folder(settings):
        return asyncio.run(_up(settings, demo=demo, incidents=incidents, interval_s=interval_s))


async def _up(settings: Settings, *, demo: bool, incidents: int, interval_s: float) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    embedded: EmbeddedKafka | None = None
    catcher: MailCatcher | None = None
    service: EncompassService | None = None
    tasks: list[asyncio.Task[None]] = []
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        bootstrap: str | None = settings.kafka_bootstrap
        if bootstrap is None and settings.roles & KAFKA_ROLES:
            embedded = EmbeddedKafka(log_file=settings.data_dir / "kafka.log").start()
            bootstrap = embedded.bootstrap
        if demo:
            mail_dir = settings.data_dir / "demo-mail"
            catcher = MailCatcher(mail_dir, port=0)
            catcher.start()
            update: dict[str, object] = {
                "smtp_host": "127.0.0.1",
                "smtp_port": catcher.port,
                "smtp_tls": SmtpTls.NONE,
                "smtp_username": None,
                "smtp_password": None,
            }
            if "ENCOMPASS_REVIEW_POLICY" not in os.environ:
                update["review_policy"] = ReviewPolicy.AUTO_RELEASE_EXACT
            settings = settings.model_copy(update=update)
        service = EncompassService(settings, bootstrap=bootstrap)
        seeds = seed_directory(service, settings.data_dir / "demo-directory") if demo else []
        if not await _started(service, stop):
            return 0
        kafka = f"Kafka {bootstrap}" if service.uses_kafka else "no Kafka"
        write_runtime(settings, bootstrap=bootstrap or "", database_url=service.database_url)
        roles = ",".join(sorted(settings.roles))
        print(f"encompass is up ({roles}): {kafka}, database {service.database_url}")
        if service.console is not None:
            print(f"console: {service.console.url} (acknowledgement links: {settings.public_url})")
        elif settings.console_enabled and Role.CONSOLE in settings.roles:
            print(
                f"WARNING: the console could not listen on {settings.http_host}:"
                f"{settings.http_port}: acknowledgement links will not work (see the log)"
            )
        if demo and catcher is not None:
            print(f"demo: e-mails to schools are saved in {catcher.directory}")
            print(
                f"demo: review policy {settings.review_policy.value}; try "
                "`encompass review list` in another terminal"
            )
            feed = asyncio.create_task(
                publish_demo_incidents(service, seeds, incidents, interval_s)
            )
            feed.add_done_callback(_report_failure)
            tasks.append(feed)
        print("press Ctrl-C to stop")
        await stop.wait()
        print("stopping...")
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception:  # the demo feed must not stop a clean shutdown
                    log.exception("demo_feed_failed")
        if service is not None:
            await service.stop()
        if catcher is not None:
            catcher.stop()
        if embedded is not None:
            embedded.stop()
        clear_runtime(settings)
    return 0
