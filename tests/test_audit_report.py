"""The audit report says which notifications were late (issue 15: late is shown): one sent
after its deadline, or still unsent past it, carries how late; one sent in time does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from audit.reports import ReportQuery, as_csv, as_text, notification_rows
from tests.deadlines import add_notification

DEADLINE = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_late_notifications_are_marked_with_how_late(sessions: sessionmaker[Session]) -> None:
    add_notification(
        sessions,
        "N-on-time",
        status="sent",
        deliver_by=DEADLINE,
        sent_at=DEADLINE - timedelta(hours=1),
        recipient="dsl@school.example",
    )
    add_notification(
        sessions,
        "N-sent-late",
        status="sent",
        deliver_by=DEADLINE,
        sent_at=DEADLINE + timedelta(minutes=95),
        recipient="dsl@school.example",
    )
    add_notification(sessions, "N-overdue", status="pending_review", deliver_by=DEADLINE)
    add_notification(
        sessions,
        "N-still-in-time",
        status="pending_review",
        deliver_by=DEADLINE + timedelta(days=1),
    )
    with sessions() as session:
        rows = {r["notification_id"]: r for r in notification_rows(session, ReportQuery(), NOW)}

    assert rows["N-on-time"]["late_by_minutes"] is None
    assert rows["N-sent-late"]["late_by_minutes"] == 95
    assert rows["N-overdue"]["late_by_minutes"] == 210
    assert rows["N-still-in-time"]["late_by_minutes"] is None
    text = as_text(list(rows.values()), ReportQuery())
    assert "(LATE: 1 h 35 min after the deadline)" in text
    assert "(LATE: 3 h 30 min overdue)" in text
    assert text.count("LATE") == 2
    assert as_csv(list(rows.values())).splitlines()[0].count("late_by_minutes") == 1
