"""Where a running ``encompass up`` can be found by the other commands on this machine."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from foundations.settings import Settings
from foundations.startup import StartupRefused


def runtime_file(settings: Settings) -> Path:
    return settings.data_dir / "running.json"


def write_runtime(settings: Settings, *, bootstrap: str, database_url: str) -> None:
    path = runtime_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"pid": os.getpid(), "kafka_bootstrap": bootstrap, "database_url": database_url})
    )


def clear_runtime(settings: Settings) -> None:
    """Remove ``running.json`` if it is this process's (never another instance's)."""
    path = runtime_file(settings)
    try:
        pid = int(json.loads(path.read_text()).get("pid", 0))
    except (FileNotFoundError, ValueError, AttributeError):
        return
    if pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def holding_data_folder(settings: Settings) -> Iterator[None]:
    """One ``encompass up`` per data folder: a second one would answer the other's
    acknowledgement links with its own console, and write over its ``running.json``. The
    lock is the kernel's (flock), so it goes with the process however it ends."""
    folder = settings.data_dir
    folder.mkdir(parents=True, exist_ok=True)
    lock = os.open(folder / "up.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(lock, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StartupRefused(
                f"another `encompass up` (pid {holder}) is running on the data folder {folder}: "
                "stop it first, or give this one its own ENCOMPASS_DATA_DIR"
            ) from None
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(lock)


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
