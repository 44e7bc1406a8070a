"""One ``encompass up`` per data folder (issue 15): a second one is refused with a clear
message, and never removes the first one's ``running.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from broker.runtime import clear_runtime, holding_data_folder, runtime_file, write_runtime
from foundations.settings import Settings
from foundations.startup import StartupRefused


def test_a_second_holder_of_the_data_folder_is_refused_naming_the_first(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    refused = pytest.raises(StartupRefused, match=rf"another `encompass up` \(pid {os.getpid()}\)")
    with holding_data_folder(settings), refused, holding_data_folder(settings):
        pass
    with holding_data_folder(settings):  # free again once the first has stopped
        pass


def test_stopping_removes_only_its_own_running_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    runtime_file(settings).write_text(json.dumps({"pid": os.getpid() + 1, "kafka_bootstrap": "x"}))
    clear_runtime(settings)
    assert runtime_file(settings).exists()
    write_runtime(settings, bootstrap="127.0.0.1:9092", database_url="sqlite://")
    clear_runtime(settings)
    assert not runtime_file(settings).exists()


def test_encompass_up_on_a_folder_in_use_exits_with_one_clear_line(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from broker.runtime import holding_data_folder\n"
         "from foundations.settings import Settings\n"
         f"with holding_data_folder(Settings(data_dir={str(tmp_path)!r})):\n"
         "    print('held', flush=True); time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
        second = subprocess.run(
            [sys.executable, "-m", "broker.cli", "up", "--demo"],
            env=env | {"ENCOMPASS_DATA_DIR": str(tmp_path)},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2
    assert f"another `encompass up` (pid {holder.pid}) is running on the data folder" in (
        second.stderr
    )
    assert "Traceback" not in second.stderr
