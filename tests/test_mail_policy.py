"""The e-mail policies that parse and fold a repeated header once (foundations/mail_policy.py):
what goes on the wire is byte for byte what the standard library's ``policy.default`` and
``as_bytes(policy=policy.SMTP)`` make, the messages are ordinary ``EmailMessage`` objects,
and the caches stay bounded."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from typing import Any
from unittest import mock

import pytest

from foundations import mail_policy
from foundations.mailer import build_message, unsigned_wire_bytes

DATE = "Tue, 01 Dec 2026 09:00:00 +0000"
LONG_SUBJECT = "Operation Encompass notification N-2026-000123 (update) – Zoë Ångström, " * 3
TEXT = (
    "Dear designated safeguarding lead,\n\nZoë was present. Ça va? "
    + "A line well over seventy-eight characters long, so that it needs encoding. " * 3
    + "\n\nPlease acknowledge.\n"
)
HTML = "<p>Zoë was present.</p>\n<p>" + "Ünïcode text in the HTML part. " * 10 + "</p>\n"


def inputs(n: int) -> dict[str, Any]:
    """Every header build_message can write, non-ASCII where a header allows it."""
    return {
        "subject": LONG_SUBJECT if n % 2 else f"Operation Encompass notification N-{n}",
        "text": TEXT if n % 3 else "Please acknowledge.\n",
        "html": HTML,
        "sender": "Operation Encompass – Council <operation-encompass@council.example>",
        "to": f"Zoë's School <dsl@school{n % 3}.example>",
        "cc": "deputy.dsl@school.example, Ålesund Office <office@school.example>",
        "message_id": f"<N-{n}@council.example>",
        "in_reply_to": f"<N-{n - 1}@council.example>",
        "return_path": f"bounces+n{n}.abcd@council.example",
    }


@pytest.fixture
def fixed_date() -> Iterator[None]:
    with mock.patch("foundations.mailer.format_datetime", return_value=DATE):
        yield


def stock_wire_bytes(**fields: Any) -> bytes:
    """The path before: ``policy.default``, a deep copy without Return-Path, ``policy.SMTP``."""
    with mock.patch.object(mail_policy, "BUILD", policy.default):
        message = build_message(**fields)
    assert message.policy is policy.default
    message = copy.deepcopy(message)
    del message["Return-Path"]
    return message.as_bytes(policy=policy.SMTP)


def our_wire_bytes(**fields: Any) -> bytes:
    return unsigned_wire_bytes(build_message(**fields))


@pytest.mark.usefixtures("fixed_date")
def test_the_wire_bytes_are_the_stock_policys_byte_for_byte() -> None:
    for n in range(12):  # each twice: the second time from the caches
        for _ in range(2):
            random.seed(n)  # the same MIME boundary
            stock = stock_wire_bytes(**inputs(n))
            random.seed(n)
            raw = our_wire_bytes(**inputs(n))
            assert raw == stock
    assert b"Return-Path" not in raw
    for header in (b"\r\nCc: ", b"\r\nIn-Reply-To: ", b"\r\nReferences: ", b"=?utf-8?"):
        assert header in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")


@pytest.mark.usefixtures("fixed_date")
def test_without_a_return_path_or_cc_too() -> None:
    fields = inputs(5) | {"return_path": None, "cc": None, "in_reply_to": None}
    random.seed(5)
    stock = stock_wire_bytes(**fields)
    random.seed(5)
    assert our_wire_bytes(**fields) == stock


def test_the_message_is_an_ordinary_email_message_and_keeps_the_return_path() -> None:
    message = build_message(**inputs(1))
    assert isinstance(message, EmailMessage)
    assert message["To"] == "Zoë's School <dsl@school1.example>"
    assert message["To"].addresses[0].addr_spec == "dsl@school1.example"
    assert message.get_all("Cc") == [inputs(1)["cc"]]
    assert message["Subject"] == LONG_SUBJECT
    plain = message.get_body(("plain",))
    assert plain is not None and plain.get_content() == TEXT
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    unsigned_wire_bytes(message)
    assert message["Return-Path"] == "<bounces+n1.abcd@council.example>"  # the caller's, kept
    assert build_message(**inputs(1))["From"] is message["From"]  # parsed once


def test_the_caches_are_bounded() -> None:
    message = EmailMessage(policy=mail_policy.BUILD)
    for n in range(mail_policy.HEADERS_KEPT + 100):
        message[f"X-Header-{n}"] = f"value {n}"
        mail_policy.WIRE.fold_binary(f"X-Header-{n}", message[f"X-Header-{n}"])
    assert mail_policy.HEADERS._parsed.cache_info().currsize <= mail_policy.HEADERS_KEPT
    assert len(mail_policy.WIRE._folds) <= mail_policy.HEADERS_KEPT
    assert len(mail_policy.HEADERS._classes) <= mail_policy.CLASSES_KEPT


def test_a_fold_is_kept_for_the_header_object_it_was_made_from() -> None:
    """An equal string that is another object is folded afresh, never served another's."""
    wire = mail_policy.WIRE
    header = mail_policy.HEADERS("Subject", LONG_SUBJECT)
    assert wire.fold_binary("Subject", header) == policy.SMTP.fold_binary("Subject", header)
    assert wire.fold_binary("Subject", header) is wire.fold_binary("Subject", header)
    plain = str(header)  # equal, another object
    assert wire.fold_binary("Subject", plain) == policy.SMTP.fold_binary("Subject", plain)
    raw = "a raw\r\n header kept as folded"  # a plain string from a parsed message
    assert wire.fold_binary("X-Raw", raw) == policy.SMTP.fold_binary("X-Raw", raw)


def test_a_clone_with_other_settings_keeps_no_folds_of_the_first() -> None:
    assert mail_policy.WIRE.clone(linesep="\r\n") is mail_policy.WIRE
    other = mail_policy.WIRE.clone(linesep="\n", max_line_length=40)
    header = mail_policy.HEADERS("Subject", LONG_SUBJECT)
    mail_policy.WIRE.fold_binary("Subject", header)
    assert other.fold_binary("Subject", header) == policy.default.clone(
        max_line_length=40
    ).fold_binary("Subject", header)
