"""Prometheus metrics and readiness for the broker process (``/metrics``, ``/readyz``).

Counters are bumped where things happen; the notification gauges are read from the
database at scrape time, so every instance reports the same truth about the queue. The
query runs on a worker thread, never on the event loop (a reviewer's CLI holding the
SQLite write lock must not stall Kafka heartbeats, SMTP and the console): each scrape first
awaits ``QueueCollector.refresh``, one query at a time however many scrapes come, and
serves the last figures when the database does not answer within ``REFRESH_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from foundations.clock import utcnow
from foundations.database import transaction
from foundations.models import (
    UNSENT_STATUSES,
    Bounce,
    BounceKind,
    Notification,
    NotificationStatus,
)

log = structlog.get_logger(__name__)

# A scrape waits this long for fresh queue figures, then serves the last ones (Prometheus
# gives a scrape 10 s by default).
REFRESH_TIMEOUT_S = 5.0


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "encompass_events_total",
            "Incident events taken from Kafka",
            ["outcome"],
            registry=self.registry,
        )
        self.matches = Counter(
            "encompass_matches_total",
            "Children matched, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.emails = Counter(
            "encompass_emails_total",
            "E-mails to schools, by result",
            ["result"],
            registry=self.registry,
        )
        self.intake_pool_fallbacks = Counter(
            "encompass_intake_pool_fallbacks_total",
            "Accounts the intake redacted and checked in process because its worker pool "
            "failed (error, broken, timeout, submit); the results are the same",
            ["why"],
            registry=self.registry,
        )
        self.bounce_reports = Counter(
            "encompass_bounce_reports_total",
            "Reports taken by this process's bounce listener, by outcome "
            "(permanent, delayed, duplicate, ignored, forged, later)",
            ["outcome"],
            registry=self.registry,
        )


@dataclass(frozen=True)
class QueueFigures:
    """What the database said about the queue at its last reading."""

    by_status: dict[str, int]
    first_created: Any
    first_due: Any
    bounces: dict[str, int] = field(default_factory=dict)  # recorded, by kind


def read_queue(sessions: sessionmaker[Session]) -> QueueFigures:
    """Notifications by status, and the oldest creation and earliest deadline of those not
    yet sent. Blocking: call it off the event loop."""
    unsent = [s.value for s in UNSENT_STATUSES]
    with transaction(sessions) as session:
        counts = dict(
            session.execute(
                select(Notification.status, func.count()).group_by(Notification.status)
            ).all()
        )
        first_created, first_due = session.execute(
            select(func.min(Notification.created_at), func.min(Notification.deliver_by)).where(
                Notification.status.in_(unsent)
            )
        ).one()
        bounces = dict(
            session.execute(select(Bounce.kind, func.count()).group_by(Bounce.kind)).all()
        )
    return QueueFigures(
        {str(k): int(v) for k, v in counts.items()},
        first_created,
        first_due,
        {str(k): int(v) for k, v in bounces.items()},
    )


class QueueCollector(Collector):
    """Notifications by status, the oldest pending one and the least slack to deliver_by,
    from the figures of the last ``refresh``; and the consumer lag, from memory."""

    def __init__(
        self, sessions: sessionmaker[Session], lag: Callable[[], dict[str, int]] | None = None
    ) -> None:
        self.sessions = sessions
        self.lag = lag
        self.figures: QueueFigures | None = None
        self._reading: asyncio.Task[QueueFigures] | None = None

    async def refresh(self, timeout_s: float = REFRESH_TIMEOUT_S) -> None:
        """Read the queue on a worker thread; scrapes that arrive meanwhile wait for the
        same reading. After ``timeout_s`` the reading goes on, and the scrape is served the
        last figures."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(asyncio.to_thread(read_queue, self.sessions))
            self._reading.add_done_callback(self._keep)
        try:
            await asyncio.wait_for(asyncio.shield(self._reading), timeout_s)
        except TimeoutError:
            log.warning("queue_metrics_stale", waited_s=timeout_s)
        except Exception as exc:  # the database away: /readyz says so; keep the last figures
            log.warning("queue_metrics_unavailable", error=type(exc).__name__)

    def _keep(self, reading: asyncio.Task[QueueFigures]) -> None:
        if not reading.cancelled() and reading.exception() is None:
            self.figures = reading.result()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self.figures
        if figures is not None:
            yield from _queue_gauges(figures)
        if self.lag is not None:
            lag = GaugeMetricFamily(
                "encompass_consumer_lag", "Events not yet taken, by partition", labels=["partition"]
            )
            for partition, behind in self.lag().items():
                lag.add_metric([partition], behind)
            yield lag


def _queue_gauges(figures: QueueFigures) -> Iterator[GaugeMetricFamily]:
    by_status = GaugeMetricFamily(
        "encompass_notifications", "Notifications by status", labels=["status"]
    )
    oldest = GaugeMetricFamily(
        "encompass_oldest_pending_age_seconds", "Age of the oldest notification not yet sent"
    )
    slack = GaugeMetricFamily(
        "encompass_min_slack_to_deliver_by_seconds",
        "Least time left to deliver_by among unsent notifications (negative: late)",
    )
    now = utcnow()  # the ages go on growing while the figures wait to be read again
    for status in NotificationStatus:
        by_status.add_metric([status.value], figures.by_status.get(status.value, 0))
    yield by_status
    oldest.add_metric([], _seconds(now, figures.first_created))
    yield oldest
    slack.add_metric([], -_seconds(now, figures.first_due) if figures.first_due else 0.0)
    yield slack
    bounces = GaugeMetricFamily(
        "encompass_bounces",
        "Bounces recorded (the listener's and the mailbox's), by kind",
        labels=["kind"],
    )
    for kind in BounceKind:
        bounces.add_metric([kind.value], figures.bounces.get(kind.value, 0))
    yield bounces


def _seconds(now: datetime, then: Any) -> float:
    if then is None:
        return 0.0
    if isinstance(then, datetime) and then.tzinfo is None:  # SQLite aggregate: naive UTC
        from datetime import UTC

        then = then.replace(tzinfo=UTC)
    return float((now - then).total_seconds())
