"""Rendering (SPEC section 4): a SchoolNotification -> the e-mail a school's DSL reads.

Only a ``SchoolNotification`` is ever rendered: the police record never reaches a template.
HTML is autoescaped; a missing variable is an error (``StrictUndefined``), never a blank.
``content_sha256`` is the hash of exactly what was sent, for the audit trail.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from consumers.vocabulary import MONTHS
from consumers.wording import role_words, status_words
from foundations.clock import LONDON
from foundations.mailer import build_message
from schemas.notification import SchoolNotification

TEMPLATES = Path(__file__).with_name("templates")
TEXT_TEMPLATE = "notification.txt.j2"
HTML_TEMPLATE = "notification.html.j2"

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """The three parts of the message as sent."""

    subject: str
    text: str
    html: str


def long_date(d: date) -> str:
    """``Saturday 21 November 2026`` (English names, whatever the machine's locale)."""
    return f"{_DAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"


def birth_date(d: date) -> str:
    """``14 September 2016``."""
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def london_when(moment: datetime) -> str:
    """``Saturday 21 November 2026 at 22:40``, in Europe/London time."""
    local = moment.astimezone(LONDON)
    return f"{long_date(local.date())} at {local:%H:%M}"


def london_by(moment: datetime) -> str:
    """``08:30 on Monday 23 November 2026``, in Europe/London time."""
    local = moment.astimezone(LONDON)
    return f"{local:%H:%M} on {long_date(local.date())}"


def yes_no(value: bool | None) -> str:
    """Yes, No, or that the police did not record it."""
    if value is None:
        return "Not recorded by police"
    return "Yes" if value else "No"


def paragraphs(text: str) -> list[str]:
    """The text split at blank lines."""
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def subject_for(n: SchoolNotification) -> str:
    """The subject line: a reference, never a name; never a line break."""
    subject = f"Operation Encompass notification {n.reference}"
    if n.is_update:
        subject += " (update)"
    return " ".join(subject.split())


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        long_date=long_date,
        birth_date=birth_date,
        london_when=london_when,
        london_by=london_by,
        yes_no=yes_no,
        paragraphs=paragraphs,
        status_words=status_words,
        role_words=role_words,
    )
    return env


# One Jinja2 environment for every e-mail we send (notifications, alerts, reminders).
EMAIL_ENV = _environment()


ADDRESSEES = {
    "dsl": "designated safeguarding lead",
    "deputy_dsl": "deputy designated safeguarding lead",
    # Not a school (consumers/routes.py): a neighbouring council's First Response, for
    # onward handling to the school; the home council's officer for a child on no roll.
    "neighbour_first_response": "First Response",
    "officer_ehe": "elective home education officer",
    "officer_cme": "children missing education officer",
}
# The e-mail's wording by role: to a school, forwarded by a council, or to an officer.
KINDS = {"neighbour_first_response": "forward", "officer_ehe": "officer",
         "officer_cme": "officer"}  # fmt: skip


def render_email(
    n: SchoolNotification,
    *,
    role: str = "dsl",
    ack_placeholder: str | None = None,
    addressee: str | None = None,
) -> RenderedEmail:
    """The subject, plain-text body and HTML body for one notification, addressed to the
    ``role`` it goes to (the DSL, or the deputy when there is no DSL; a neighbouring
    council's First Response; an officer, ``addressee`` naming them). Without an
    acknowledgement link, ``ack_placeholder`` marks the link's place (a preview)."""
    if role not in ADDRESSEES:
        raise ValueError(f"a notification goes to a DSL or a deputy DSL, not {role!r}")
    subject = subject_for(n)
    values = {"n": n, "subject": subject, "addressee": addressee or ADDRESSEES[role],
              "ack_placeholder": ack_placeholder, "kind": KINDS.get(role, "school"),
              "addressee_role": ADDRESSEES[role]}  # fmt: skip
    text = EMAIL_ENV.get_template(TEXT_TEMPLATE).render(**values)
    html = EMAIL_ENV.get_template(HTML_TEMPLATE).render(**values)
    text = re.sub(r"\n{3,}", "\n\n", text.replace("\r\n", "\n")).strip() + "\n"
    return RenderedEmail(subject=subject, text=text, html=html)


def preview_email(
    n: SchoolNotification, role: str, ttl_days: int, addressee: str | None = None
) -> RenderedEmail:
    """What the school will get, for a reviewer (console, ``encompass review show``): the
    e-mail as sent, with the place of the acknowledgement link that is made at sending."""
    whose = "the school's own" if role in ("dsl", "deputy_dsl") else "the recipient's own"
    placeholder = (
        f"[{whose} confirmation link goes here when the e-mail is sent; "
        f"it works for {ttl_days} days]"
    )
    return render_email(n, role=role, ack_placeholder=placeholder, addressee=addressee)


def content_sha256(rendered: RenderedEmail) -> str:
    """SHA-256 (hex) over subject, text and HTML, each length-prefixed so parts cannot blur."""
    digest = hashlib.sha256()
    for part in (rendered.subject, rendered.text, rendered.html):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def as_message(
    rendered: RenderedEmail,
    *,
    sender: str,
    to: str,
    message_id: str,
    in_reply_to: str | None = None,
    return_path: str | None = None,
) -> EmailMessage:
    """The message that carries exactly this rendering (what ``content_sha256`` hashes)."""
    return build_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        sender=sender,
        to=to,
        message_id=message_id,
        in_reply_to=in_reply_to,
        return_path=return_path,
    )
