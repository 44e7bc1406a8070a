"""Prometheus metrics and readiness for the broker process (``/metrics``, ``/readyz``).

Counters are bumped where things happen; the notification gauges are read from the
database at scrape time, so every instance reports the same truth about the queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from foundations.clock import utcnow
from foundations.database import transaction
from foundations.models import UNSENT_STATUSES, Notification, NotificationStatus


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


class QueueCollector(Collector):
    """Notifications by status, the oldest pending one and the least slack to deliver_by."""

    def __init__(
        self, sessions: sessionmaker[Session], lag: Callable[[], dict[str, int]] | None = None
    ) -> None:
        self.sessions = sessions
        self.lag = lag

    def collect(self) -> Iterator[GaugeMetricFamily]:
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
        now = utcnow()
        unsent = [s.value for s in UNSENT_STATUSES]
        with transaction(self.sessions) as session:
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
        for status in NotificationStatus:
            by_status.add_metric([status.value], counts.get(status.value, 0))
        yield by_status
        oldest.add_metric([], _seconds(now, first_created))
        yield oldest
        slack.add_metric([], -_seconds(now, first_due) if first_due else 0.0)
        yield slack
        if self.lag is not None:
            lag = GaugeMetricFamily(
                "encompass_consumer_lag", "Events not yet taken, by partition", labels=["partition"]
            )
            for partition, behind in self.lag().items():
                lag.add_metric([partition], behind)
            yield lag


def _seconds(now: datetime, then: Any) -> float:
    if then is None:
        return 0.0
    if isinstance(then, datetime) and then.tzinfo is None:  # SQLite aggregate: naive UTC
        from datetime import UTC

        then = then.replace(tzinfo=UTC)
    return float((now - then).total_seconds())
