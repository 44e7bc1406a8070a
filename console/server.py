"""The console served in-process by uvicorn, as one more task of the broker process."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI


class _QuietServer(uvicorn.Server):
    """Leaves signals to the process that runs it (``encompass up`` handles Ctrl-C)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ConsoleServer:
    """Binds at construction (so a busy port is known at once), serves on ``serve()``."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # structlog owns logging; uvicorn must not reconfigure it
            access_log=False,  # tokens are in the paths: never log them
            lifespan="off",
            server_header=False,
            # X-Forwarded-For is read by the console itself, and only from the proxies in
            # ENCOMPASS_TRUSTED_PROXIES (console/throttle.py): uvicorn must not rewrite the
            # client address from it (by default it believes any loopback peer).
            proxy_headers=False,
        )
        self._server = _QuietServer(config)
        # Bound here, not by uvicorn, which would exit the whole process on a busy port.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.create_server((host, port), family=family)
        self.host = host
        self.port: int = self._socket.getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            self._socket.close()

    def request_stop(self) -> None:
        self._server.should_exit = True

    def close(self) -> None:
        """Release the port if ``serve`` never ran."""
        with contextlib.suppress(OSError):
            self._socket.close()
