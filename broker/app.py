"""The broker process: the FastStream app, its intake subscriber and background workers.

``EncompassService`` owns every client (Kafka, database, SMTP) and is built from one
``Settings``; nothing is created at import time. ``build_app`` wraps it for ``faststream run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import ConsumerRecord, TopicPartition
from fastapi import FastAPI
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy import text

from broker.internal import create_internal_app
from broker.kafka_admin import ensure_topics
from broker.kafka_security import kafka_broker
from broker.metrics import Metrics, QueueCollector
from broker.topics import Topics
from console import sessions as console_sessions
from console.app import create_app
from console.server import ConsoleServer
from consumers import residual
from consumers.acknowledge import AckLinks
from consumers.audit_publish import AuditCheckpointer, AuditPublisher
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
from consumers.retention import RetentionJob
from foundations.database import engine_for, run_in_session, session_factory, upgrade
from foundations.mailer import Mailer, SmtpMailer
from foundations.settings import Settings
from foundations.startup import refuse_unsafe_settings, restrict_data_files

log = structlog.get_logger(__name__)


class EncompassService:
    def __init__(
        self,
        settings: Settings,
        *,
        bootstrap: str | None = None,
        mailer: Mailer | None = None,
        migrate: bool = True,
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap or settings.kafka_bootstrap or "127.0.0.1:9092"
        self.topics = Topics.from_settings(settings)
        self.database_url = settings.resolved_database_url
        # Refused before anything is opened: unsafe settings not allowed by name, then a
        # data key that is missing or not this database's (foundations/startup.py, identity.py).
        refuse_unsafe_settings(settings, bootstrap=self.bootstrap)
        if migrate:
            upgrade(self.database_url)
        self.engine = engine_for(settings)
        restrict_data_files(settings)
        self.sessions = session_factory(self.engine)
        self.mailer = mailer or SmtpMailer(settings)
        # Per-message access lines at DEBUG: our own log line per incident says more.
        # Security, acks=all and the idempotent producer (when the broker has one) come
        # from the settings: broker/kafka_security.py.
        self.broker: KafkaBroker = kafka_broker(settings, self.bootstrap, log_level=logging.DEBUG)
        self.links = AckLinks.from_settings(settings)
        self.metrics = Metrics()
        self._lag: dict[str, int] = {}
        self.metrics.registry.register(QueueCollector(self.sessions, lambda: dict(self._lag)))
        self.delivery = DeliveryWorker(
            settings,
            self.sessions,
            self.mailer,
            self.links,
            on_result=lambda result: self.metrics.emails.labels(result).inc(),
        )
        self.escalation = EscalationScheduler(settings, self.sessions, self.mailer, self.links)
        self.console: ConsoleServer | None = None
        self._console_app: FastAPI | None = None
        self._console_task: asyncio.Task[None] | None = None
        self.internal: ConsoleServer | None = None
        self._internal_task: asyncio.Task[None] | None = None
        self.audit_publisher = AuditPublisher(self.sessions, self._publish_audit)
        self.checkpointer = AuditCheckpointer(settings, self.sessions, self._publish_audit)
        self.retention = RetentionJob(
            settings, self.sessions, forget_sign_ins=console_sessions.forget_old_sign_ins
        )
        self.intake = IntakeBatches(settings, self.sessions, self.dead_letter)
        self._tasks: list[asyncio.Task[None]] = []
        self._register()

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
        # The subscriber's aiokafka consumer knows each partition's high-water mark.
        consumers = (getattr(sub, "consumer", None) for sub in self.broker.subscribers)
        consumer = next((c for c in consumers if c is not None), None)
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            highwater = consumer.highwater(tp) if consumer is not None else None
            if highwater is not None:
                self._lag[str(record.partition)] = max(highwater - record.offset - 1, 0)

    async def readiness(self) -> tuple[bool, dict[str, str]]:
        """Ready when the database answers and the Kafka broker does."""
        checks: dict[str, str] = {}
        try:
            await run_in_session(self.sessions, lambda s: s.execute(text("SELECT 1")))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
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
        await self.broker.publish(
            payload,
            topic=self.topics.audit,
            key=key.encode(),
            headers={"content-type": "application/json"},
        )

    async def start(self) -> None:
        # The residual check's language model and word lists, loaded before the first
        # incident; a missing model stops the start here, never lets an account through.
        await asyncio.to_thread(residual.warm_up)
        await ensure_topics(
            self.bootstrap,
            self.topics.all(),
            self.settings.topic_partitions,
            settings=self.settings,
        )
        await self.broker.start()
        self.start_workers()

    def start_workers(self) -> None:
        self._tasks = [
            asyncio.create_task(self.delivery.run(), name="delivery"),
            asyncio.create_task(self.audit_publisher.run(), name="audit-publish"),
            asyncio.create_task(self.escalation.run(), name="escalation"),
            asyncio.create_task(self.checkpointer.run(), name="audit-checkpoint"),
            asyncio.create_task(self.retention.run(), name="retention"),
        ]
        self.start_console()
        self.start_internal()

    def start_internal(self) -> None:
        """Serve /metrics, /readyz and the API's OpenAPI document on the internal listener
        (broker/internal.py), never on the public console port. A port that cannot be bound
        is logged loudly and does not stop notifications from going out."""
        if self.internal is not None:
            return
        console = self._console_app
        openapi = getattr(console.state, "api_openapi", None) if console is not None else None
        app = create_internal_app(self.metrics.registry, self.readiness, openapi)
        host, port = self.settings.internal_http_host, self.settings.internal_http_port
        try:
            self.internal = ConsoleServer(app, host, port)
        except OSError as exc:
            log.error("internal_listener_unavailable", host=host, port=port, error=str(exc))
            return
        self._internal_task = asyncio.create_task(self.internal.serve(), name="internal-http")
        log.info("internal_listener_started", url=self.internal.url)

    async def stop_internal(self) -> None:
        if self.internal is None:
            return
        self.internal.request_stop()
        if self._internal_task is not None:
            try:
                await asyncio.wait_for(self._internal_task, 5)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:
                log.exception("internal_listener_stop_failed")
        self.internal.close()
        self.internal, self._internal_task = None, None

    def start_console(self) -> None:
        """Serve the console (acknowledgement links) in this process. A port that cannot be
        bound is logged loudly and does not stop notifications from going out."""
        if not self.settings.console_enabled or self.console is not None:
            return
        app = create_app(self.settings, self.sessions, links=self.links)
        self._console_app = app
        try:
            self.console = ConsoleServer(app, self.settings.http_host, self.settings.http_port)
        except OSError as exc:
            log.error(
                "console_unavailable",
                host=self.settings.http_host,
                port=self.settings.http_port,
                error=str(exc),
            )
            return
        self._console_task = asyncio.create_task(self.console.serve(), name="console")
        log.info("console_started", url=self.console.url)

    async def stop_console(self) -> None:
        if self.console is None:
            return
        self.console.request_stop()
        if self._console_task is not None:
            try:
                await asyncio.wait_for(self._console_task, 5)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:
                log.exception("console_stop_failed")
        self.console.close()
        self.console, self._console_task = None, None

    async def stop(self) -> None:
        """Stop taking events (the batch in hand finishes and commits), let the e-mail in
        flight finish, sign and publish a last tree head, then close everything."""
        for subscriber in self.broker.subscribers:
            await subscriber.stop()
        await self.stop_console()
        await self.stop_internal()
        self.delivery.request_stop()
        delivering = [t for t in self._tasks if t.get_name() == "delivery"]
        if delivering:  # at most one SMTP conversation
            await asyncio.wait(delivering, timeout=self.settings.smtp_timeout_s + 5)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:  # we were running: the trail's last rows and head go out now
            try:
                await self.audit_publisher.run_once()
                await self.checkpointer.run_once()
                await self.audit_publisher.run_once()
            except Exception:
                log.exception("audit_flush_on_shutdown_failed")
        self._tasks = []
        await self.broker.stop()
        self.engine.dispose()


def build_app(settings: Settings) -> FastStream:
    """For ``faststream run``: the same service under FastStream's own lifecycle."""
    service = EncompassService(settings)

    async def before() -> None:
        await ensure_topics(
            service.bootstrap, service.topics.all(), settings.topic_partitions, settings=settings
        )

    async def after() -> None:
        service.start_workers()

    async def shutdown() -> None:
        await service.stop_console()
        await service.stop_internal()
        for task in service._tasks:
            task.cancel()

    return FastStream(
        service.broker, on_startup=[before], after_startup=[after], on_shutdown=[shutdown]
    )
