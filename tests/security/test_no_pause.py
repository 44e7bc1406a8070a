"""Issue 13, defect 11: pausing notifications is itself a safeguarding risk.

The project offers no way to stop sending: no setting, command, console page or API call
whose purpose is to suspend delivery, and no single setting that turns delivery off. If one
is ever added, it needs two admins, an audit row, an hourly alert to First Response while
it lasts and an end of its own (docs/security.md, "Pausing notifications"); these tests fail
until it has been thought through that way. The demo's mail catcher is the one place mail
does not leave the machine, and only on a loopback address."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from broker import cli
from console.app import create_app
from consumers.acknowledge import AckLinks
from consumers.deliver import DeliveryWorker
from foundations.database import transaction
from foundations.mailer import MemoryMailer
from foundations.models import Notification
from foundations.settings import Settings
from tests.deadlines import add_notification, add_schools, london
from tests.test_console_routes import routes_of

PAUSE_WORDS = re.compile(
    r"pause|suspend|maintenance|halt|mute|silence|snooze|freeze|hold[-_]?all|kill[-_]?switch|"
    r"(stop|no|disable|skip)[-_]?(send|deliver|notif|mail)|"
    r"(send|deliver|notif|mail|smtp|email)\w*[-_](enabled|disabled|off|paused)",
    re.IGNORECASE,
)
LINKS = AckLinks(b"s" * 32, "https://encompass.council.example", timedelta(days=14))


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    """Every command and option of ``encompass``, as "review approve --upn"."""
    for action in parser._actions:
        yield from (f"{prefix} {option}".strip() for option in action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}".strip()
                yield from subcommands(sub, f"{prefix} {name}")


def test_the_words_of_a_pause_are_recognised() -> None:
    for name in (
        "delivery_paused",
        "pause_delivery",
        "maintenance_mode",
        "notifications_enabled",
        "smtp_enabled",
        "suspend",
        "no-send",
        "disable_delivery",
        "mute_schools",
    ):
        assert PAUSE_WORDS.search(name), name
    for name in ("console_enabled", "four_eyes", "review_policy", "dlq replay --dry-run"):
        assert not PAUSE_WORDS.search(name), name


def test_no_setting_is_a_switch_to_stop_sending() -> None:
    for name, info in Settings.model_fields.items():
        assert not PAUSE_WORDS.search(name), name
        assert not PAUSE_WORDS.search(info.description or ""), name


def test_no_command_or_option_pauses_notifications() -> None:
    names = list(subcommands(cli.parser()))
    assert "review approve" in names and "dlq replay --dry-run" in names  # the walk works
    assert [n for n in names if PAUSE_WORDS.search(n)] == []


def test_no_console_page_or_api_call_pauses_notifications(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="k" * 32), sessionmaker())
    paths = [path for _, path in routes_of(app.routes)]  # the API's too
    assert "/queue" in paths and "/api/queue" in paths
    assert [p for p in paths if PAUSE_WORDS.search(p)] == []


def on_off_settings() -> list[tuple[str, bool]]:
    """Every true/false setting, each way: whatever is added later is tried too."""
    flags = [
        name
        for name, info in Settings.model_fields.items()
        if info.annotation in (bool, bool | None)
    ]
    assert {"console_enabled", "four_eyes", "structured_account_fallback"} <= set(flags)
    return [(name, value) for name in flags for value in (True, False)]


@pytest.mark.parametrize(("flag", "value"), on_off_settings())
async def test_no_true_false_setting_turns_delivery_off(
    sessions: sessionmaker[Session], flag: str, value: bool
) -> None:
    add_schools(sessions)
    nid = add_notification(
        sessions, "N-approved", status="approved", deliver_by=london("2026-11-23 08:30")
    )
    # Constructed without validation: a flag's cross-checks are not what is tried here.
    values: dict[str, Any] = {**Settings().model_dump(), flag: value}
    settings = Settings.model_construct(**values)
    mailer = MemoryMailer()
    worker = DeliveryWorker(settings, sessions, mailer, LINKS)
    assert await worker.run_once() == 1
    assert len(mailer.messages) == 1
    with transaction(sessions) as s:
        n = s.get(Notification, nid)
        assert n is not None and n.status == "sent"


BOUNDED = {
    "delivery_poll_s": 60,
    "delivery_backoff_s": 600,
    "delivery_lease_s": 3600,
    "smtp_timeout_s": 300,
    "escalation_poll_s": 3600,
    "escalate_before_deadline_min": 24 * 60,
    "remind_after_deadline_min": 24 * 60,
    "escalation_step_min": 24 * 60,
    "late_delivery_grace_min": 120,
}


@pytest.mark.parametrize(("name", "limit"), sorted(BOUNDED.items()))
def test_no_timing_can_be_set_so_long_that_sending_or_chasing_stops(name: str, limit: int) -> None:
    Settings(**{name: limit})
    for value in (limit * 2, 10**9):
        with pytest.raises(ValidationError, match=name):
            Settings(**{name: value})
