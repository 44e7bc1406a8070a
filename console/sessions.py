"""Server-side sessions of the console: one ``console_sessions`` row per sign-in.

The cookie carries a random token (and the CSRF token, signed by ``console.auth``); the
row is found by the token's SHA-256 and checked on every request, pages and API alike. A
session ends when its row says so: at sign-out, on "sign out everywhere", when the password
changes or the account is disabled, after the idle timeout, and at its absolute expiry.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from broker.settings import Settings
from broker.store import ConsoleSession

# A sign-in waiting for its second factor (or for the account to set one up) lasts this
# long at most.
PENDING_MINUTES = 10
# last_seen_at is written at most this often, not on every request.
TOUCH_EVERY = timedelta(seconds=60)


class Level(StrEnum):
    FULL = "full"
    MFA = "mfa"  # the password was right; the second factor is due
    ENROL = "enrol"  # the account must set up a second factor first


class Ended(StrEnum):
    SIGNED_OUT = "signed_out"
    EVERYWHERE = "signed_out_everywhere"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105  (a reason, not a password)
    DISABLED = "account_disabled"
    MFA_RESET = "mfa_reset"
    STEPPED_UP = "second_factor_done"  # replaced by a new full session


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(
    session: Session,
    settings: Settings,
    username: str,
    *,
    level: Level,
    now: datetime,
    mfa: str | None = None,
) -> str:
    """A new session for ``username``; returns its token (for the cookie only)."""
    token = secrets.token_urlsafe(32)
    lifetime = (
        timedelta(hours=settings.console_session_max_hours)
        if level is Level.FULL
        else timedelta(minutes=PENDING_MINUTES)
    )
    session.add(
        ConsoleSession(
            id=token_hash(token),
            username=username,
            level=level.value,
            mfa=mfa,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def find(
    session: Session, settings: Settings, token: str, *, now: datetime
) -> ConsoleSession | None:
    """The live session for ``token``, or None: unknown, ended, expired or idle too long."""
    if not token or len(token) > 200:
        return None
    row = session.get(ConsoleSession, token_hash(token))
    if row is None or row.ended_at is not None or now >= row.expires_at:
        return None
    idle = timedelta(minutes=settings.console_session_idle_min)
    if now - row.last_seen_at > idle:
        return None
    if now - row.last_seen_at >= min(TOUCH_EVERY, idle / 10):
        row.last_seen_at = now
    return row


def end(session: Session, row: ConsoleSession, *, why: Ended, now: datetime) -> None:
    if row.ended_at is None:
        row.ended_at, row.ended_why, row.enrol_secret = now, why.value, None


def end_all(session: Session, username: str, *, why: Ended, now: datetime, actor: str) -> int:
    """End every open session of ``username``; audited (``sessions_ended``) with the count."""
    done = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.username == username, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now, ended_why=why.value, enrol_secret=None)
        .execution_options(synchronize_session=False)
    )
    count = int(done.rowcount or 0)  # type: ignore[attr-defined]
    for loaded in list(session.identity_map.values()):  # rows already loaded: reread them
        if isinstance(loaded, ConsoleSession) and loaded.username == username:
            session.expire(loaded)
    record(
        session,
        AuditAction.SESSIONS_ENDED,
        actor=actor,
        details={"user": username, "why": why.value, "sessions": count},
    )
    return count


def open_count(session: Session, username: str, *, now: datetime) -> int:
    found = session.execute(
        select(func.count())
        .select_from(ConsoleSession)
        .where(
            ConsoleSession.username == username,
            ConsoleSession.ended_at.is_(None),
            ConsoleSession.expires_at > now,
        )
    ).scalar_one()
    return int(found)


def prune(session: Session, *, now: datetime, keep_days: int = 30) -> int:
    """Delete session rows that ended or expired more than ``keep_days`` ago."""
    cutoff = now - timedelta(days=keep_days)
    done = session.execute(
        delete(ConsoleSession).where(
            or_(ConsoleSession.expires_at < cutoff, ConsoleSession.ended_at < cutoff)
        )
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
