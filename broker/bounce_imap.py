"""Bounces from a mailbox, for councils that cannot route mail to the bounce listener:
``encompass mail bounces --imap`` reads the unseen messages of ``ENCOMPASS_BOUNCE_IMAP_FOLDER``
and takes each as the listener would (consumers/bounces.py), one transaction each.

The connection is TLS, always, with the server's certificate and host name verified
(implicit TLS on 993, or STARTTLS): the password and the reports never cross in clear. A
message taken (or that is no report of ours) is marked ``\\Seen``, so the next run skips it;
one about an e-mail still being recorded as sent is left unseen, for the next run. The
standard library's ``imaplib`` is enough: the command is a process of its own, with no event
loop to hold up (run it from cron or a Kubernetes CronJob). A run takes at most ``limit``
messages.
"""

from __future__ import annotations

import contextlib
import imaplib
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session, sessionmaker

from consumers import bounces
from consumers.return_path import ReturnPaths
from foundations.clock import utcnow
from foundations.database import transaction
from foundations.mailer import make_tls_context
from foundations.settings import Settings

log = structlog.get_logger(__name__)

TIMEOUT_S = 60.0


class ImapProblem(Exception):
    """The mailbox could not be read; the text names the server, never the password."""


class Mailbox(Protocol):
    """What is used of ``imaplib.IMAP4`` (tests pass a fake)."""

    def login(self, user: str, password: str) -> Any: ...

    def select(self, mailbox: str = ..., readonly: bool = ...) -> Any: ...

    def uid(self, command: str, *args: Any) -> Any: ...

    def logout(self) -> Any: ...


Connect = Callable[[Settings], Mailbox]


def connect(settings: Settings) -> Mailbox:
    """A TLS connection to the settings' IMAP server, not yet logged in."""
    host = settings.bounce_imap_host
    if not host:
        raise ImapProblem("ENCOMPASS_BOUNCE_IMAP_HOST is not set")
    ca_file = str(settings.bounce_imap_ca_file) if settings.bounce_imap_ca_file else None
    context = make_tls_context(ca_file)
    port = settings.bounce_imap_port
    if settings.bounce_imap_tls == "implicit":
        return imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=TIMEOUT_S)
    conn = imaplib.IMAP4(host, port, timeout=TIMEOUT_S)
    try:
        conn.starttls(ssl_context=context)  # refused or failed: never goes on in clear
    except Exception:
        conn.shutdown()
        raise
    return conn


def read_mailbox(
    settings: Settings,
    sessions: sessionmaker[Session],
    paths: ReturnPaths,
    *,
    open_mailbox: Connect = connect,
    limit: int = 500,
) -> Counter[str]:
    """Take the folder's unseen reports; returns how many of each outcome."""
    where = f"{settings.bounce_imap_host}:{settings.bounce_imap_port}"
    if not settings.bounce_imap_username or settings.bounce_imap_password is None:
        raise ImapProblem("ENCOMPASS_BOUNCE_IMAP_USERNAME and _PASSWORD must be set")
    counts: Counter[str] = Counter()
    try:
        box = open_mailbox(settings)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapProblem(f"{where}: cannot connect over TLS ({type(exc).__name__})") from None
    try:
        password = settings.bounce_imap_password.get_secret_value()
        try:
            box.login(settings.bounce_imap_username, password)
        except imaplib.IMAP4.error:
            raise ImapProblem(f"{where}: the login was refused") from None
        status, _ = box.select(settings.bounce_imap_folder)
        if status != "OK":
            raise ImapProblem(f"{where}: no folder {settings.bounce_imap_folder!r}")
        status, found = box.uid("SEARCH", None, "UNSEEN")
        uids = found[0].split() if status == "OK" and found and found[0] else []
        for uid in uids[:limit]:
            raw = _fetch(box, uid)
            if raw is None:
                continue
            with transaction(sessions) as session:
                taken = bounces.take(session, settings, paths, raw, via="imap", now=utcnow())
            counts[taken.outcome.value] += 1
            if taken.outcome is not bounces.Outcome.LATER:
                box.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapProblem(f"{where}: the connection failed ({type(exc).__name__})") from None
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            box.logout()
    log.info("bounce_mailbox_read", **counts)
    return counts


def _fetch(box: Mailbox, uid: bytes) -> bytes | None:
    """The message as stored (BODY.PEEK: fetching does not mark it seen)."""
    status, data = box.uid("FETCH", uid, "(BODY.PEEK[])")
    if status != "OK":
        return None
    for item in data or []:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None
