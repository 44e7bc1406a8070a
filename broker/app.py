"""The broker process: the FastStream app, its intake subscriber and background workers.

``EncompassService`` owns every client (Kafka, database, SMTP) and is built from one
``Settings``; nothing is created at import time. ``build_app`` wraps it for ``faststream run``.
"""

from __future__ import annotations

import asyncio
import logging
import contextlib
from datetime import UTC, datetime
from typing import Any

import structlog
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy

from broker.database import make_engine, run_in_session, session_factory, upgrade
from broker.kafka_admin import ensure_topics
from broker.mailer import Mailer, SmtpMailer
from broker.settings import Settings
from broker.topics import Topics
from consumers.audit_publish import AuditPublisher
from consumers.deliver import DeliveryWorker
from consumers.intake import Refused, parse_incident, record_refusal
from consumers.pipeline import process_incident

log = structlog.get_logger(__name__)


async def raw_bytes(message: StreamMessage[Any]) -> bytes:
    """Intake validates the bytes itself, so that refused input can be dead-lettered as is."""
    return bytes(message.body)


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
        if migrate:
            upgrade(self.database_url)
        self.engine = make_engine(self.database_url)
        self.sessions = session_factory(self.engine)
        self.mailer = mailer or SmtpMailer(settings)
        # Per-message access lines at DEBUG: our own log line per incident says more.
        self.broker = KafkaBroker(
            self.bootstrap, acks="all", enable_idempotence=False, log_level=logging.DEBUG
        )
        self.delivery = DeliveryWorker(settings, self.sessions, self.mailer)
        self.audit_publisher = AuditPublisher(self.sessions, self._publish_audit)
        self._tasks: list[asyncio.Task[None]] = []
        self._register()

    def _register(self) -> None:
        settings, topics, sessions = self.settings, self.topics, self.sessions
        timeout = settings.kafka_session_timeout_ms

        @self.broker.subscriber(
            topics.incidents,
            group_id=settings.consumer_group,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            session_timeout_ms=timeout,
            heartbeat_interval_ms=max(timeout // 3, 300),
            decoder=raw_bytes,
        )
        async def on_incident(body: bytes, msg: KafkaMessage) -> None:
            record = msg.raw_message
            assert not isinstance(record, tuple)
            source = f"{record.topic}/{record.partition}/{record.offset}"
            key = record.key.decode("utf-8", "replace") if record.key else None
            structlog.contextvars.bind_contextvars(source=source)
            try:
                try:
                    incident = parse_incident(body)
                except Refused as refused:
                    await self.dead_letter(body, record.key, refused.reason, source)
                    await run_in_session(sessions, record_refusal, refused.reason, source, key)
                    log.warning("incident_refused", reason=refused.reason)
                    return
                outcome = await run_in_session(
                    sessions, process_incident, settings, incident, source
                )
                log.info(
                    "incident_processed",
                    incident_id=incident.incident_id,
                    revision=incident.revision,
                    outcome=outcome.outcome.value,
                )
                self.delivery.wake.set()
            except Exception:
                # Not committed: the offset is rewound and the event comes back. A short
                # pause keeps an outage (database down) from becoming a busy loop.
                log.exception("incident_failed_will_retry")
                await asyncio.sleep(1.0)
                raise
            finally:
                structlog.contextvars.unbind_contextvars("source")

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
        await ensure_topics(self.bootstrap, self.topics.all(), self.settings.topic_partitions)
        await self.broker.start()
        self.start_workers()

    def start_workers(self) -> None:
        self._tasks = [
            asyncio.create_task(self.delivery.run(), name="delivery"),
            asyncio.create_task(self.audit_publisher.run(), name="audit-publish"),
        ]

    async def stop(self) -> None:
        await self.broker.stop()  # stop taking events first; in-flight work finishes
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.engine.dispose()


def build_app(settings: Settings) -> FastStream:
    """For ``faststream run``: the same service under FastStream's own lifecycle."""
    service = EncompassService(settings)

    async def before() -> None:
        await ensure_topics(service.bootstrap, service.topics.all(), settings.topic_partitions)

    async def after() -> None:
        service.start_workers()

    async def shutdown() -> None:
        for task in service._tasks:
            task.cancel()

    return FastStream(
        service.broker, on_startup=[before], after_startup=[after], on_shutdown=[shutdown]
    )
