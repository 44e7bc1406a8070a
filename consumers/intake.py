"""Intake: validate a police incident event, refuse bad input with a reason, drop duplicates,
and record the incident so that matching can begin.

Everything here runs inside the caller's database transaction; the Kafka offset is
committed only after that transaction commits, so a crash in between replays the event,
and the replay is recognised as a duplicate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from foundations.database import per_transaction
from foundations.models import Incident, IncidentOutcome
from schemas.incident import ID_MAX, ONE_LINE, SCHEMA_ID, PoliceIncident

ACTOR = "broker:intake"


class Refused(ValueError):
    """The event cannot be accepted; ``reason`` goes into the dead-letter ``x-error`` header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors()[:5]:
        where = ".".join(str(p) for p in problem["loc"]) or "event"
        if problem["type"] == "missing":
            parts.append(f"{where}: required field missing")
        else:
            parts.append(f"{where}: {problem['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _shown(value: object, limit: int = 60) -> str:
    """A value quoted in a reason, cut short: reasons go into a Kafka header."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_incident(raw: bytes) -> PoliceIncident:
    """Bytes from ``police.incidents.v1`` to a valid PoliceIncident, or ``Refused``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"not UTF-8: byte {exc.start}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise Refused("not JSON this broker reads: nested too deeply") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise Refused(f"not JSON this broker reads: {exc}"[:300]) from exc
    if not isinstance(data, dict):
        raise Refused("not a police.incident/1 event: the JSON is not an object")
    try:  # "\\ud800" is valid JSON but no character: nothing could store or send it
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Refused("not text: a lone UTF-16 surrogate escape (\\ud800-\\udfff)") from exc
    if data.get("schema") != SCHEMA_ID:
        raise Refused(
            f"not a {SCHEMA_ID} event: schema is {_shown(data.get('schema'))}"
            if "schema" in data
            else "schema: required field missing"
        )
    if data.get("persons") == []:
        raise Refused("persons: no persons in the incident")
    try:
        return PoliceIncident.model_validate(data)
    except ValidationError as exc:
        raise Refused(_describe(exc)) from exc


class IntakeOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out_of_scope"
    STALE = "stale"


@dataclass
class Intake:
    outcome: IntakeOutcome
    incident: Incident | None = None
    match_outcomes: list[str] = field(default_factory=list)  # one per child, for metrics


def audit_key(key: str | None) -> tuple[str | None, dict[str, str]]:
    """The Kafka key of a refused event as the audit row's incident id, when it can be one:
    a key longer than an incident id, or with control characters, would make the row itself
    fail to insert (and the event with it, for ever). Such a key is described instead."""
    if key is None or (len(key) <= ID_MAX and not ONE_LINE.forbidden.search(key)):
        return key, {}
    return None, {"key": f"not an incident id ({len(key)} characters)"}


def record_refusal(session: Session, reason: str, source: str, key: str | None) -> None:
    incident_id, about_key = audit_key(key)
    record(
        session,
        AuditAction.REFUSED,
        actor=ACTOR,
        incident_id=incident_id,
        details={"reason": reason, "source": source, **about_key},
    )


def record_dead_letter(
    session: Session, reason: str, source: str, key: str | None, attempts: int
) -> None:
    """An event whose processing failed ``attempts`` times, for a reason that was not
    transient, sent to the dead-letter topic with ``reason``; ``key`` is its incident id
    when it had a valid one, else its Kafka key."""
    incident_id, about_key = audit_key(key)
    record(
        session,
        AuditAction.DEAD_LETTERED,
        actor=ACTOR,
        incident_id=incident_id,
        details={"reason": reason, "source": source, "attempts": attempts, **about_key},
    )


_REVISIONS = "incident_revisions"  # per transaction: incident_id -> revisions recorded


def _recorded(session: Session) -> dict[str, list[int]]:
    """The revisions recorded of each incident read so far in this transaction, with those
    it recorded itself."""
    return per_transaction(session, _REVISIONS, dict)


def read_revisions(session: Session, incident_ids: Iterable[str]) -> None:
    """Read the recorded revisions of these incidents in one query (an intake batch's),
    so that ``receive`` asks the database nothing for each of them."""
    known = _recorded(session)
    wanted = sorted(set(incident_ids) - known.keys())
    for at in range(0, len(wanted), 500):
        chunk = wanted[at : at + 500]
        for incident_id in chunk:
            known[incident_id] = []
        rows = session.execute(
            select(Incident.incident_id, Incident.revision).where(Incident.incident_id.in_(chunk))
        )
        for incident_id, revision in rows:
            known[incident_id].append(revision)


def receive(session: Session, incident: PoliceIncident, source: str) -> Intake:
    """Record a valid incident once per (incident_id, revision)."""
    ids = {"incident_id": incident.incident_id}
    known = _recorded(session)
    if incident.incident_id not in known:
        read_revisions(session, [incident.incident_id])
    revisions = known[incident.incident_id]
    if incident.revision in revisions:
        record(
            session,
            AuditAction.DUPLICATE,
            actor=ACTOR,
            **ids,
            details={"revision": incident.revision, "source": source},
        )
        return Intake(IntakeOutcome.DUPLICATE)

    newest = max(revisions, default=0)
    if not incident.in_scope:
        outcome = IncidentOutcome.OUT_OF_SCOPE
    elif incident.revision < newest:
        outcome = IncidentOutcome.STALE
    else:
        outcome = IncidentOutcome.ACCEPTED

    row = Incident(
        incident_id=incident.incident_id,
        revision=incident.revision,
        force_code=incident.force_code,
        classification=incident.classification,
        reported_at=incident.reported_at,
        outcome=outcome,
        payload=incident.model_dump(mode="json", by_alias=True),
        source=source,
    )
    session.add(row)  # inserted with the transaction's next flush
    revisions.append(incident.revision)
    details = {
        "revision": incident.revision,
        "force_code": incident.force_code,
        "children": len(incident.children),
        "source": source,
    }
    record(session, AuditAction.RECEIVED, actor=ACTOR, **ids, details=details)
    if outcome is IncidentOutcome.OUT_OF_SCOPE:
        record(
            session,
            AuditAction.OUT_OF_SCOPE,
            actor=ACTOR,
            **ids,
            details={"revision": incident.revision, "classification": incident.classification},
        )
        return Intake(IntakeOutcome.OUT_OF_SCOPE, row)
    if outcome is IncidentOutcome.STALE:
        record(
            session,
            AuditAction.STALE,
            actor=ACTOR,
            **ids,
            details={"revision": incident.revision, "newest_revision": newest},
        )
        return Intake(IntakeOutcome.STALE, row)
    return Intake(IntakeOutcome.ACCEPTED, row)
