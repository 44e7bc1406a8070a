"""Delivery status notifications (RFC 3464), read with the standard ``email`` package.

A DSN is a ``multipart/report; report-type=delivery-status``: a part for people, a
``message/delivery-status`` part (a block of per-message fields, then a block per recipient:
``Final-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code`` ...) and, often, the
returned message or its headers. What the broker needs of it: whether the e-mail failed for
good (``Action: failed``, a ``5.x.x`` status) or is only delayed (``Action: delayed``, a
``4.x.x`` status), the status code, the remote server's words, and the addresses the report
was written to, where our return path (consumers/return_path.py) is.

Anything else (an out-of-office reply, a report that the e-mail was delivered) is not a
failure: ``parse`` says so, and nothing is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

from foundations.models import BounceKind

MAX_REPORT_BYTES = 5 * 1024 * 1024  # a DSN with the whole returned message, and room to spare
_DIAGNOSTIC_CHARS = 300
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# Where a report names the address it was sent to: the listener knows the envelope; a
# mailbox (IMAP) keeps it in these headers, as the receiving system wrote them.
ADDRESSED_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")


class NotADsn(StrEnum):
    NOT_A_REPORT = "not a delivery status notification"
    NO_FAILURE = "reports no failure or delay"


@dataclass(frozen=True)
class DeliveryReport:
    """What one DSN says of the recipient it reports worst on (our e-mails have one)."""

    kind: BounceKind
    status: str  # "5.1.1"; "" when the report gives none
    action: str  # failed | delayed
    final_recipient: str
    diagnostic: str  # the remote server's words, one line, shortened
    addressed_to: tuple[str, ...]  # the addresses in ADDRESSED_HEADERS, in that order


def parse(raw: bytes) -> DeliveryReport | NotADsn:
    """The failure or delay ``raw`` reports, or why it is none."""
    if len(raw) > MAX_REPORT_BYTES:
        return NotADsn.NOT_A_REPORT
    message = message_from_bytes(raw, policy=policy.compat32)
    report = _status_part(message)
    if report is None:
        return NotADsn.NOT_A_REPORT
    blocks = report.get_payload()
    if not isinstance(blocks, list):
        return NotADsn.NOT_A_REPORT
    found = [r for r in (_recipient(b) for b in blocks[1:] if isinstance(b, Message)) if r]
    if not found:
        return NotADsn.NO_FAILURE
    kind, status, action, final, diagnostic = min(found, key=lambda r: r[0] != "permanent")
    return DeliveryReport(
        BounceKind(kind), status, action, final, diagnostic, _addressed_to(message)
    )


def _status_part(message: Message) -> Message | None:
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type", "")).lower() != "delivery-status":
        return None
    for part in message.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            return part
    return None


def _recipient(block: Message) -> tuple[str, str, str, str, str] | None:
    """(kind, status, action, final recipient, diagnostic) of a per-recipient block that
    reports a failure or a delay; None for one that reports a delivery."""
    action = _field(block, "Action").lower()
    code = _STATUS.search(_field(block, "Status"))
    status = ".".join(code.groups()) if code else ""
    if action == "failed" or (not action and status.startswith("5.")):
        kind = "permanent"  # failed: the reporting system has given up, whatever the class
    elif action == "delayed" or (not action and status.startswith("4.")):
        kind = "delayed"
    else:
        return None  # delivered, relayed, expanded
    final = _field(block, "Final-Recipient") or _field(block, "Original-Recipient")
    _, _, final = final.rpartition(";")
    diagnostic = _field(block, "Diagnostic-Code")
    diagnostic = diagnostic.partition(";")[2] if ";" in diagnostic else diagnostic
    diagnostic = " ".join(diagnostic.split())[:_DIAGNOSTIC_CHARS]
    action = action or ("failed" if kind == "permanent" else "delayed")
    return kind, status, action, final.strip().strip("<>"), diagnostic


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _addressed_to(message: Message) -> tuple[str, ...]:
    values = [str(v) for header in ADDRESSED_HEADERS for v in message.get_all(header, [])]
    return tuple(address for _, address in getaddresses(values) if address)
