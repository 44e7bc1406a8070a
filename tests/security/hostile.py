"""A console full of hostile text, for the escaping tests: injection payloads in every
incident field that reaches a page, in the school directory, in a reviewer's username, in
a rejection reason, an edited account and a demo e-mail, and in every reflected parameter.

Every payload is inert once escaped, and each one, if it ever rendered as HTML, leaves a
mark a browser can see: an element in the DOM, a navigation to evil.example, or
``window.pwned`` set. Synthetic data only.
"""

from __future__ import annotations

import csv
import json
import textwrap
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from console import mfa
from console.accounts import add_user
from consumers import review
from consumers.intake import parse_incident
from consumers.pipeline import process_incident
from foundations.database import transaction
from foundations.models import Notification
from foundations.settings import Settings
from tests.console_signin import APPS, Authenticator
from tests.factories import import_directory, incident, upn, write_directory

EVIL = "https://evil.example"
SCRIPT = "<script>window.pwned='script'</script>"
META = f'"><meta http-equiv=refresh content="0;url={EVIL}/">'
FORM = f"<form action={EVIL}/steal><button>Go</button></form>"
LINK = "<a href=javascript:window.pwned='link'>click</a>"
IMG = "<img src=x onerror=window.pwned='img'>"
TEMPLATE = "{{7*7}}"
TEXTAREA = f"</textarea><form action={EVIL}/edit><button>Save</button></form>"
ALL = (SCRIPT, META, FORM, LINK, IMG, TEMPLATE)
# Shorter payloads for the fields the incident schema keeps short (schemas/incident.py:
# dash_risk, gender and a collar number up to 32 characters, crime_reference up to 64).
CODE_IMG = "<img src=x onerror=pwned='code'>"
CODE_LINK = "<a href=javascript:pwned=1>x</a>"
REF_META = '"><meta http-equiv=refresh content="0;url=https://evil.example">'

PASSWORD = "correct horse battery"
HOSTILE_USER = "<img/src=x/onerror=window.pwned='user'>"  # a username has no spaces
HOSTILE_URN = "100004"
HOSTILE_SCHOOL = f"<form action={EVIL}/school><button>School</button></form>"
HOSTILE_UPN = upn("850200116009")
PUPIL_GIVEN = IMG
PUPIL_FAMILY = f"{TEMPLATE}<b id=evil-bold>"

# The police record: every free-text field a supplier can fill.
CHILD_FIELDS = {
    "given_names": META,
    "family_name": SCRIPT,
    "known_as": IMG,
    "school_hint": FORM,
    "gender": CODE_LINK,
    "voice_of_child": " ".join(ALL),
}
SUMMARY = " ".join((*ALL, TEXTAREA))
REASON = f"{LINK} {META}"
ACCOUNT = f"{TEXTAREA} {SCRIPT} {TEMPLATE}"
INCIDENT_ID = "44-<b>x</b>"


def hostile_incident() -> dict[str, Any]:
    base = incident()
    adults = [
        {**p, "given_names": SCRIPT, "family_name": META, "known_as": IMG}
        for p in base["persons"][:2]
    ]
    child = {**base["persons"][2], **CHILD_FIELDS, "date_of_birth": "2016-03-03"}
    child["address"] = {"lines": [FORM, LINK], "postcode": "SO23 8UJ"}
    return incident(
        incident_id="44-20261121-000666",
        dash_risk=CODE_IMG,
        crime_reference=REF_META,
        summary=SUMMARY,
        police_actions=[SCRIPT, FORM, "suspect_arrested"],
        officer={"collar_number": CODE_LINK, "name": IMG},
        location={"lines": [META, SCRIPT], "postcode": "SO23 8UJ"},
        persons=[*adults, child],
    )


# What must be visible, as text, on the notification page of the hostile incident.
SHOWN_ON_NOTIFICATION = (
    META,
    SCRIPT,
    IMG,
    FORM,  # the police record's child, as recorded
    HOSTILE_SCHOOL,
    PUPIL_GIVEN,
    PUPIL_FAMILY,  # the chosen pupil and school, in the e-mail preview
    "Police reference: " + REF_META,  # a profile includes it in the preview
    TEMPLATE,
)


@dataclass
class Hostile:
    """The seeded console: the notification ids and the settings it runs with."""

    settings: Settings
    held: str  # pending review, re-matched to the hostile pupil, its account edited
    rejected: str  # rejected with a hostile reason
    sent: str  # sent to the hostile school, approved by the hostile username


def settings_for(data_dir: Path, public_url: str, **changes: Any) -> Settings:
    profiles = data_dir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / "hostile.toml").write_text(
        textwrap.dedent(
            """
            name = "hostile"
            applies_to = { la = ["850"] }
            include = ["police_reference", "place_kind", "voice_of_child", "risk_level"]
            """
        )
    )
    return Settings(
        data_dir=data_dir,
        secret_key="k" * 32,
        public_url=public_url,
        profiles_dir=profiles,
        login_max_failures=1000,
        **changes,
    )


def _directory(folder: Path) -> dict[str, Path]:
    files = write_directory(folder)
    with files["schools"].open("a", encoding="cp1252", newline="") as f:
        csv.writer(f).writerow(
            [
                HOSTILE_URN,
                "850",
                "Hampshire",
                "2004",
                HOSTILE_SCHOOL,
                "Community school",
                "Open",
                "Primary",
                "SO21 2DD",
                "Winchester",
            ]
        )
    with files["contacts"].open("a", newline="") as f:
        csv.writer(f).writerow(
            [
                HOSTILE_URN,
                "dsl",
                "Dee Example",
                f"dsl@{HOSTILE_URN}.school.example",
                "01962 000004",
                "",
            ]
        )
    with files["pupils"].open("a", newline="") as f:
        csv.writer(f).writerow(
            [
                HOSTILE_UPN,
                PUPIL_GIVEN,
                PUPIL_FAMILY,
                "",
                "2016-03-03",
                "F",
                "SO21 2DD",
                HOSTILE_URN,
                "2021-09-01",
                "",
            ]
        )
    return files


def _publish(sessions: sessionmaker[Session], settings: Settings, data: dict[str, Any]) -> str:
    with transaction(sessions) as session:
        process_incident(session, settings, parse_incident(json.dumps(data).encode()), "t/0/0")
        ids = session.execute(
            select(Notification.id).where(Notification.incident_id == data["incident_id"])
        ).scalars()
        return next(iter(ids))


def _demo_mail(folder: Path) -> None:
    """A message in the demo mail catcher whose every part is hostile."""
    folder.mkdir(parents=True, exist_ok=True)
    message = EmailMessage()
    message["Subject"] = f"{SCRIPT} {FORM}"
    message["From"] = "encompass@council.example"
    message["To"] = f'"{IMG}" <dsl@{HOSTILE_URN}.school.example>'
    message["Date"] = "Sat, 21 Nov 2026 22:40:00 +0000"
    message.set_content(" ".join((*ALL, TEXTAREA)))
    (folder / "20261121T224000-hostile.eml").write_bytes(bytes(message))


def seed(sessions: sessionmaker[Session], settings: Settings, directory: Path) -> Hostile:
    with transaction(sessions) as session:
        import_directory(session, _directory(directory))
        add_user(session, "rita", "reviewer", PASSWORD, actor="test")
        add_user(session, HOSTILE_USER, "reviewer", PASSWORD, actor="test")
        auditor = add_user(session, "aud", "auditor", PASSWORD, actor="test")
        # Auditors sign in with a second factor: this one's authenticator is already set up
        # (tests/console_signin.py finishes the sign-in with it).
        APPS["aud"] = Authenticator(mfa.new_secret())
        auditor.totp_secret = APPS["aud"].secret
    held = _publish(sessions, settings, hostile_incident())
    rejected = _publish(sessions, settings, {**hostile_incident(), "incident_id": INCIDENT_ID})
    sent = _publish(sessions, settings, incident(incident_id="44-20261121-000667"))
    actor = f"console:{HOSTILE_USER}"
    with transaction(sessions) as session:
        review.rematch(session, settings, held, actor=actor, upn=HOSTILE_UPN, urn=HOSTILE_URN)
        review.edit_account(session, held, actor=actor, account=ACCOUNT)
        review.claim(session, settings, held, actor=actor)
        review.reject(session, rejected, actor=actor, reason=REASON)
        review.rematch(session, settings, sent, actor=actor, upn=HOSTILE_UPN, urn=HOSTILE_URN)
        n = review.approve(session, settings, sent, actor=actor)
        n.status, n.recipient, n.sent_at = "sent", f"dsl@{HOSTILE_URN}.school.example", n.deliver_by
    _demo_mail(settings.data_dir / "demo-mail")
    return Hostile(settings=settings, held=held, rejected=rejected, sent=sent)


MAIL_FILE = "20261121T224000-hostile.eml"
ALL_TEXT = " ".join(ALL)
USER_SHOWN = HOSTILE_USER  # said in words, "NAME (console)" (consumers.wording.actor_words)


@dataclass(frozen=True)
class Visit:
    """A page as one role sees it: what must be shown as text, and what a field must hold."""

    who: str | None  # rita (reviewer), aud (auditor) or nobody signed in
    path: str
    texts: tuple[str, ...] = ()
    inputs: tuple[tuple[str, str], ...] = ()  # (CSS selector, value)


def visits(h: Hostile) -> list[Visit]:
    """Every page that shows hostile data, and every parameter a page reflects."""

    def q(**values: str) -> str:
        return urlencode(values)

    held, rejected = f"/notifications/{h.held}", f"/notifications/{h.rejected}"
    return [
        Visit("rita", "/queue", (HOSTILE_SCHOOL, f"{HOSTILE_USER} (console)")),  # in words
        Visit("rita", "/queue?" + q(notice=ALL_TEXT, la=META, school=SCRIPT, status=FORM),
              (ALL_TEXT,), (("#f-la", META), ("#f-school", SCRIPT))),
        Visit("rita", "/sent?" + q(notice=ALL_TEXT), (ALL_TEXT, HOSTILE_SCHOOL, USER_SHOWN)),
        Visit("rita", held, (*SHOWN_ON_NOTIFICATION, USER_SHOWN), (("#account", ACCOUNT),)),
        Visit("rita", held + "?" + q(error=ALL_TEXT), (ALL_TEXT,)),
        Visit("rita", held + "?" + q(upn=META, dob=SCRIPT, family=IMG), (),
              (("#s-upn", META), ("#s-dob", SCRIPT), ("#s-family", IMG))),
        Visit("rita", held + "?" + q(upn=HOSTILE_UPN, family=PUPIL_FAMILY),
              (f"{PUPIL_GIVEN} {PUPIL_FAMILY}, born", HOSTILE_SCHOOL),
              (("#s-family", PUPIL_FAMILY),)),
        Visit("rita", rejected, (REASON, INCIDENT_ID)),
        Visit("rita", "/mail", (f"{SCRIPT} {FORM}", IMG)),
        Visit("rita", "/mail?" + q(name=MAIL_FILE), (f"{SCRIPT} {FORM}", TEXTAREA, *ALL)),
        Visit("rita", "/mail?" + q(name=META)),
        Visit("rita", "/notifications/" + quote(META, safe="")),
        Visit("rita", "/ack/" + quote(META, safe="")),
        Visit("rita", "/" + quote(SCRIPT, safe="")),
        Visit("aud", "/audit?" + urlencode(
            {"school": META, "upn": SCRIPT, "incident": FORM, "from": IMG, "to": LINK}),
              ("Enter dates",),
              (("#a-school", META), ("#a-upn", SCRIPT), ("#a-incident", FORM),
               ("#a-from", IMG), ("#a-to", LINK))),
        Visit("aud", "/audit?" + q(school=HOSTILE_URN), (HOSTILE_SCHOOL, USER_SHOWN)),
        Visit("aud", "/audit?" + q(incident=INCIDENT_ID), (INCIDENT_ID,)),
        Visit("aud", "/queue?" + q(notice=ALL_TEXT), ("cannot see this page",)),
        Visit(None, "/login?" + q(next="/" + META), (), (("input[name=next]", "/" + META),)),
        Visit(None, "/queue?" + q(notice=META, la=SCRIPT)),
    ]  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        what = f"<{tag} {a}>"
        if tag == "meta" and "http-equiv" in a:
            self.found.append(what)
        if tag == "form" and "evil" in a.get("action", ""):
            self.found.append(what)
        if any(v.strip().lower().startswith("javascript:") for v in a.values()):
            self.found.append(what)
        if any(k.startswith("on") for k in a):
            self.found.append(what)
        if tag == "script" and a.get("src") != "/static/console.js":
            self.found.append(what)
        if tag == "img" or a.get("id", "").startswith("evil") or tag == "b":
            self.found.append(what)


def injected(html: str) -> list[str]:
    """The elements in ``html`` that only an injection could have put there."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.found
