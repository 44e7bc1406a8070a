"""Outbound e-mail: one small client interface, an SMTP implementation and a test double.

The mailer sends one message once. It never retries: it raises
:class:`TransientDeliveryError` (worth trying again later) or
:class:`PermanentDeliveryError` (a person must look), and the delivery worker decides
on retries and backoff. Error messages never carry the message body. The one exception,
below the mailer: a kept connection the server had closed before the message began is
replaced by a new one for that message (``foundations/smtp_connections.py``).
"""

from __future__ import annotations

import asyncio
import copy
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from typing import Protocol, runtime_checkable

import aiosmtplib
import structlog

from foundations import mail_policy
from foundations.dkim import DkimSigner, signer_from_settings
from foundations.settings import Settings, SmtpTls, is_loopback
from foundations.smtp_connections import ConnectionPool, Server

log = structlog.get_logger(__name__)

_MAX_REPLY_CHARS = 160


class DeliveryError(Exception):
    """A message was not handed to the mail server. The text holds no personal data."""

    permanent: bool = False

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: connection trouble, a timeout, a 4xx reply."""


class PermanentDeliveryError(DeliveryError):
    """Trying again will not help: a 5xx reply, failed login or certificate, no TLS."""

    permanent = True


def build_message(
    *,
    subject: str,
    text: str,
    html: str,
    sender: str,
    to: str,
    message_id: str,
    cc: str | None = None,
    in_reply_to: str | None = None,
    return_path: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message (plain text, then HTML) with a fixed Message-ID;
    ``in_reply_to`` threads it under an earlier message (a follow-up, a retraction);
    ``return_path`` is where its bounces go (the envelope sender, see ``SmtpMailer.send``).
    Its policy is ``policy.default`` that parses a repeated header once
    (``foundations/mail_policy.py``: ~0.5 ms of CPU instead of ~3)."""
    message = EmailMessage(policy=mail_policy.BUILD)
    if return_path:
        message["Return-Path"] = f"<{return_path}>"
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


@runtime_checkable
class Mailer(Protocol):
    """Sends one message once, or raises a :class:`DeliveryError`."""

    async def send(self, message: EmailMessage) -> None: ...

    async def aclose(self) -> None:
        """Let go of what is kept open between sends (connections), at shutdown."""


def make_tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """A client context that verifies the server certificate and host name, TLS 1.2+."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class SmtpMailer:
    """Sends through the SMTP server named in :class:`Settings`, with aiosmtplib."""

    def __init__(self, settings: Settings, *, local_hostname: str | None = None) -> None:
        if settings.smtp_tls is SmtpTls.NONE and not is_loopback(settings.smtp_host):
            raise ValueError(
                f"plaintext SMTP is only allowed to a loopback host, not {settings.smtp_host!r}"
            )
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        tls_context: ssl.SSLContext | None = None
        if settings.smtp_tls is not SmtpTls.NONE:
            ca_file = str(settings.smtp_ca_file) if settings.smtp_ca_file else None
            tls_context = make_tls_context(ca_file)
        username = settings.smtp_username or None
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        server = Server(
            host=settings.smtp_host,
            port=settings.smtp_port,
            use_tls=settings.smtp_tls is SmtpTls.IMPLICIT,
            # Always explicit: left as None, aiosmtplib would quietly fall back to
            # plaintext when the server does not offer STARTTLS.
            start_tls=settings.smtp_tls is SmtpTls.STARTTLS,
            tls_context=tls_context,
            timeout=settings.smtp_timeout_s,
            username=username,
            password=password if username else None,
            local_hostname=local_hostname,
        )
        # Connections kept between e-mails (foundations/smtp_connections.py).
        self.connections = ConnectionPool(
            server,
            idle_s=settings.smtp_idle_s,
            max_messages=settings.smtp_messages_per_connection,
        )
        # Raises at construction (at start) when a configured key cannot be read.
        self._dkim: DkimSigner | None = signer_from_settings(settings)
        if self._dkim is None:
            log.warning("dkim_not_configured", hint="set ENCOMPASS_DKIM_KEY_FILE and _SELECTOR")

    def wire_bytes(self, message: EmailMessage) -> bytes:
        """The message exactly as it goes to the server (:func:`unsigned_wire_bytes`),
        DKIM-signed when a key is configured (the signature covers these bytes, so nothing
        may re-fold them)."""
        raw = unsigned_wire_bytes(message)
        return self._dkim.sign(raw) if self._dkim is not None else raw

    async def send(self, message: EmailMessage) -> None:
        """Hand one message to the server; raise a classified error if that fails. The
        envelope sender is the message's Return-Path when it has one (its own bounce
        address), else the From address. The wire bytes (serialising, DKIM signing: a few
        milliseconds of interpreter) are made on a worker thread, not on the event loop."""
        to = _addresses(message, "To")
        where = f"{self._host}:{self._port}"
        sender = message.get("Return-Path") or parseaddr(str(message["From"]))[1]
        recipients = _envelope_recipients(message)
        raw = await asyncio.to_thread(self.wire_bytes, message)
        try:
            errors = await self.connections.transaction(parseaddr(str(sender))[1], recipients, raw)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise classify(exc, where=where) from exc
        # Refused only when every recipient is refused; a refused To is an
        # error even when a Cc was accepted, a refused Cc alone is logged.
        for address, response in errors.items():
            if address.lower() in to:
                raise _by_code(
                    response.code, f"{where} refused recipient {address}", response.message
                )
        for address, response in errors.items():
            log.warning(
                "mail_copy_recipient_refused",
                server=where,
                recipient=address,
                code=response.code,
                message_id=message.get("Message-ID"),
            )

    async def aclose(self) -> None:
        """QUIT the connections kept open (at shutdown)."""
        await self.connections.close()


def unsigned_wire_bytes(message: EmailMessage) -> bytes:
    """The message as ``policy.SMTP`` writes it (CRLF line ends), without a Return-Path
    header: that is the envelope sender (MAIL FROM), and the receiving system writes the
    header itself on delivery (RFC 5321, 4.4).

    Byte for byte what ``copy.deepcopy``, ``del``, ``as_bytes(policy=policy.SMTP)`` made,
    for less CPU (``bench/email_cpu.py``): the header is dropped from a shallow copy, as
    deleting a header gives the copy a header list of its own and the parts, shared, are
    only read (a deep copy cost ~3.5 ms, more than building the message), and
    ``mail_policy.wire_bytes`` is ``as_bytes(policy=policy.SMTP)`` that folds a header
    it has folded before once."""
    if "Return-Path" in message:
        message = copy.copy(message)
        del message["Return-Path"]
    return mail_policy.wire_bytes(message)


def _envelope_recipients(message: EmailMessage) -> list[str]:
    """To, then Cc, as written (a local part may be case-sensitive), each once."""
    values = [str(v) for header in ("To", "Cc") for v in message.get_all(header, [])]
    seen: dict[str, str] = {}
    for _, address in getaddresses(values):
        if address:
            seen.setdefault(address.lower(), address)
    return list(seen.values())


def _addresses(message: EmailMessage, header: str) -> set[str]:
    values = [str(value) for value in message.get_all(header, [])]
    return {address.lower() for _, address in getaddresses(values) if address}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _reply(text: str) -> str:
    text = " ".join(text.split())
    return text[:_MAX_REPLY_CHARS]


def _by_code(code: int, what: str, reply: str = "") -> DeliveryError:
    detail = f"{what}: {code} {_reply(reply)}".rstrip()
    if 400 <= code < 500:
        return TransientDeliveryError(detail, code=code)
    return PermanentDeliveryError(detail, code=code)


def classify(exc: BaseException, *, where: str = "mail server") -> DeliveryError:
    """Map an aiosmtplib or socket error to a transient or permanent delivery error."""
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            reason = link.verify_message or "certificate verification failed"
            return PermanentDeliveryError(f"{where}: TLS certificate not trusted ({reason})")
        if isinstance(link, ssl.SSLEOFError | ssl.SSLZeroReturnError | ssl.SSLSyscallError):
            return TransientDeliveryError(f"{where}: connection closed during TLS")
        if isinstance(link, ssl.SSLError):
            return PermanentDeliveryError(f"{where}: TLS handshake failed ({link.reason})")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        names = ", ".join(refused.recipient for refused in exc.recipients)
        code = 450 if codes and all(400 <= c < 500 for c in codes) else max(codes, default=550)
        first = exc.recipients[0].message if exc.recipients else ""
        return _by_code(code, f"{where} refused recipient {names}", first)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _by_code(exc.code, f"{where} refused the login", exc.message)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return _by_code(exc.code, f"{where} refused sender {exc.sender}", exc.message)
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return _by_code(exc.code, f"{where} refused the message", exc.message)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, f"{where} replied", exc.message)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return TransientDeliveryError(f"{where}: timed out")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return TransientDeliveryError(f"{where}: {_reply(str(exc))}")
    if isinstance(exc, OSError):
        return TransientDeliveryError(f"{where}: connection failed ({type(exc).__name__})")
    text = str(exc)
    if "STARTTLS" in text.upper():
        return PermanentDeliveryError(f"{where}: server does not offer STARTTLS")
    # Anything else (no AUTH offered, unsupported extension) is a configuration problem.
    return PermanentDeliveryError(f"{where}: {_reply(text)}")


class MemoryMailer:
    """Collects messages in a list; can be told to fail the next sends (for unit tests)."""

    def __init__(self, *, fail_transient: int = 0, fail_permanent: int = 0) -> None:
        self.messages: list[EmailMessage] = []
        self.attempts = 0
        self._failures: list[DeliveryError] = []
        self.fail_next(fail_transient)
        self.fail_next(fail_permanent, permanent=True)

    def fail_next(self, count: int = 1, *, permanent: bool = False) -> None:
        """Make the next ``count`` sends raise a transient (or permanent) error."""
        for _ in range(count):
            if permanent:
                self._failures.append(PermanentDeliveryError("memory mailer: 550 rejected"))
            else:
                self._failures.append(TransientDeliveryError("memory mailer: 451 try later"))

    async def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        if self._failures:
            raise self._failures.pop(0)
        self.messages.append(message)

    async def aclose(self) -> None:
        pass

    def sent_to(self, address: str) -> list[EmailMessage]:
        """Messages whose To or Cc holds ``address``."""
        wanted = address.lower()
        return [
            message
            for message in self.messages
            if wanted in _addresses(message, "To") | _addresses(message, "Cc")
        ]
