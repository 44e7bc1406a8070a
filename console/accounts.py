"""Console accounts: local users with argon2 password hashes and one role each, checked
through the sign-in throttle (``console.throttle``). ``encompass users ...`` and the
sign-in page both come through here. Whatever changes who may sign in (a new password,
a new role, disabling) ends the account's sessions at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from console import sessions as console_sessions
from console import throttle
from console.throttle import Kind, Throttled
from foundations.clock import utcnow
from foundations.council_scope import parse_la_codes, stored_la_codes
from foundations.database import transaction
from foundations.models import ConsoleSession, ConsoleUser, RecoveryCode
from foundations.settings import Settings

__all__ = [
    "MIN_PASSWORD",
    "AccountError",
    "Role",
    "Throttled",
    "add_user",
    "authenticate",
    "set_councils",
]

_HASHER = PasswordHasher()  # argon2id, the library's current recommended parameters
# Verified against when the account does not exist, so both cases take as long.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")
MIN_PASSWORD = 12


class Role(StrEnum):
    REVIEWER = "reviewer"  # works the queue: claim, edit, approve, reject, re-match
    AUDITOR = "auditor"  # reads the audit pages; cannot act on notifications
    ADMIN = "admin"  # both, and the demo mail page


class AccountError(ValueError):
    """An account that cannot be added, in plain words."""


def add_user(
    session: Session,
    username: str,
    role: str,
    password: str | None,
    *,
    actor: str,
    councils: str | None = None,
) -> ConsoleUser:
    """Add (or reset) a local account. The password is stored only as an argon2 hash.
    ``councils``: the LA codes whose notifications it sees, comma separated (a deployment
    of several councils, docs/councils.md); None keeps an existing account's."""
    codes = council_codes(councils) if councils is not None else None
    name = username.strip()
    if not name or len(name) > 100 or any(ch.isspace() for ch in name):
        raise AccountError("a username is 1-100 characters without spaces")
    try:
        chosen = Role(role)
    except ValueError:
        raise AccountError(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    user = session.get(ConsoleUser, name)
    existed = user is not None
    if user is None:
        user = ConsoleUser(username=name, role=chosen.value, active=True)
        session.add(user)
    user.role, user.active = chosen.value, True
    user.password_hash = _HASHER.hash(password) if password is not None else None
    if codes is not None:
        user.councils = ",".join(codes)
    session.flush()
    details = {"user": name, "role": role}
    if user.councils:
        details["councils"] = user.councils
    record(session, AuditAction.USER_ADDED, actor=actor, details=details)
    if existed:  # a reset: sessions opened with the old password (or role) end now
        console_sessions.end_all(
            session, name, why=console_sessions.Ended.PASSWORD_CHANGED, now=utcnow(), actor=actor
        )
    return user


def set_active(session: Session, username: str, active: bool, *, actor: str) -> ConsoleUser:
    """Disable an account (its sessions end at once) or enable it again; audited."""
    user = session.get(ConsoleUser, username)
    if user is None:
        raise AccountError(f"no account {username!r}")
    user.active = active
    action = AuditAction.USER_ENABLED if active else AuditAction.USER_DISABLED
    record(session, action, actor=actor, details={"user": username})
    if not active:
        console_sessions.end_all(
            session, username, why=console_sessions.Ended.DISABLED, now=utcnow(), actor=actor
        )
    return user


def council_codes(text: str) -> tuple[str, ...]:
    """``850,851`` as LA codes; ``AccountError`` for anything else."""
    try:
        codes = parse_la_codes(text)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    if len(",".join(codes)) > 200:
        raise AccountError("too many councils for one account")
    return codes


def set_councils(session: Session, username: str, councils: str, *, actor: str) -> ConsoleUser:
    """The councils whose notifications an account sees and acts on (docs/councils.md);
    audited. It takes effect on the account's next request: the scope is read with the
    account on every one."""
    codes = council_codes(councils)
    user = session.get(ConsoleUser, username)
    if user is None:
        raise AccountError(f"no account {username!r}")
    before = user.councils
    user.councils = ",".join(codes)
    record(session, AuditAction.USER_COUNCILS_SET, actor=actor,
           details={"user": username, "before": before, "after": user.councils})  # fmt: skip
    return user


def sign_out_everywhere(session: Session, username: str, *, actor: str, now: datetime) -> int:
    if session.get(ConsoleUser, username) is None:
        raise AccountError(f"no account {username!r}")
    return console_sessions.end_all(
        session, username, why=console_sessions.Ended.EVERYWHERE, now=now, actor=actor
    )


@dataclass(frozen=True)
class AccountSummary:
    username: str
    role: str
    active: bool
    kind: str  # local | oidc
    councils: str  # comma-separated LA codes (docs/councils.md); "" none
    mfa: bool
    recovery_codes_left: int
    open_sessions: int


def list_users(session: Session, *, now: datetime) -> list[AccountSummary]:
    users = session.execute(select(ConsoleUser).order_by(ConsoleUser.username)).scalars()
    live = dict(
        session.execute(
            select(ConsoleSession.username, func.count())
            .where(ConsoleSession.ended_at.is_(None), ConsoleSession.expires_at > now)
            .group_by(ConsoleSession.username)
        ).all()
    )
    codes = dict(
        session.execute(
            select(RecoveryCode.username, func.count())
            .where(RecoveryCode.used_at.is_(None))
            .group_by(RecoveryCode.username)
        ).all()
    )
    return [
        AccountSummary(
            username=u.username,
            role=u.role,
            active=u.active,
            kind="oidc" if u.oidc_subject or u.username.startswith("oidc:") else "local",
            councils=",".join(stored_la_codes(u.councils)),
            mfa=u.totp_secret is not None,
            recovery_codes_left=int(codes.get(u.username, 0)),
            open_sessions=int(live.get(u.username, 0)),
        )
        for u in users
    ]


def _name(username: str) -> str:
    name = username.strip()
    if "\x00" in name or len(name) > 100:  # cannot be an account: fail like a wrong password
        return "-"
    return name


def authenticate(
    sessions: sessionmaker[Session],
    settings: Settings,
    username: str,
    password: str,
    *,
    address: str,
    now: datetime,
) -> ConsoleUser | None:
    """The account, if the password is right; None if not. ``Throttled`` (before any hash
    is checked) when the account must still wait or the address has failed too often.

    The attempt is counted first, in a transaction of its own committed before the hash is
    checked (``throttle.charge``), so concurrent guesses cannot all read the same count.
    Each outcome is audited; the password never is."""
    name = _name(username)
    keys = [throttle.Key(Kind.ACCOUNT, name), throttle.Key(Kind.ADDRESS, address)]
    with transaction(sessions) as session:
        throttle.charge(session, settings, keys, now=now)
        user = session.get(ConsoleUser, name) if name else None
        stored = user.password_hash if user is not None else None
    try:
        _HASHER.verify(stored or _DUMMY_HASH, password)
        ok = user is not None and user.active and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    with transaction(sessions) as session:
        if not ok or user is None:
            record(
                session,
                AuditAction.SIGN_IN_FAILED,
                actor=f"console:{name[:60] or '-'}",
                details={"known_account": user is not None},
            )
            return None
        throttle.succeeded(session, keys, now=now)
        user = session.get(ConsoleUser, name)
        if user is None or not user.active:  # disabled while the hash was checked
            return None
        if user.password_hash and _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = _HASHER.hash(password)
        return user
