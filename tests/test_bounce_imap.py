"""Bounces from a mailbox (issue 18, item 2): ``encompass mail bounces --imap`` takes the unseen
reports of the bounce folder, each as the listener would, over TLS only; a report it cannot
take yet is left for the next run. The IMAP server is a fake with imaplib's answers."""

from __future__ import annotations

import imaplib
import os
import ssl
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from broker.bounce_imap import ImapProblem, connect, read_mailbox
from consumers.return_path import ReturnPaths
from foundations.database import transaction
from foundations.models import Bounce, Notification, NotificationStatus, notification_id
from foundations.settings import Settings
from tests.bounce_reports import dsn, out_of_office
from tests.deadlines import DSL, add_notification, add_schools, london

NID = notification_id("44-20261121-000123", 1, "c1", "100001")
PASSWORD = "imap password 1234"
IMAP_ERROR = imaplib.IMAP4.error


class FakeMailbox:
    """A folder of messages by UID with their flags, answering as ``imaplib.IMAP4`` does."""

    def __init__(self, messages: list[bytes], *, password: str = PASSWORD) -> None:
        self.messages = {str(uid).encode(): raw for uid, raw in enumerate(messages, 1)}
        self.seen: set[bytes] = set()
        self.password = password
        self.selected: str | None = None
        self.logged_out = False

    def login(self, user: str, password: str) -> tuple[str, list[bytes]]:
        if password != self.password:
            raise imaplib.IMAP4.error("[AUTHENTICATIONFAILED] Invalid credentials")
        return "OK", [b"Logged in"]

    def select(self, mailbox: str = "INBOX", readonly: bool = False) -> tuple[str, list[bytes]]:
        if mailbox != "Bounces":
            return "NO", [b"Mailbox doesn't exist"]
        self.selected = mailbox
        return "OK", [str(len(self.messages)).encode()]

    def uid(self, command: str, *args: Any) -> tuple[str, list[Any]]:
        assert self.selected, "a command before SELECT"
        if command == "SEARCH":
            assert args == (None, "UNSEEN")
            return "OK", [b" ".join(u for u in self.messages if u not in self.seen)]
        if command == "FETCH":
            uid, what = args
            assert what == "(BODY.PEEK[])"  # reading does not mark it seen
            header = b"%s (UID %s BODY[] {%d}" % (uid, uid, len(self.messages[uid]))
            return "OK", [(header, self.messages[uid]), b")"]
        if command == "STORE":
            uid, how, flags = args
            assert (how, flags) == ("+FLAGS", "(\\Seen)")
            self.seen.add(uid)
            return "OK", [b""]
        raise AssertionError(f"unexpected command {command}")

    def logout(self) -> tuple[str, list[bytes]]:
        self.logged_out = True
        return "BYE", [b""]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        secret_key="k" * 40,
        mail_from="encompass@council.example",
        bounce_address="bounces@council.example",
        bounce_imap_host="imap.council.example",
        bounce_imap_username="bounces@council.example",
        bounce_imap_password=PASSWORD,
        bounce_imap_folder="Bounces",
    )


@pytest.fixture
def paths(settings: Settings) -> ReturnPaths:
    made = ReturnPaths.from_settings(settings)
    assert made is not None
    return made


@pytest.fixture
def sent(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """A notification sent to the DSL of 100001 (who has a deputy)."""
    add_schools(sessions)
    due = london("2026-11-23 08:30")
    add_notification(sessions, NID, status="sent", deliver_by=due, sent_at=due, recipient=DSL)
    return sessions


def test_the_unseen_reports_are_taken_and_marked_seen(
    sent: sessionmaker[Session], settings: Settings, paths: ReturnPaths
) -> None:
    path = paths.for_notification(NID, DSL) or ""
    box = FakeMailbox([out_of_office(path), dsn(path, DSL), dsn("bounces+s1.aaaa@x.example", DSL)])
    counts = read_mailbox(settings, sent, paths, open_mailbox=lambda _s: box)
    assert counts == Counter({"ignored": 1, "permanent": 1, "forged": 1})
    assert box.seen == {b"1", b"2", b"3"} and box.logged_out
    with transaction(sent) as s:
        n = s.get(Notification, NID)
        assert n is not None and n.status == NotificationStatus.APPROVED  # for the deputy
        assert s.execute(select(Bounce.via, Bounce.recipient)).one() == ("imap", DSL)
    again = read_mailbox(settings, sent, paths, open_mailbox=lambda _s: box)
    assert again == Counter()


def test_a_report_that_cannot_be_taken_yet_is_left_for_the_next_run(
    sent: sessionmaker[Session], settings: Settings, paths: ReturnPaths
) -> None:
    with transaction(sent) as s:
        n = s.get(Notification, NID)
        assert n is not None
        n.status = NotificationStatus.SENDING  # its sending not yet recorded
    path = paths.for_notification(NID, DSL) or ""
    box = FakeMailbox([dsn(path, DSL)])
    assert read_mailbox(settings, sent, paths, open_mailbox=lambda _s: box) == {"later": 1}
    assert box.seen == set()


def test_a_refused_login_or_folder_is_one_clear_line_without_the_password(
    sent: sessionmaker[Session], settings: Settings, paths: ReturnPaths
) -> None:
    with pytest.raises(ImapProblem, match="login was refused") as refused:
        read_mailbox(settings, sent, paths, open_mailbox=lambda _s: FakeMailbox([], password="x"))
    assert PASSWORD not in str(refused.value)
    other = settings.model_copy(update={"bounce_imap_folder": "Nope"})
    with pytest.raises(ImapProblem, match="no folder 'Nope'"):
        read_mailbox(other, sent, paths, open_mailbox=lambda _s: FakeMailbox([]))


def test_the_mailbox_is_reached_over_verified_tls_only(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}

    class Implicit:
        def __init__(self, host: str, port: int, *, ssl_context: ssl.SSLContext, timeout: float):
            made.update(host=host, port=port, context=ssl_context)

    monkeypatch.setattr(imaplib, "IMAP4_SSL", Implicit)
    connect(settings)
    assert (made["host"], made["port"]) == ("imap.council.example", 993)
    assert made["context"].verify_mode is ssl.CERT_REQUIRED and made["context"].check_hostname

    class NoStartTls:
        closed = False

        def __init__(self, host: str, port: int, *, timeout: float) -> None: ...

        def starttls(self, ssl_context: ssl.SSLContext) -> None:
            raise IMAP_ERROR("STARTTLS not supported by server")

        def shutdown(self) -> None:
            NoStartTls.closed = True

    monkeypatch.setattr(imaplib, "IMAP4", NoStartTls)
    starttls = settings.model_copy(update={"bounce_imap_tls": "starttls", "bounce_imap_port": 143})
    with pytest.raises(IMAP_ERROR):
        connect(starttls)  # never logs in over plaintext
    assert NoStartTls.closed


def test_the_command_takes_reports_from_files_and_needs_a_bounce_address(
    tmp_path: Path,
) -> None:
    report = tmp_path / "bounce.eml"
    report.write_bytes(dsn("bounces+n0123.abcd.aaaaaaaaaaaaaaaa@council.example", DSL))
    base = {k: v for k, v in os.environ.items() if not k.startswith("ENCOMPASS_")}
    env = base | {
        "ENCOMPASS_DATA_DIR": str(tmp_path),
        "ENCOMPASS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }

    def encompass(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "broker.cli", "mail", "bounces", *args],
            env=env | more, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    unset = encompass("--file", str(report))
    assert unset.returncode == 2 and "ENCOMPASS_BOUNCE_ADDRESS" in unset.stderr
    done = encompass("--file", str(report), ENCOMPASS_BOUNCE_ADDRESS="bounces@council.example")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Reports taken: 1 forged"  # no such e-mail was sent
    no_mailbox = encompass("--imap", ENCOMPASS_BOUNCE_ADDRESS="bounces@council.example")
    assert no_mailbox.returncode == 1 and "ENCOMPASS_BOUNCE_IMAP_USERNAME" in no_mailbox.stderr
