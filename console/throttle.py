"""Sign-in throttling that concurrent guesses cannot race, and the client's address.

Each key (an account, a client address, an account's second factor: a SHA-256 of it) is one
``console_sign_in_throttle`` row. An attempt first *charges* its keys in a short
transaction of its own: an upsert takes the row's lock (PostgreSQL's row lock, SQLite's
write lock), the count is read under that lock, and either the attempt is refused or the
failure is counted in advance, committed before any password is checked. So with a limit
of five, thirty concurrent guesses check at most five passwords. A success then clears
the account's count and gives the address its charge back.

- **Accounts** get growing delays, not a lock-out: after ``login_max_failures`` failures in
  a row, the next attempt must wait ``login_delay_base_s``, then twice that, and so on up
  to ``login_delay_max_s``. Whoever knows a username can slow that account, never shut it.
- **Addresses** are a second line: ``login_address_max_failures`` failures within
  ``login_window_min`` refuse that address until the window has passed.
- The address is the peer's, or, when the peer is one of ``ENCOMPASS_TRUSTED_PROXIES``,
  the first address in ``X-Forwarded-For`` (from the right) that is not a trusted proxy:
  a header sent by anyone else is ignored, so nobody picks their own throttling key.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Table, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from starlette.requests import Request

from broker.settings import Settings
from broker.store import SignInThrottle

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Throttled(Exception):
    """Too many failed attempts for this account, second factor or address: wait."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"wait {wait_s:.0f} s")
        self.wait_s = max(1, math.ceil(wait_s))

    @property
    def in_words(self) -> str:
        if self.wait_s < 90:
            return f"{self.wait_s} seconds"
        return f"{math.ceil(self.wait_s / 60)} minutes"


class Kind(StrEnum):
    ACCOUNT = "user"  # growing delays
    SECOND_FACTOR = "mfa"  # growing delays
    ADDRESS = "addr"  # a fixed window


@dataclass(frozen=True)
class Key:
    kind: Kind
    value: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.kind.value}\x1f{self.value.casefold()}".encode()).hexdigest()


def client_address(request: Request, settings: Settings) -> str:
    """The client's address for throttling: X-Forwarded-For only from trusted proxies."""
    peer = request.client.host if request.client else "-"
    trusted = settings.trusted_proxy_networks
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for line in request.headers.getlist("x-forwarded-for")
        for hop in line.split(",")
        if hop.strip()
    ]
    nearest = peer
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return nearest  # not written by a trusted proxy: stop at the last that was
        if not _within(str(address), trusted):
            return str(address)
        nearest = str(address)
    return nearest


def _within(host: str, networks: Sequence[Network]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in networks)


def _lock(session: Session, key: Key, now: datetime) -> SignInThrottle:
    """The key's row, made if missing, locked until this transaction ends."""
    table = SignInThrottle.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(key=key.digest, failures=0, window_start=now, updated_at=now)
    # A no-op update on conflict: it is what takes the row's lock.
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.key], set_={"key": statement.excluded.key}
    )
    session.execute(statement)
    row = session.get(SignInThrottle, key.digest, populate_existing=True)
    assert row is not None
    return row


def _delay(settings: Settings, failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row (0 while some are still free)."""
    over = failures - settings.login_max_failures
    if over < 0:
        return 0.0
    return float(min(settings.login_delay_max_s, settings.login_delay_base_s * 2 ** min(over, 30)))


def charge(session: Session, settings: Settings, keys: Sequence[Key], *, now: datetime) -> None:
    """Count this attempt as a failure in advance for every key, or raise ``Throttled``
    (counting nothing). Run it in a transaction of its own, committed before the check."""
    rows = [(key, _lock(session, key, now)) for key in sorted(keys, key=lambda k: k.digest)]
    waits = [_wait(settings, key, row, now) for key, row in rows]
    if any(waits):
        raise Throttled(max(waits))
    for key, row in rows:
        row.failures += 1
        row.last_failure_at = row.updated_at = now
        if key.kind is not Kind.ADDRESS:
            pause = _delay(settings, row.failures)
            row.blocked_until = now + timedelta(seconds=pause) if pause else None


def _wait(settings: Settings, key: Key, row: SignInThrottle, now: datetime) -> float:
    if key.kind is Kind.ADDRESS:
        window = timedelta(minutes=settings.login_window_min)
        if now - row.window_start >= window:
            row.failures, row.window_start = 0, now
        if row.failures >= settings.login_address_max_failures:
            return (row.window_start + window - now).total_seconds()
        return 0.0
    kept = timedelta(hours=settings.login_failures_kept_h)
    if row.last_failure_at is not None and now - row.last_failure_at >= kept:
        row.failures, row.blocked_until = 0, None
    if row.blocked_until is not None and now < row.blocked_until:
        return (row.blocked_until - now).total_seconds()
    return 0.0


def succeeded(session: Session, keys: Sequence[Key], *, now: datetime) -> None:
    """The attempt was right: an account's (or second factor's) count starts again; an
    address gets back the failure charged in advance."""
    for key in keys:
        if key.kind is Kind.ADDRESS:
            session.execute(
                update(SignInThrottle)
                .where(SignInThrottle.key == key.digest, SignInThrottle.failures > 0)
                .values(failures=SignInThrottle.failures - 1, updated_at=now)
            )
        else:
            session.execute(
                update(SignInThrottle)
                .where(SignInThrottle.key == key.digest)
                .values(failures=0, blocked_until=None, last_failure_at=None, updated_at=now)
            )


def prune(session: Session, settings: Settings, *, now: datetime) -> int:
    """Forget keys untouched for longer than anything counts them."""
    cutoff = now - max(
        timedelta(hours=settings.login_failures_kept_h),
        timedelta(minutes=settings.login_window_min),
        timedelta(seconds=settings.login_delay_max_s),
    )
    done = session.execute(delete(SignInThrottle).where(SignInThrottle.updated_at < cutoff))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
