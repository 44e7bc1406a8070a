"""One log format per process: our lines and the libraries' (FastStream, uvicorn, aiokafka)
leave through the same renderer, so a deployment's JSON log has no coloured text in it, and
personal fields are removed from both."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from foundations.logging import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in ("faststream", "uvicorn.error")
    }
    yield
    root.handlers, root.level = handlers, level
    for name, (old, propagate) in saved.items():
        logging.getLogger(name).handlers, logging.getLogger(name).propagate = old, propagate
    structlog.reset_defaults()


def test_our_lines_and_the_libraries_lines_are_the_same_json(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    noisy = logging.getLogger("faststream")
    noisy.addHandler(logging.StreamHandler())  # as FastStream installs its own
    noisy.propagate = False

    configure_logging("json", "INFO")
    structlog.get_logger("encompass.test").info("notification_sent", notification_id="N-1")
    logging.getLogger("faststream").info("KafkaBroker connected")
    logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42)
    structlog.get_logger("encompass.test").info("oops", name="Amy Example")

    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.err.splitlines()]
    assert [(line["logger"], line["event"]) for line in lines] == [
        ("encompass.test", "notification_sent"),
        ("faststream", "KafkaBroker connected"),
        ("uvicorn.error", "Started server process [42]"),
        ("encompass.test", "oops"),
    ]
    assert all("timestamp" in line and "level" in line for line in lines)
    assert lines[-1]["name"] == "[removed]"
    assert "\x1b[" not in out.err and out.out == ""
