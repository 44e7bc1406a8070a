"""One incident event through the stages, in one database transaction:
intake -> match -> minimise -> the review policy's first decision.

The Kafka hop is only at the front door; inside, one transaction makes the outcome
all-or-nothing, so a replayed event either finds it recorded or records it once.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from consumers import batch_memo
from consumers.intake import Intake, IntakeOutcome, receive
from consumers.match import match_child, match_thresholds
from consumers.notify import create_for_child, supersede_earlier
from foundations.clock import LONDON
from foundations.settings import Settings
from schemas.incident import PoliceIncident


def process_incident(
    session: Session, settings: Settings, incident: PoliceIncident, source: str
) -> Intake:
    intake = receive(session, incident, source)
    if intake.outcome is not IntakeOutcome.ACCEPTED:
        return intake
    sent_before = supersede_earlier(session, incident)
    on_date = incident.occurred_at.astimezone(LONDON).date()
    thresholds = match_thresholds(settings)  # decided once, with the configured ones
    # What follows reads only the directory and the calendar, which the pipeline never
    # writes: its reads need not flush the rows written so far. They go in with the next
    # incident's first query (or the commit), one INSERT per table (docs/performance.md).
    with session.no_autoflush:
        for child in incident.children:
            # made before the batch's transaction began, where it was (intake_batch)
            match = batch_memo.matched(incident, child) or match_child(
                session, child, on_date, thresholds
            )
            intake.match_outcomes.append(match.outcome.value)
            create_for_child(
                session,
                settings,
                incident,
                child,
                match,
                sent_before=sent_before.get(child.person_id, set()),
            )
    return intake
