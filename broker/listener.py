"""An HTTP server of the broker process (the console, the internal listener), run as a task
of its event loop beside the workers."""

from __future__ import annotations

import asyncio

import structlog
from fastapi import FastAPI

from console.server import ConsoleServer

log = structlog.get_logger(__name__)


class Listener:
    """An HTTP server of this process (console/server.py), run as a task. A port that
    cannot be bound is logged loudly and stops nothing else."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.server: ConsoleServer | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, app: FastAPI, host: str, port: int) -> None:
        if self.server is not None:
            return
        try:
            self.server = ConsoleServer(app, host, port)
        except OSError as exc:
            log.error(f"{self.name}_unavailable", host=host, port=port, error=str(exc))
            return
        self._task = asyncio.create_task(self.server.serve(), name=self.name)
        log.info(f"{self.name}_started", url=self.server.url)

    async def stop(self) -> None:
        if self.server is None:
            return
        self.server.request_stop()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:
                log.exception(f"{self.name}_stop_failed")
        self.server.close()
        self.server, self._task = None, None
