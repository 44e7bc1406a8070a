"""The bounce listener: an SMTP server (aiosmtpd) beside the broker, in the delivery role, that
takes delivery status notifications sent to our return paths (consumers/bounces.py).

It runs on the broker's event loop (``ENCOMPASS_BOUNCE_SMTP_HOST`` and ``_PORT``; off unless
the host is set). A recipient that is not one of our return paths, or whose signature does
not verify, is refused at RCPT (550): the listener is nobody's mailbox. A report is taken in
one transaction; when that fails, or the e-mail it is about is still being recorded as sent,
the answer is 451 and the sending system tries again later. It offers STARTTLS when a
certificate and key are set. Nothing of a report is logged but ids and outcomes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from consumers import bounces
from consumers.dsn import MAX_REPORT_BYTES
from consumers.return_path import ReturnPaths
from foundations.clock import utcnow
from foundations.database import run_in_session
from foundations.settings import Settings

log = structlog.get_logger(__name__)

MAX_RECIPIENTS = 10  # a DSN goes to one return path; a few, at most, from one sender


class BounceHandler:
    """The aiosmtpd handler: RCPT checks the return path, DATA takes the report."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[DbSession],
        paths: ReturnPaths,
        on_taken: Callable[[bounces.Taken], None],
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.paths = paths
        self.on_taken = on_taken

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        try:
            ours = await run_in_session(self.sessions, bounces.is_ours, self.paths, address)
        except Exception as exc:
            log.error("bounce_listener_database_error", error=type(exc).__name__)
            return "451 4.3.0 Cannot check the address now: try again later"
        if not ours:
            self.on_taken(bounces.Taken(bounces.Outcome.FORGED))
            return "550 5.1.1 Not a return path of this service"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            taken = await run_in_session(
                self.sessions, _take, self.settings, self.paths, raw, tuple(envelope.rcpt_tos)
            )
        except Exception as exc:
            log.error("bounce_listener_database_error", error=type(exc).__name__)
            return "451 4.3.0 Cannot record it now: try again later"
        self.on_taken(taken)
        if taken.outcome is bounces.Outcome.LATER:
            return "451 4.3.0 Not ready for this report yet: try again later"
        return f"250 2.0.0 Taken: {taken.outcome.value}"


def _take(
    session: DbSession,
    settings: Settings,
    paths: ReturnPaths,
    raw: bytes,
    rcpt_tos: tuple[str, ...],
) -> bounces.Taken:
    return bounces.take(
        session, settings, paths, raw, envelope_to=rcpt_tos, via="smtp", now=utcnow()
    )


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    cert, key = settings.bounce_smtp_tls_cert_file, settings.bounce_smtp_tls_key_file
    if cert is None or key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class BounceListener:
    """Serves the handler on the running event loop, from ``start`` to ``stop``."""

    def __init__(self, settings: Settings, handler: BounceHandler) -> None:
        self.settings = settings
        self.handler = handler
        self.port: int | None = None
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        host, port = self.settings.bounce_smtp_host, self.settings.bounce_smtp_port
        if self._server is not None or not host:
            return
        loop = asyncio.get_running_loop()
        context = _tls_context(self.settings)

        def factory() -> SMTP:
            return SMTP(
                self.handler, hostname=host, ident="Encompass bounce listener",
                data_size_limit=MAX_REPORT_BYTES, tls_context=context, timeout=60, loop=loop,
            )  # fmt: skip

        try:
            self._server = await loop.create_server(factory, host=host, port=port)
        except OSError as exc:
            log.error("bounce_listener_unavailable", host=host, port=port, error=str(exc))
            return
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("bounce_listener_started", host=host, port=self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), 5)
        except TimeoutError:
            log.warning("bounce_listener_stop_timed_out")
        self._server, self.port = None, None


def bounce_listener(
    settings: Settings,
    sessions: sessionmaker[DbSession],
    on_taken: Callable[[bounces.Taken], None],
) -> BounceListener | None:
    """The listener the settings ask for: None unless a host and a bounce address are set."""
    paths = ReturnPaths.from_settings(settings)
    if not settings.bounce_smtp_host or paths is None:
        return None
    return BounceListener(settings, BounceHandler(settings, sessions, paths, on_taken))
