"""A console with something of every kind on it, for the tests that walk every page (words,
not codes; late shown; widths, axe-core and the keyboard in the browser): notifications of
every status, escalation steps of every kind, actors of every kind (a reviewer in the
console and by single sign-on, the command line, the review policy, a school), a held
officer's account, and the demo mail folder with every kind of e-mail the broker sends.

Built through the broker's own functions (intake, review, delivery, acknowledgement,
escalation rendering) over a real clock; only the deadlines are moved, so that some go out
late. Synthetic people only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console import mfa
from console.accounts import add_user
from consumers import deliver, held_account, review
from consumers.acknowledge import AckLinks, acknowledge
from consumers.alerts import Step, render_step
from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from consumers.render import as_message
from foundations.clock import utcnow
from foundations.database import transaction
from foundations.models import EscalationStatus, EscalationStep, Notification, NotificationStatus
from foundations.settings import ReviewPolicy, Settings
from tests.console_signin import APPS, Authenticator
from tests.factories import child, default_pupils, import_directory, incident, upn, write_directory

PASSWORD = "correct horse battery"
NOAH_UPN = upn("850200116009")  # on roll only at 100002, whose only contact is a deputy
NAMING_A_GRANDMOTHER = (
    "The child's mother's mum Victoria Harrison came round after the argument. "
    "The child hid upstairs and was not injured."
)

# Codes that must never be read on a page or in an e-mail: every status, step, policy and
# matcher field spelled with an underscore, and every kind of actor.
ACTOR_CODE = r"\b(?:console|cli|policy|school|broker|link):[\w@.:-]+"
SNAKE_CODE = r"\b[a-z]+_[a-z_]+\b"


def settings_for(data_dir: Path, **changes: Any) -> Settings:
    return Settings(
        data_dir=data_dir, secret_key="k" * 32, public_url="https://console.example", **changes
    )


@dataclass
class Seeded:
    """The notification ids by kind, and the people who can sign in."""

    ids: dict[str, str] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)  # username -> role
    ack_token: str = ""


def pupils() -> list[dict[str, str]]:
    noah = {"upn": NOAH_UPN, "given_names": "Noah", "family_name": "Solo",
            "date_of_birth": "2016-03-03", "gender": "M", "postcode": "SO22 4BB",
            "urn": "100002", "on_roll_from": "2021-09-01"}  # fmt: skip
    return [*default_pupils(), noah]


def _incident(number: int, person: dict[str, Any], now: datetime, **changes: Any) -> bytes:
    """A fresh incident (reported an hour and a half ago) about one child."""
    data = incident(
        incident_id=f"44-20261130-{number:06d}",
        occurred_at=(now - timedelta(hours=2)).isoformat(),
        reported_at=(now - timedelta(minutes=90)).isoformat(),
        persons=[*incident()["persons"][:2], person],
    )
    data.update(changes)
    return json.dumps(data).encode()


AMY = child("c1", "Amy Louise", "Doe", "2016-09-14", known_as="Amy", gender="female",
            address={"lines": ["12 Example Road"], "postcode": "SO23 8UJ"},
            school_hint="Example Primary")  # fmt: skip
NOAH = child("c1", "Noah", "Solo", "2016-03-03", gender="male", school_hint="St Mary's")
TWIN = child("c1", "Leo", "Twin", "2017-05-05")
CLOSE = child("c1", "Amy Louise", "Doe", "2016-09-15", known_as="Amy")  # one digit off
NOBODY = child("c1", "Zed", "Nobody", "2015-02-02")


def seed(sessions: sessionmaker[Session], data_dir: Path) -> Seeded:
    """Every kind of notification, step, actor and e-mail, through the broker's code."""
    now = utcnow()
    settings = settings_for(data_dir)
    links = AckLinks.from_settings(settings)
    out = Seeded()
    files = write_directory(data_dir / "directory", pupils())
    with transaction(sessions) as s:
        import_directory(s, files)
        for name, role in (("rita", "reviewer"), ("rob", "reviewer"), ("aud", "auditor"),
                           ("dana", "admin")):  # fmt: skip
            user = add_user(s, name, role, PASSWORD, actor="cli:root")
            out.people[name] = role
            if role in ("auditor", "admin"):  # their authenticator app is set up already
                APPS[name] = Authenticator(mfa.new_secret())
                user.totp_secret = APPS[name].secret

    number = iter(range(500, 1000))

    def publish(person: dict[str, Any], policy: ReviewPolicy = ReviewPolicy.ALL,
                **changes: Any) -> list[str]:  # fmt: skip
        raw = _incident(next(number), person, now, **changes)
        parsed = parse_incident(raw)
        with transaction(sessions) as s:
            process_incident(s, Settings(review_policy=policy), parsed, "t/0/0")
            return list(
                s.execute(
                    select(Notification.id).where(
                        Notification.incident_id == parsed.incident_id,
                        Notification.revision == parsed.revision,
                    )
                ).scalars()
            )

    def send(sent: dict[str, tuple[datetime, bool]]) -> None:
        """Delivered through the outbox at the times given; a deadline is moved before or
        after the sending time, so that some go out late."""
        with transaction(sessions) as s:
            for nid, (when, late) in sent.items():
                n = s.get(Notification, nid)
                assert n is not None
                n.deliver_by = when - timedelta(hours=3) if late else when + timedelta(hours=4)
            for job in deliver.claim_due(s, settings, now, 20, links):
                deliver.mark_sent(s, job, sent[job.notification_id][0])
                _write_mail(
                    data_dir, settings, job.rendered, job.to, f"<{job.notification_id}@test>"
                )

    ids = out.ids
    # Waiting for review: the exact match a person approves, twins, one overdue, a deputy's.
    [ids["waiting"]] = publish(AMY)
    [ids["twins"]] = publish(TWIN)
    [ids["overdue"]] = publish(AMY, dash_risk="high")
    [ids["deputy"]] = publish(NOAH)
    [ids["close"]] = publish(CLOSE)
    [ids["not_found"]] = publish(NOBODY)
    [ids["held"]] = publish(AMY, summary=NAMING_A_GRANDMOTHER)
    with transaction(sessions) as s:
        review.claim(s, settings, ids["twins"], actor="console:rob")
        four_eyes = settings.model_copy(update={"four_eyes": True})
        review.approve(s, four_eyes, ids["overdue"], actor="console:oidc:kim@council.example")
        overdue = s.get(Notification, ids["overdue"])
        assert overdue is not None
        overdue.deliver_by = now - timedelta(minutes=40)
        for nid, step in ((ids["twins"], Step.REVIEW_DUE), (ids["overdue"], Step.LATE)):
            s.add(_step(nid, step, "first_response", "duty@first-response.example", now))
    # Sent: on time and acknowledged by the school; late (by the policy, to a deputy);
    # sent then recalled; sent with the officer's account following.
    [ids["sent"]] = publish(AMY)
    [ids["late"]] = publish(NOAH, policy=ReviewPolicy.AUTO_RELEASE_EXACT)
    [ids["recalled"]] = publish(AMY)
    [ids["follow_up"]] = publish(AMY, policy=ReviewPolicy.AUTO_RELEASE_EXACT,
                                 summary=NAMING_A_GRANDMOTHER)  # fmt: skip
    with transaction(sessions) as s:
        review.approve(s, settings, ids["sent"], actor="console:rita")
        review.approve(s, settings, ids["recalled"], actor="cli:root")
    hour = timedelta(hours=1)
    on_time = {ids["sent"]: (now - 3 * hour, False), ids["recalled"]: (now - 4 * hour, False)}
    send({**on_time, ids["late"]: (now - hour, True), ids["follow_up"]: (now - hour, True)})
    with transaction(sessions) as s:
        token = links.token(ids["sent"], "dsl", now)
        acknowledge(s, links.read(token, now), now)
        out.ack_token = links.token(ids["late"], "deputy_dsl", now)
        review.recall(s, settings, ids["recalled"], actor="console:rita",
                      reason="sent to the wrong school")  # fmt: skip
        n = s.get(Notification, ids["follow_up"])
        assert n is not None
        held_account.release(s, settings, n, actor="console:rob")
        for step, role, to in (
            (Step.REMIND_DSL, "dsl", "dsl@100001.school.example"),
            (Step.REMIND_DEPUTY, "deputy_dsl", "deputy@100001.school.example"),
            (Step.UNACKNOWLEDGED, "first_response", "duty@first-response.example"),
        ):
            s.add(_step(ids["late"], step, role, to, now))
    # Approved and not yet sent; being sent; could not be sent.
    [ids["approved"]] = publish(AMY)
    [ids["sending"]] = publish(AMY)
    [ids["failed"]] = publish(AMY)
    [ids["rejected"]] = publish(AMY)
    with transaction(sessions) as s:
        review.approve(s, settings, ids["approved"], actor="cli:root")
        review.approve(s, settings, ids["sending"], actor="console:oidc:kim@council.example")
        review.approve(s, settings, ids["failed"], actor="console:rita")
        review.reject(s, ids["rejected"], actor="console:oidc:kim@council.example",
                      reason="a duplicate of a report already sent")  # fmt: skip
    with transaction(sessions) as s:
        jobs = {j.notification_id: j for j in deliver.claim_due(s, settings, now, 20, links)}
        deliver.mark_failed(s, settings, jobs[ids["failed"]], ValueError("550 no such mailbox"))
        # ids["approved"] was leased too: handed back, so it waits as approved.
        approved = s.get(Notification, ids["approved"])
        assert approved is not None
        approved.status, approved.claimed_until = NotificationStatus.APPROVED, None
    # A newer revision: one replaces a notification not yet sent (superseded), one updates
    # a notification already sent.
    [ids["superseded"]] = publish(TWIN, incident_id="44-20261130-000900")
    publish(TWIN, incident_id="44-20261130-000900", revision=2)
    [ids["update"]] = publish(AMY, incident_id=_incident_of(sessions, ids["sent"]), revision=2)
    # Every e-mail the escalation steps send, as the demo mail folder keeps them.
    with transaction(sessions) as s:
        for row in s.execute(select(EscalationStep).order_by(EscalationStep.id)).scalars():
            n = s.get(Notification, row.notification_id)
            assert n is not None
            rendered = render_step(s, settings, links, row, n, now)
            _write_mail(data_dir, settings, rendered, row.recipient, f"<{row.id}.step@test>")
    return out


def _incident_of(sessions: sessionmaker[Session], nid: str) -> str:
    with transaction(sessions) as s:
        n = s.get(Notification, nid)
        assert n is not None
        return n.incident_id


def _step(nid: str, step: Step, role: str, to: str, now: datetime) -> EscalationStep:
    return EscalationStep(
        notification_id=nid, step=step.value, due_at=now, raised_at=now, role=role,
        recipient=to, status=EscalationStatus.SENT, attempts=1, sent_at=now, last_error="",
    )  # fmt: skip


def _write_mail(data_dir: Path, settings: Settings, rendered: Any, to: str, mid: str) -> None:
    folder = data_dir / "demo-mail"
    folder.mkdir(exist_ok=True)
    message = as_message(rendered, sender=settings.mail_from, to=to, message_id=mid)
    name = f"{len(list(folder.glob('*.eml'))):04d}.eml"
    (folder / name).write_bytes(bytes(message))
