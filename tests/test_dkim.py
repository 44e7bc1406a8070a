"""DKIM (issue 18): every e-mail the broker sends carries a DKIM signature that verifies
against the key published in DNS; a changed message does not verify; a key that cannot be
read stops the process instead of sending unsigned mail."""

from __future__ import annotations

from collections.abc import Iterator
from email import policy as email_policy
from pathlib import Path

import dkim
import pytest
from pydantic import ValidationError

from foundations.dkim import (
    SIGNED_HEADERS,
    DkimKeyError,
    _OpenSslDkim,
    signer_from_settings,
    write_key,
)
from foundations.mailer import SmtpMailer, build_message, unsigned_wire_bytes
from foundations.settings import Settings, SmtpTls
from tests.smtp_server import PASSWORD, USERNAME, RecordingSmtpServer, TestPki, make_test_ca

SENDER = "operation-encompass@council.example"


@pytest.fixture
def pki(tmp_path: Path) -> TestPki:
    return make_test_ca(tmp_path / "pki")


@pytest.fixture
def server(pki: TestPki) -> Iterator[RecordingSmtpServer]:
    with RecordingSmtpServer("starttls", pki) as running:
        yield running


def dns_with(record: str, selector: str = "enc2026", domain: str = "council.example"):  # type: ignore[no-untyped-def]
    """What a resolver would answer for the published TXT record."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        expected = f"{selector}._domainkey.{domain}.".encode()
        return record.encode() if name in (expected, expected.rstrip(b".")) else None

    return lookup


def _settings(port: int, pki: TestPki, key: Path | None, **changes: object) -> Settings:
    return Settings(
        smtp_host="localhost", smtp_port=port, smtp_tls=SmtpTls.STARTTLS, smtp_ca_file=pki.ca_cert,
        smtp_username=USERNAME, smtp_password=PASSWORD, mail_from=SENDER,
        dkim_key_file=key, dkim_selector="enc2026" if key else None, **changes,
    )  # fmt: skip


def _message(subject: str = "Operation Encompass notification N-1") -> object:
    return build_message(
        subject=subject, text="Please acknowledge.\n", html="<p>Please acknowledge.</p>",
        sender=SENDER, to="dsl@school.example", message_id="<N-1@council.example>",
    )  # fmt: skip


async def test_what_the_server_receives_verifies_against_the_published_key(
    server: RecordingSmtpServer, pki: TestPki, tmp_path: Path
) -> None:
    record = write_key(tmp_path / "dkim.pem")
    mailer = SmtpMailer(_settings(server.port, pki, tmp_path / "dkim.pem"))
    await mailer.send(_message())  # type: ignore[arg-type]

    [received] = server.wait_for(1)
    assert received.raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(received.raw, dnsfunc=dns_with(record))
    tampered = received.raw.replace(b"N-1", b"N-2", 1)
    assert not dkim.verify(tampered, dnsfunc=dns_with(record))
    other_key = write_key(tmp_path / "other.pem")
    assert not dkim.verify(received.raw, dnsfunc=dns_with(other_key))


def test_the_txt_record_is_a_dkim_rsa_key(tmp_path: Path) -> None:
    record = write_key(tmp_path / "dkim.pem")
    assert record.startswith("v=DKIM1; k=rsa; p=MII")
    assert (tmp_path / "dkim.pem").stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_key(tmp_path / "dkim.pem")  # never over a key in use


def test_an_unreadable_key_stops_the_mailer_instead_of_sending_unsigned(
    pki: TestPki, tmp_path: Path
) -> None:
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(DkimKeyError, match="not a readable PEM key"):
        SmtpMailer(_settings(25, pki, tmp_path / "bad.pem"))
    with pytest.raises(DkimKeyError, match="not a readable PEM key"):
        SmtpMailer(_settings(25, pki, tmp_path / "missing.pem"))


def test_half_a_dkim_configuration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="set together or not at all"):
        Settings(dkim_key_file=tmp_path / "dkim.pem")
    with pytest.raises(ValidationError, match="set together or not at all"):
        Settings(dkim_selector="enc2026")


async def test_a_return_path_of_its_own_is_the_envelope_sender_and_the_signature_holds(
    server: RecordingSmtpServer, pki: TestPki, tmp_path: Path
) -> None:
    """Bounces (issue 18, item 2): the return path goes as MAIL FROM, not as a header the
    receiving system would add its own to; the signature verifies with or without it."""
    record = write_key(tmp_path / "dkim.pem")
    mailer = SmtpMailer(_settings(server.port, pki, tmp_path / "dkim.pem"))
    message = build_message(
        subject="Operation Encompass notification N-1", text="Please acknowledge.\n",
        html="<p>Please acknowledge.</p>", sender=SENDER, to="dsl@school.example",
        message_id="<N-1@council.example>", return_path="bounces+s1.abcd@council.example",
    )  # fmt: skip
    await mailer.send(message)

    [received] = server.wait_for(1)
    assert received.mail_from == "bounces+s1.abcd@council.example"
    assert b"Return-Path" not in received.raw
    assert dkim.verify(received.raw, dnsfunc=dns_with(record))
    delivered = b"Return-Path: <bounces+s1.abcd@council.example>\r\n" + received.raw
    assert dkim.verify(delivered, dnsfunc=dns_with(record))  # as the mailbox stores it
    assert message["Return-Path"] == "<bounces+s1.abcd@council.example>"  # the caller's, kept


def test_the_openssl_signature_is_dkimpys_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signer signs with OpenSSL (1 ms, not dkimpy's 13 ms of pure-Python arithmetic):
    RSASSA-PKCS1-v1_5 is deterministic, so the header is exactly dkimpy's own."""
    write_key(tmp_path / "dkim.pem")
    signer = signer_from_settings(
        _settings(25, make_test_ca(tmp_path / "pki"), tmp_path / "dkim.pem")
    )
    assert signer is not None
    monkeypatch.setattr(dkim.time, "time", lambda: 1_795_000_000.0)  # the same t= tag
    for subject in ("Operation Encompass notification N-1", "Ünïcode, and a long " * 6):
        message = _message(subject).as_bytes(policy=email_policy.SMTP)  # type: ignore[attr-defined]
        ours = signer.sign(message)
        theirs = dkim.sign(
            message, b"enc2026", b"council.example", signer.private_pem,
            include_headers=[*SIGNED_HEADERS, *SIGNED_HEADERS],
            canonicalize=(b"relaxed", b"relaxed"), linesep=b"\r\n",
        ) + message  # fmt: skip
        assert ours == theirs


def test_the_signature_is_the_previous_paths_without_parsing_the_pem_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sign_relaxed`` is dkimpy's ``sign`` without its per-message parse of the PEM key
    (0.35 ms of pure-Python ASN.1 for a key the OpenSSL signer never uses): the same bytes
    as the previous path, for a message with every header we sign, and they verify."""
    record = write_key(tmp_path / "dkim.pem")
    signer = signer_from_settings(
        _settings(25, make_test_ca(tmp_path / "pki"), tmp_path / "dkim.pem")
    )
    assert signer is not None
    monkeypatch.setattr(dkim.time, "time", lambda: 1_795_000_000.0)
    message = build_message(
        subject="Operation Encompass notification N-1 – Zoë " * 4,
        text="Zoë was present.\n" * 20, html="<p>Zoë was present.</p>", sender=SENDER,
        to="Zoë's School <dsl@school.example>", cc="deputy.dsl@school.example",
        message_id="<N-2@council.example>", in_reply_to="<N-1@council.example>",
        return_path="bounces+s1.abcd@council.example",
    )  # fmt: skip
    raw = unsigned_wire_bytes(message)
    previous = _OpenSslDkim(raw, signer.key).sign(
        b"enc2026", b"council.example", signer.private_pem,
        include_headers=[*SIGNED_HEADERS, *SIGNED_HEADERS],
        canonicalize=(b"relaxed", b"relaxed"),
    ) + raw  # fmt: skip

    def no_parse(pem: bytes) -> None:
        raise AssertionError("the PEM key parsed again")

    monkeypatch.setattr(dkim, "parse_pem_private_key", no_parse)
    signed = signer.sign(raw)
    assert signed == previous
    assert dkim.verify(signed, dnsfunc=dns_with(record))
    assert not dkim.verify(signed.replace(b"N-1", b"N-3", 1), dnsfunc=dns_with(record))
