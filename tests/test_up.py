"""`encompass up --demo` as a newcomer runs it: e-mails reach the mail catcher within a
minute, and Ctrl-C stops everything, leaving no broker process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_up_demo_delivers_within_a_minute_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env["ENCOMPASS_DATA_DIR"] = str(tmp_path)
    log = tmp_path / "up.log"
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker.cli",
            "up",
            "--demo",
            "--incidents",
            "5",
            "--interval",
            "0.2",
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    mail = tmp_path / "demo-mail"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(mail.glob("*.eml")):
            assert up.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        assert list(mail.glob("*.eml")), "no e-mail reached the catcher within a minute"
        broker_processes = _children_of(up.pid)
        assert broker_processes, "the embedded broker should run as a child process"
    finally:
        stopping = time.monotonic()
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C reaches every process of the foreground job
        code = up.wait(30)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert time.monotonic() - stopping < 15, "stopping took too long"
    assert "audit_flush_on_shutdown_failed" not in output, output[-3000:]
    assert not any(Path(f"/proc/{pid}").exists() for pid in broker_processes)
    assert not (tmp_path / "running.json").exists()
