"""The broker process: the FastStream app, its intake subscriber and background workers.

``EncompassService`` owns every client (Kafka, database, SMTP) and is built from one
``Settings``; nothing is created at import time. ``build_app`` wraps it for ``faststream run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import ConsumerRecord
from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from sqlalchemy.orm import Session

from broker.database import make_engine, run_in_session, session_factory, upgrade
from broker.kafka_admin import ensure_topics
from broker.mailer import Mailer, SmtpMailer
from broker.settings import Settings
from broker.topics import Topics
from consumers.audit_publish import AuditPublisher
from consumers.deliver import DeliveryWorker
from consumers.intake import Refused, parse_incident, record_refusal
from consumers.pipeline import process_incident
from schemas.incident import PoliceIncident

log = structlog.get_logger(__name__)


async def raw_batch(message: StreamMessage[Any]) -> list[bytes]:
    """Intake validates the bytes itself, so that refused input can be dead-lettered as is."""
    return [bytes(b) for b in message.body]


async def tolerant_headers(
    records: tuple[ConsumerRecord[Any, Any], ...],
    original: Callable[[tuple[ConsumerRecord[Any, Any], ...]], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """FastStream decodes header values as UTF-8 and would fail on anything else, before
    our handler could dead-letter the event: make undecodable header values harmless."""
    safe = tuple(
        dataclasses.replace(
            r, headers=[(k, v.decode("utf-8", "replace").encode()) for k, v in r.headers]
        )
        for r in records
    )
    return await original(safe)


def take_all(
    session: Session,
    settings: Settings,
    accepted: list[tuple[PoliceIncident, str]],
    refused: list[tuple[str, str, str | None]],
) -> list[tuple[str, int, str, str]]:
    for reason, source, key in refused:
        record_refusal(session, reason, source, key)
    outcomes = []
    for incident, source in accepted:
        intake = process_incident(session, settings, incident, source)
        outcomes.append((incident.incident_id, incident.revision, intake.outcome.value, source))
    return outcomes


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
            except Exception:
                # Not committed: the offsets are rewound and the events come back. A short
                # pause keeps an outage (database down) from becoming a busy loop.
                log.exception("incidents_failed_will_retry", count=len(records))
                await asyncio.sleep(1.0)
                raise
            self.delivery.wake.set()

    async def take_batch(self, records: tuple[ConsumerRecord[Any, Any], ...]) -> None:
        """Dead-letter what is refused, then record the rest in one transaction; the offsets
        are committed by FastStream only after this returns."""
        accepted: list[tuple[PoliceIncident, str]] = []
        refused: list[tuple[str, str, str | None]] = []
        for record in records:
            source = f"{record.topic}/{record.partition}/{record.offset}"
            key = record.key.decode("utf-8", "replace") if record.key else None
            try:
                accepted.append((parse_incident(record.value or b""), source))
            except Refused as why:
                await self.dead_letter(record.value or b"", record.key, why.reason, source)
                refused.append((why.reason, source, key))
                log.warning("incident_refused", source=source, reason=why.reason)
        try:
            outcomes = await run_in_session(
                self.sessions, take_all, self.settings, accepted, refused
            )
        except Exception:
            if len(accepted) + len(refused) <= 1:
                raise
            # One event the batch cannot take must not hold the others back: one by one,
            # so that the failing one is retried alone.
            log.warning("batch_failed_one_by_one", count=len(accepted) + len(refused))
            outcomes = []
            for item in refused:
                outcomes += await run_in_session(self.sessions, take_all, self.settings, [], [item])
            for incident in accepted:
                outcomes += await run_in_session(
                    self.sessions, take_all, self.settings, [incident], []
                )
        for incident_id, revision, outcome, source in outcomes:
            log.info(
                "incident_processed",
                incident_id=incident_id,
                revision=revision,
                outcome=outcome,
                source=source,
            )

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
