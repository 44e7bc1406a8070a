"""Retention: personal content past its period is deleted, the audit trail keeps its hashes
and still verifies, and nothing still open is touched."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import verify
from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from consumers.retention import purge
from foundations.clock import utcnow
from foundations.database import transaction
from foundations.models import AuditEvent, Incident, Notification
from foundations.settings import Settings
from school_directory import imports
from tests.factories import incident, write_directory


def test_old_closed_incidents_lose_their_personal_content_and_the_trail_still_verifies(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    files = write_directory(tmp_path / "d")
    with transaction(sessions) as session:
        imports.import_schools(session, files["schools"])
        imports.import_pupils(session, files["pupils"])
    for n, (iid, status) in enumerate([("44-1", "sent"), ("44-2", "pending_review")]):
        data = incident(incident_id=iid)
        with transaction(sessions) as session:
            process_incident(session, Settings(), parse_incident(json.dumps(data).encode()), "t")
            note = session.execute(
                select(Notification).where(Notification.incident_id == iid)
            ).scalar_one()
            note.status, note.content_sha256 = status, f"{n:064d}"
    with transaction(sessions) as session:
        done = purge(session, now=utcnow() + timedelta(days=401), keep_days=400)
    assert (done.incidents, done.notifications, done.kept_open) == (1, 1, 1)
    with transaction(sessions) as session:
        purged = session.execute(
            select(Incident).where(Incident.incident_id == "44-1")
        ).scalar_one()
        kept = session.execute(select(Incident).where(Incident.incident_id == "44-2")).scalar_one()
        sent = session.execute(
            select(Notification).where(Notification.incident_id == "44-1")
        ).scalar_one()
        assert "Jane" not in json.dumps(purged.payload) and "Jane" in json.dumps(kept.payload)
        assert sent.content is None and sent.content_sha256 == f"{0:064d}"
        assert verify(session).ok
        actions = session.execute(select(AuditEvent.action)).scalars().all()
        assert actions.count("purged") == 1
    with transaction(sessions) as session:  # running again changes nothing
        assert purge(session, now=utcnow() + timedelta(days=401), keep_days=400).incidents == 0
