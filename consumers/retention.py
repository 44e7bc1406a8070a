"""Retention: personal content is kept only as long as the data-sharing agreement says.

Past its period an incident's police record is replaced by its ids, and its notifications'
school-facing content is deleted; the rows, their statuses and the audit trail (ids, times,
decisions and the SHA-256 of exactly what was sent) stay, so verification still passes and
an auditor can still prove what was shared. Notifications not yet closed are never purged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from consumers.periodic import Periodic, logged
from foundations.clock import utcnow
from foundations.database import run_in_session
from foundations.models import (
    UNSENT_STATUSES,
    DirectorySearch,
    Incident,
    Notification,
    NotificationEdit,
)
from foundations.settings import Settings

# (session, settings, now) -> (session rows deleted, throttle keys forgotten)
SignInHousekeeping = Callable[[Session, Settings, datetime], tuple[int, int]]

ACTOR = "broker:retention"
log = structlog.get_logger(__name__)
PURGED = "purged"


@dataclass(frozen=True)
class PurgeResult:
    incidents: int
    notifications: int
    kept_open: int


def purge(session: Session, *, now: datetime, keep_days: int, actor: str = ACTOR) -> PurgeResult:
    cutoff = now - timedelta(days=keep_days)
    unsent = {s.value for s in UNSENT_STATUSES}
    incidents = notifications = kept_open = 0
    old = session.execute(
        select(Incident).where(Incident.received_at < cutoff).order_by(Incident.id)
    ).scalars()
    for incident in old:
        if incident.payload.get(PURGED):
            continue
        notes = list(
            session.execute(
                select(Notification).where(
                    Notification.incident_id == incident.incident_id,
                    Notification.revision == incident.revision,
                )
            ).scalars()
        )
        if any(n.status in unsent for n in notes):
            kept_open += 1
            continue
        incident.payload = {
            PURGED: True,
            "incident_id": incident.incident_id,
            "revision": incident.revision,
            "purged_at": now.isoformat(),
        }
        for n in notes:
            if n.content is not None:
                n.content = None
                notifications += 1
            n.held_account = None  # the officer's account, if it was held for a person
            n.child_sort = None  # the child's names and date of birth, for the queue
        if notes:  # reviewers' edits hold the account too; their searches, the child's details
            for table in (NotificationEdit, DirectorySearch):
                session.execute(
                    delete(table).where(table.notification_id.in_([n.id for n in notes]))
                )
        incidents += 1
        record(
            session,
            AuditAction.PURGED,
            actor=actor,
            incident_id=incident.incident_id,
            details={
                "revision": incident.revision,
                "notifications": len(notes),
                "keep_days": keep_days,
            },
        )
    return PurgeResult(incidents, notifications, kept_open)


class RetentionJob:
    """Runs the purge in the broker process, once a day by default."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        forget_sign_ins: SignInHousekeeping,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        # The console's own housekeeping (console.sessions.forget_old_sign_ins), passed in
        # by the wiring: the pipeline does not import the console.
        self.forget_sign_ins = forget_sign_ins
        self.loop = Periodic(self._tick, settings.retention_interval_s, failed="retention_failed")

    async def run_once(self) -> PurgeResult:
        return await run_in_session(
            self.sessions, lambda s: purge(s, now=utcnow(), keep_days=self.settings.retention_days)
        )

    async def forget_old_sign_ins(self) -> tuple[int, int]:
        """Console housekeeping: session rows long ended, throttle counts long quiet."""
        return await run_in_session(
            self.sessions, lambda s: self.forget_sign_ins(s, self.settings, utcnow())
        )

    async def _tick(self) -> None:
        """The purge, then the console's housekeeping: a failure of one does not stop the
        other."""
        done = await logged(self.run_once, "retention_purge_failed")
        if done is not None:
            log.info(
                "retention_purge",
                incidents=done.incidents,
                notifications=done.notifications,
                kept_open=done.kept_open,
            )
        forgotten = await logged(self.forget_old_sign_ins, "console_housekeeping_failed")
        if forgotten is not None:
            ended, quiet = forgotten
            log.info("console_sign_ins_forgotten", sessions=ended, throttle_keys=quiet)

    async def run(self) -> None:
        await self.loop.run()
