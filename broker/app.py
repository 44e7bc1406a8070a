"""The broker process: the FastStream app, its intake subscriber and the workers of its roles.

``EncompassService`` owns every client (Kafka, database, SMTP), is built from one
``Settings`` and runs the roles they name (``ENCOMPASS_ROLES``, every one by default:
intake, delivery, scheduler, console; foundations/settings.py). Nothing is created at
import time.

One lifecycle, the same for ``encompass up`` (``start``, ``stop``) and ``faststream run``
(``build_app``, where FastStream starts and stops the Kafka broker between the same steps):

1. ``starting``: what needs only the database starts at once, so that approved e-mails go
   and acknowledgement links answer while Kafka is still being reached: delivery and
   escalation, the retention purge, the console, the internal listener and the bounce
   listener (broker/bounce_listener.py, when ``ENCOMPASS_BOUNCE_SMTP_HOST`` is set). Then the
   intake's language model is loaded and the topics are made sure of.
2. The Kafka broker starts: the producer connects and the intake subscriber joins its
   consumer group (after a crash, once the dead member's session has ended).
3. ``started``: the audit relay and the checkpoints, which publish to Kafka.

Stopping: ``stopping`` (intake stops taking events and the batch in hand commits; the
console, the bounce listener and the workers stop, the e-mail in flight finishing; the last
audit rows and a last tree head go out), the Kafka broker stops, then ``stopped`` (the
database engine).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from faststream import FastStream
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy import text

from broker.bounce_listener import BounceListener, bounce_listener
from broker.internal import create_internal_app
from broker.kafka_admin import ensure_topics
from broker.kafka_client import EncompassKafkaBroker, consumer_lag, kafka_broker
from broker.listener import Listener
from broker.metrics import Metrics, QueueCollector
from broker.topics import Topics
from console import sessions as console_sessions
from console.app import create_app
from console.server import ConsoleServer
from consumers import residual
from consumers.acknowledge import AckLinks
from consumers.audit_publish import AuditCheckpointer, AuditPublisher
from consumers.bounces import Taken
from consumers.deliver import DeliveryWorker
from consumers.escalate import EscalationScheduler
from consumers.intake_batch import (
    BatchOutcome,
    IntakeBatches,
    RetryLater,
    describe,
    raw_batch,
    tolerant_headers,
)
from consumers.intake_pool import IntakePool
from consumers.profiles import check_profiles
from consumers.retention import RetentionJob
from foundations.database import engine_for, run_in_session, schema_behind, session_factory, upgrade
from foundations.logging import configure_logging
from foundations.mailer import Mailer, SmtpMailer
from foundations.settings import Role, Settings
from foundations.startup import StartupRefused, refuse_unsafe_settings, restrict_data_files

log = structlog.get_logger(__name__)

KAFKA_ROLES = frozenset({Role.INTAKE, Role.SCHEDULER})  # they consume or publish


class EncompassService:
    def __init__(
        self,
        settings: Settings,
        *,
        bootstrap: str | None = None,
        mailer: Mailer | None = None,
        migrate: bool | None = None,
    ) -> None:
        self.settings = settings
        self.roles = settings.roles
        self.uses_kafka = bool(self.roles & KAFKA_ROLES)
        self.bootstrap = bootstrap or settings.kafka_bootstrap or "127.0.0.1:9092"
        self.topics = Topics.from_settings(settings)
        self.database_url = settings.resolved_database_url
        # Refused before anything is opened: unsafe settings not allowed by name, a database
        # behind this version when it is not to be migrated here, then a data key that is
        # missing or not this database's (foundations/startup.py, identity.py).
        refuse_unsafe_settings(settings, bootstrap=self.bootstrap)
        check_profiles(settings)  # each council's named profile exists (docs/councils.md)
        if settings.migrate_on_start if migrate is None else migrate:
            upgrade(self.database_url)
        elif behind := schema_behind(self.database_url):
            raise StartupRefused(
                f"{behind}, and ENCOMPASS_MIGRATE_ON_START is false: run "
                "`encompass db upgrade` first (in Kubernetes, the Job encompass-db-upgrade)"
            )
        self.engine = engine_for(settings)
        restrict_data_files(settings)
        self.sessions = session_factory(self.engine)
        self.mailer = mailer or SmtpMailer(settings)
        # Per-message access lines at DEBUG: our own log line per incident says more.
        # Security, acks=all and the idempotent producer (when the broker has one) come
        # from the settings: broker/kafka_client.py.
        self.broker: EncompassKafkaBroker = kafka_broker(
            settings, self.bootstrap, log_level=logging.DEBUG
        )
        self.links = AckLinks.from_settings(settings)
        self.metrics = Metrics()
        self._lag: dict[str, int] = {}
        intake = Role.INTAKE in self.roles
        self.queue = QueueCollector(self.sessions, (lambda: dict(self._lag)) if intake else None)
        self.metrics.registry.register(self.queue)
        self.delivery: DeliveryWorker | None = None
        self.escalation: EscalationScheduler | None = None
        if Role.DELIVERY in self.roles:
            self.delivery = DeliveryWorker(
                settings,
                self.sessions,
                self.mailer,
                self.links,
                on_result=lambda result: self.metrics.emails.labels(result).inc(),
            )
            self.escalation = EscalationScheduler(settings, self.sessions, self.mailer, self.links)
        # Delivery status notifications to our return paths (ENCOMPASS_BOUNCE_SMTP_HOST).
        self.bounce_listener: BounceListener | None = None
        if Role.DELIVERY in self.roles:
            self.bounce_listener = bounce_listener(settings, self.sessions, self._bounce_taken)
        self.audit_publisher: AuditPublisher | None = None
        self.checkpointer: AuditCheckpointer | None = None
        self.retention: RetentionJob | None = None
        if Role.SCHEDULER in self.roles:
            self.audit_publisher = AuditPublisher(self.sessions, self._enqueue_audit)
            self.checkpointer = AuditCheckpointer(settings, self.sessions, self._publish_audit)
            self.retention = RetentionJob(
                settings, self.sessions, forget_sign_ins=console_sessions.forget_old_sign_ins
            )
        self._console = Listener("console")
        self._console_app: FastAPI | None = None
        self._internal = Listener("internal_listener")
        # The intake's worker processes (ENCOMPASS_INTAKE_WORKERS; consumers/intake_pool.py),
        # started with the intake, before it joins its group; none when the setting is 0.
        self.intake_pool: IntakePool | None = None
        if intake and settings.intake_workers > 0:
            self.intake_pool = IntakePool(
                settings.intake_workers,
                on_fallback=lambda why: self.metrics.intake_pool_fallbacks.labels(why).inc(),
            )
        self.intake = IntakeBatches(
            settings, self.sessions, self.dead_letter, pool=self.intake_pool
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.running = False
        if intake:
            self._register()

    @property
    def console(self) -> ConsoleServer | None:
        return self._console.server

    @property
    def internal(self) -> ConsoleServer | None:
        return self._internal.server

    def _register(self) -> None:
        settings = self.settings
        timeout = settings.kafka_session_timeout_ms

        @self.broker.subscriber(
            self.topics.incidents,
            group_id=settings.consumer_group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=timeout,
            heartbeat_interval_ms=max(timeout // 3, 300),
            batch=True,
            max_records=settings.intake_batch_size,
            parser=tolerant_headers,
            decoder=raw_batch,
        )
        async def on_incidents(body: list[bytes], msg: KafkaMessage) -> None:
            records = msg.raw_message
            assert isinstance(records, tuple)
            try:
                await self.take_batch(records)
            except Exception as exc:
                # Not committed: the offsets are rewound and the events come back. A short
                # pause keeps an outage (database down) from becoming a busy loop. The
                # error is described without the statement's parameters.
                why = describe(exc)
                log.error("incidents_failed_will_retry", count=len(records), error=why)
                await asyncio.sleep(1.0)
                raise RetryLater(why) from None
            if self.delivery is not None:
                self.delivery.wake.set()

    async def take_batch(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        """Record or dead-letter every event of the batch (consumers/intake_batch.py); the
        offsets are committed by FastStream only after this returns."""
        outcome = await self.intake.take_batch(records)
        self._note_progress(records, outcome)
        for t in outcome.taken:
            log.info(
                "incident_processed",
                incident_id=t.incident_id,
                revision=t.revision,
                outcome=t.outcome,
                source=t.source,
            )

    def _note_progress(
        self, records: tuple[ConsumerRecord[Any, Any], ...], outcome: BatchOutcome
    ) -> None:
        if outcome.refused:
            self.metrics.events.labels("refused").inc(outcome.refused)
        if outcome.dead_lettered:
            self.metrics.events.labels("dead_lettered").inc(outcome.dead_lettered)
        for t in outcome.taken:
            self.metrics.events.labels(t.outcome).inc()
            for match in t.matches:
                self.metrics.matches.labels(match).inc()
        self._lag.update(consumer_lag(self.broker, records))

    def _bounce_taken(self, taken: Taken) -> None:
        """Counted; the workers woken when the report left them something to send."""
        self.metrics.bounce_reports.labels(taken.outcome.value).inc()
        if taken.sent_again and self.delivery is not None:
            self.delivery.wake.set()
        if taken.alerted and self.escalation is not None:
            self.escalation.wake.set()

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Ready when the database answers, and the Kafka broker does when a role uses it."""
        checks: dict[str, str] = {}
        try:
            await run_in_session(self.sessions, lambda s: s.execute(text("SELECT 1")))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        if self.uses_kafka:
            checks["kafka"] = "ok" if await self.broker.ping(timeout=2.0) else "unavailable"
        return all(v == "ok" for v in checks.values()), checks

    async def dead_letter(self, body: bytes, key: bytes | None, reason: str, source: str) -> None:
        await self.broker.publish(
            body,
            topic=self.topics.dlq,
            key=key,
            headers={
                "x-error": reason,
                "x-error-at": datetime.now(UTC).isoformat(),
                "x-source": source,
            },
        )

    async def _publish_audit(self, payload: bytes, key: str) -> None:
        await (await self._enqueue_audit(payload, key))

    async def _enqueue_audit(self, payload: bytes, key: str) -> Awaitable[Any]:
        """Queued with the producer; the returned future is the broker's acknowledgement."""
        queued = await self.broker.publish(
            payload,
            topic=self.topics.audit,
            key=key.encode(),
            headers={"content-type": "application/json"},
            no_confirm=True,
        )
        if inspect.isawaitable(queued):
            return queued
        done = asyncio.get_running_loop().create_future()  # the in-memory test broker
        done.set_result(queued)
        return done

    # --- the lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Steps 1 to 3. A start that fails or is cancelled stops what it had started."""
        try:
            await self.starting()
            if self.uses_kafka:
                await self.broker.start()
            await self.started()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self.running:
            await self.stopping()
            if self.uses_kafka:
                await self.broker.stop()
        await self.stopped()

    async def starting(self) -> None:
        """Step 1: the roles that need only the database, at once; then what intake needs
        before it joins its group."""
        self.running = True
        self.start_workers()
        self.start_console()
        self.start_internal()
        if self.bounce_listener is not None:
            await self.bounce_listener.start()
        if not self.uses_kafka:
            return
        if Role.INTAKE in self.roles:
            # The residual check's language model and word lists, loaded before the first
            # incident; a missing model stops the start here, never lets an account through.
            loading = [asyncio.to_thread(residual.warm_up)]
            if self.intake_pool is not None:  # each worker loads the same, meanwhile
                loading.append(asyncio.to_thread(self.intake_pool.start))
            await asyncio.gather(*loading)
        await ensure_topics(
            self.bootstrap,
            self.topics.all(),
            self.settings.topic_partitions,
            settings=self.settings,
        )

    async def started(self) -> None:
        """Step 3, the Kafka broker connected: the audit relay and checkpoints."""
        if self.audit_publisher is not None:
            self._spawn("audit-publish", self.audit_publisher.run)
        if self.checkpointer is not None:
            self._spawn("audit-checkpoint", self.checkpointer.run)

    async def stopping(self) -> None:
        """Stop taking events (the batch in hand finishes and commits), stop serving, let
        the e-mail in flight finish, sign and publish a last tree head."""
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        await self.stop_console()
        await self.stop_internal()
        if self.bounce_listener is not None:
            await self.bounce_listener.stop()
        if self.delivery is not None:
            self.delivery.request_stop()
        delivering = [t for name, t in self._tasks.items() if name == "delivery"]
        if delivering:  # at most one SMTP conversation
            await asyncio.wait(delivering, timeout=self.settings.smtp_timeout_s + 5)
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.mailer.aclose()  # QUIT the SMTP connections kept open between e-mails
        relaying = "audit-publish" in self._tasks
        self._tasks = {}
        if relaying and self.audit_publisher and self.checkpointer:
            # Kafka was reached: the trail's last rows and head go out now.
            try:
                await self.audit_publisher.run_once()
                await self.checkpointer.run_once()
                await self.audit_publisher.run_once()
            except Exception:
                log.exception("audit_flush_on_shutdown_failed")
            # A peer's relay takes over at its next poll, not after this one's lease.
            try:
                await self.audit_publisher.release()
            except Exception:
                log.exception("audit_relay_release_failed")

    async def stopped(self) -> None:
        if self.intake_pool is not None:  # the batch in hand has finished (stopping)
            await asyncio.to_thread(self.intake_pool.stop)
        self.engine.dispose()
        self.running = False

    def _spawn(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if name not in self._tasks:
            self._tasks[name] = asyncio.create_task(run(), name=name)

    def start_workers(self) -> None:
        """The workers of this process's roles that need only the database."""
        if self.delivery is not None:
            self._spawn("delivery", self.delivery.run)
        if self.escalation is not None:
            self._spawn("escalation", self.escalation.run)
        if self.retention is not None:
            self._spawn("retention", self.retention.run)

    def start_internal(self) -> None:
        """Serve /metrics, /readyz and the API's OpenAPI document on the internal listener
        (broker/internal.py), never on the public console port; every process does."""
        console = self._console_app
        openapi = getattr(console.state, "api_openapi", None) if console is not None else None
        app = create_internal_app(
            self.metrics.registry, self.readiness, openapi, before_scrape=self.queue.refresh
        )
        host, port = self.settings.internal_http_host, self.settings.internal_http_port
        self._internal.start(app, host, port)

    async def stop_internal(self) -> None:
        await self._internal.stop()

    def start_console(self) -> None:
        """Serve the console (acknowledgement links), with the console role."""
        if Role.CONSOLE not in self.roles or not self.settings.console_enabled:
            return
        if self._console_app is None:
            self._console_app = create_app(self.settings, self.sessions, links=self.links)
        self._console.start(self._console_app, self.settings.http_host, self.settings.http_port)

    async def stop_console(self) -> None:
        await self._console.stop()


def build_app(settings: Settings | None = None) -> FastStream:
    """For ``faststream run broker.app:build_app --factory`` (the settings from the
    environment): the lifecycle above, with FastStream starting and stopping the Kafka
    broker between its steps. A process with no role that uses Kafka runs ``encompass up
    --roles ...`` instead, which does not connect to Kafka at all."""
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    service = EncompassService(settings)
    app = FastStream(
        service.broker,
        on_startup=[service.starting],
        after_startup=[service.started],
        on_shutdown=[service.stopping],
        after_shutdown=[service.stopped],
    )
    app.context.set_global("encompass", service)
    return app
