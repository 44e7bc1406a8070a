"""Where a running ``encompass up`` can be found by the other commands on this machine."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from foundations.settings import Settings


def runtime_file(settings: Settings) -> Path:
    return settings.data_dir / "running.json"


def write_runtime(settings: Settings, *, bootstrap: str, database_url: str) -> None:
    path = runtime_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"pid": os.getpid(), "kafka_bootstrap": bootstrap, "database_url": database_url})
    )


def clear_runtime(settings: Settings) -> None:
    with contextlib.suppress(FileNotFoundError):
        runtime_file(settings).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def bootstrap_for_clients(settings: Settings) -> str | None:
    """The configured Kafka, else the embedded one of a running ``encompass up``."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap
    try:
        data = json.loads(runtime_file(settings).read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(int(data.get("pid", 0))):
        return None
    value = data.get("kafka_bootstrap")
    return str(value) if value else None
