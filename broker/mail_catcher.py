"""A local mail catcher for ``encompass up --demo``: accepts everything, saves .eml files.

It listens in plaintext on 127.0.0.1 only (the demo sets ``ENCOMPASS_SMTP_TLS=none``,
which settings allow only for a loopback host). aiosmtpd runs it in its own thread.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import threading
import uuid
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

LOOPBACK = "127.0.0.1"
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]+")


class LoopbackController(Controller):
    """An aiosmtpd Controller that accepts port 0 and learns the port it was given."""

    def _trigger_server(self) -> None:
        server = self.server
        if self.port == 0 and isinstance(server, asyncio.Server) and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        super()._trigger_server()  # type: ignore[no-untyped-call]


def eml_name(message_id: str | None, when: datetime | None = None) -> str:
    """``20250101T120000123456Z_<sanitized Message-ID>.eml``."""
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    token = _UNSAFE.sub("_", (message_id or "").strip().strip("<>")).strip("._")[:120]
    return f"{stamp}_{token or uuid.uuid4().hex}.eml"


class _SaveHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.received = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        message_id = headers.get("Message-ID")
        with self._lock:
            path = self.directory / eml_name(str(message_id) if message_id else None)
            for n in itertools.count(1):
                if not path.exists():
                    break
                path = path.with_name(f"{path.stem}-{n}.eml")
            partial = path.with_suffix(".part")
            # Readable by this user only: the demo's e-mails name (synthetic) children.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(raw)
            os.replace(partial, path)
            self.received += 1
        return "250 2.0.0 Message accepted for delivery"


class MailCatcher:
    """Plaintext SMTP on 127.0.0.1 that writes each received message to ``directory``."""

    def __init__(self, directory: Path, port: int = 0, *, hostname: str = LOOPBACK) -> None:
        if hostname not in (LOOPBACK, "::1", "localhost"):
            raise ValueError("the mail catcher listens on a loopback address only")
        self.directory = Path(directory)
        self._handler = _SaveHandler(self.directory)
        self._hostname = hostname
        self._requested_port = port
        self._controller: LoopbackController | None = None

    def start(self) -> None:
        """Bind and start serving in a background thread; returns when it is ready."""
        if self._controller is not None:
            raise RuntimeError("mail catcher already running")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        controller = LoopbackController(
            self._handler,
            hostname=self._hostname,
            port=self._requested_port,
            server_hostname="localhost",
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop serving; safe to call when not running."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def port(self) -> int:
        """The port it listens on (the one picked, when 0 was asked for)."""
        if self._controller is None:
            raise RuntimeError("mail catcher not running")
        return int(self._controller.port)

    @property
    def hostname(self) -> str:
        return self._hostname

    @property
    def received(self) -> int:
        """How many messages were saved since this catcher was made."""
        return self._handler.received

    def messages(self) -> list[Path]:
        """Saved .eml files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.eml"))

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
