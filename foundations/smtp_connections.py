"""Open SMTP connections kept for the next e-mail: STARTTLS and AUTH once per connection.

A Monday's backlog is thousands of e-mails to one relay. Opening a connection for each
(TCP, EHLO, STARTTLS, EHLO again, AUTH, then QUIT) costs several round trips and a TLS
handshake per e-mail; :class:`ConnectionPool` keeps a connection open after an e-mail and
hands it to the next one, each message still in its own SMTP transaction (MAIL, RCPT,
DATA). What it keeps and for how long:

- a connection is reused for at most ``max_messages`` e-mails, then QUIT (some relays
  limit the messages of one connection); one idle for ``idle_s`` is QUIT; ``idle_s`` 0:
  a new connection for every e-mail (what the broker did before);
- a connection is given back only in a known state: after an e-mail was accepted, or
  after a refusal the server answered (a 5xx or 4xx reply, then RSET). A timeout, a
  dropped connection, a 421 or a cancelled send closes it, and the next e-mail opens a
  new one;
- a kept connection that the server closed while it waited (its idle timeout, a restart)
  fails at the first command, MAIL FROM, before any of the message was sent: that e-mail
  alone is tried once more, at once, on a new connection. A failure later in the
  transaction is the caller's (``foundations.mailer``: a transient error, sent again by
  the delivery worker's retry, with the same Message-ID), never retried here, where it
  could not tell whether the server had taken the message;
- concurrent senders (the delivery worker and escalation's alerts share one mailer) each
  take their own connection; ``close`` QUITs what is kept (at shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

import aiosmtplib
import structlog
from aiosmtplib import SMTPResponse

log = structlog.get_logger(__name__)

MAX_IDLE_CONNECTIONS = 4  # more than the senders that share one mailer


class ClosedBeforeMail(Exception):
    """A kept connection was found closed at MAIL FROM: nothing of the message was sent."""


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    loop: asyncio.AbstractEventLoop
    sent: int = 0
    idle_since: float = 0.0


@dataclass(frozen=True)
class Server:
    """Where and how to connect (``foundations.mailer.SmtpMailer`` fills it from Settings)."""

    host: str
    port: int
    use_tls: bool  # implicit TLS from the first byte
    start_tls: bool  # always explicit: never a quiet fall back to plaintext
    tls_context: ssl.SSLContext | None
    timeout: float
    username: str | None
    password: str | None
    local_hostname: str | None


class ConnectionPool:
    """SMTP connections to one server, kept open between e-mails (module docstring)."""

    def __init__(self, server: Server, *, idle_s: float, max_messages: int) -> None:
        self.server = server
        self.idle_s = idle_s
        self.max_messages = max_messages
        self.opened = 0  # connections opened so far (for tests and the benchmark)
        self._idle: list[_Connection] = []
        self._reaper: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def kept(self) -> int:
        """Connections open and waiting for the next e-mail."""
        return len(self._idle)

    async def transaction(
        self, sender: str, recipients: list[str], raw: bytes
    ) -> dict[str, SMTPResponse]:
        """Send one message in one SMTP transaction; returns the refused recipients (some
        were accepted). Raises aiosmtplib's and the socket's errors as they come."""
        connection = self._take()
        if connection is not None:
            try:
                return await self._send(connection, sender, recipients, raw)
            except ClosedBeforeMail:
                log.info("smtp_connection_closed_by_server_reopening")
        connection = await self._open()
        try:
            return await self._send(connection, sender, recipients, raw)
        except ClosedBeforeMail as exc:  # a new connection: the error is the server's
            raise exc.__cause__ or exc from None

    async def close(self) -> None:
        """QUIT every kept connection (at shutdown); wait for those already closing."""
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        kept, self._idle = self._idle, []
        for connection in kept:
            await self._quit(connection)
        if self._closing:
            await asyncio.wait(list(self._closing))

    # one e-mail on one connection

    async def _send(
        self, connection: _Connection, sender: str, recipients: list[str], raw: bytes
    ) -> dict[str, SMTPResponse]:
        client = connection.client
        try:
            refused = await _mail_transaction(client, sender, recipients, raw)
        except ClosedBeforeMail:
            _drop(connection)
            raise
        except (aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException) as exc:
            # The server answered: the connection is usable once the envelope is reset.
            kept = False
            try:
                kept = getattr(exc, "code", None) != 421 and await _reset(client)
            finally:
                if kept:
                    self._give_back(connection)
                else:
                    _drop(connection)
            raise
        except BaseException:  # a timeout, a dropped connection, a cancelled send
            _drop(connection)
            raise
        connection.sent += 1
        self._give_back(connection)
        return refused

    async def _open(self) -> _Connection:
        s = self.server
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            tls_context=s.tls_context,
            timeout=s.timeout,
            local_hostname=s.local_hostname,
            username=s.username,
            password=s.password if s.username else None,
        )
        await client.connect()  # EHLO, STARTTLS, EHLO, AUTH; closes itself on failure
        self.opened += 1
        return _Connection(client, asyncio.get_running_loop())

    # keeping and closing

    def _take(self) -> _Connection | None:
        """The most recently used kept connection that is still open, if any."""
        loop = asyncio.get_running_loop()
        while self._idle:
            connection = self._idle.pop()
            fresh = loop.time() - connection.idle_since < self.idle_s
            if connection.loop is loop and fresh and connection.client.is_connected:
                return connection
            _drop(connection)
        return None

    def _give_back(self, connection: _Connection) -> None:
        done = connection.sent >= self.max_messages
        if self.idle_s <= 0 or done or len(self._idle) >= MAX_IDLE_CONNECTIONS:
            self._spawn_quit(connection)
            return
        if not connection.client.is_connected:
            _drop(connection)
            return
        loop = connection.loop
        connection.idle_since = loop.time()
        self._idle.append(connection)
        if self._reaper is None:
            self._reaper = loop.call_later(self.idle_s, self._reap)

    def _reap(self) -> None:
        """QUIT the connections idle for ``idle_s``; look again when the next one will be."""
        self._reaper = None
        if not self._idle:
            return
        loop = self._idle[0].loop
        now = loop.time()
        expired = [c for c in self._idle if now - c.idle_since >= self.idle_s]
        self._idle = [c for c in self._idle if c not in expired]
        for connection in expired:
            self._spawn_quit(connection)
        if self._idle:
            oldest = min(c.idle_since for c in self._idle)
            self._reaper = loop.call_later(max(oldest + self.idle_s - now, 0.01), self._reap)

    def _spawn_quit(self, connection: _Connection) -> None:
        task = connection.loop.create_task(self._quit(connection))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _quit(self, connection: _Connection) -> None:
        if connection.loop is not asyncio.get_running_loop():
            _drop(connection)
            return
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await connection.client.quit(timeout=min(self.server.timeout, 5.0))
        _drop(connection)


async def _mail_transaction(
    client: aiosmtplib.SMTP, sender: str, recipients: list[str], raw: bytes
) -> dict[str, SMTPResponse]:
    """MAIL, RCPT for each recipient, DATA (as aiosmtplib's ``sendmail``), telling apart a
    connection found closed at MAIL FROM (:class:`ClosedBeforeMail`)."""
    options = [f"SIZE={len(raw)}"] if client.supports_extension("size") else []
    try:
        await client.mail(sender, options=options)
    except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
        raise ClosedBeforeMail() from exc
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:  # "closing the channel": a busy or restarting server
            raise ClosedBeforeMail() from exc
        raise
    refused: list[aiosmtplib.SMTPRecipientRefused] = []
    for address in recipients:
        try:
            await client.rcpt(address)
        except aiosmtplib.SMTPRecipientRefused as exc:
            refused.append(exc)
    if len(refused) == len(recipients):
        raise aiosmtplib.SMTPRecipientsRefused(refused)
    await client.data(raw)
    return {r.recipient: SMTPResponse(r.code, r.message) for r in refused}


async def _reset(client: aiosmtplib.SMTP) -> bool:
    """RSET after a refusal; False when the connection is not fit to keep."""
    if not client.is_connected:
        return False
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        return False
    return True


def _drop(connection: _Connection) -> None:
    """Close without a word (the connection's state is unknown, or its loop is gone)."""
    with contextlib.suppress(Exception):
        connection.client.close()
