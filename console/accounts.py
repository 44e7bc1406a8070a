"""Console accounts: local users with argon2 password hashes and one role each, and the
sign-in throttle. ``encompass users add`` and the sign-in page both come through here."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from audit.ledger import AuditAction, record
from broker.settings import Settings
from broker.store import ConsoleUser, SignInFailure

_HASHER = PasswordHasher()  # argon2id, the library's current recommended parameters
# Verified against when the account does not exist, so both cases take as long.
_DUMMY_HASH = _HASHER.hash("not a password anyone has")
MIN_PASSWORD = 12


class Role(StrEnum):
    REVIEWER = "reviewer"  # works the queue: claim, edit, approve, reject, re-match
    AUDITOR = "auditor"  # reads the audit pages; cannot act on notifications
    ADMIN = "admin"  # both, and the demo mail page


REVIEWERS = frozenset({Role.REVIEWER, Role.ADMIN})
AUDITORS = frozenset({Role.AUDITOR, Role.ADMIN})


class AccountError(ValueError):
    """An account that cannot be added, in plain words."""


class Throttled(Exception):
    """Too many failed sign-ins for this account or address: wait for the window."""


def add_user(
    session: Session, username: str, role: str, password: str | None, *, actor: str
) -> ConsoleUser:
    """Add (or reset) a local account. The password is stored only as an argon2 hash."""
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
    if user is None:
        user = ConsoleUser(username=name, role=chosen.value, active=True)
        session.add(user)
    user.role, user.active = chosen.value, True
    user.password_hash = _HASHER.hash(password) if password is not None else None
    session.flush()
    record(session, AuditAction.USER_ADDED, actor=actor, details={"user": name, "role": role})
    return user


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\x1f{value.casefold()}".encode()).hexdigest()


def _failures(session: Session, key: str, since: datetime) -> int:
    found = session.execute(
        select(func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.key == key, SignInFailure.at >= since)
    ).scalar_one()
    return int(found)


def authenticate(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    *,
    address: str,
    now: datetime,
) -> ConsoleUser | None:
    """The account, if the password is right and neither the account nor the address has
    failed too often within the window (then ``Throttled``, before any hash is checked).
    Each outcome is audited; the password never is."""
    name = username.strip()
    if "\x00" in name or len(name) > 100:  # cannot be an account: fail like a wrong password
        name = "-"
    keys = (_key("user", name), _key("addr", address))
    since = now - timedelta(minutes=settings.login_window_min)
    if any(_failures(session, k, since) >= settings.login_max_failures for k in keys):
        raise Throttled
    user = session.get(ConsoleUser, name) if name else None
    try:
        _HASHER.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        ok = user is not None and user.active and user.password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None:
        session.add_all([SignInFailure(key=k, at=now) for k in keys])
        record(
            session,
            AuditAction.SIGN_IN_FAILED,
            actor=f"console:{name[:60] or '-'}",
            details={"known_account": user is not None},
        )
        return None
    session.execute(delete(SignInFailure).where(SignInFailure.key == keys[0]))
    if user.password_hash and _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    record(session, AuditAction.SIGNED_IN, actor=f"console:{name}", details={"role": user.role})
    return user
