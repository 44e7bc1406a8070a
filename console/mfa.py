"""Multi-factor sign-in: TOTP (RFC 6238, 30-second steps, six digits, SHA-1 as every
authenticator app expects) with single-use recovery codes.

- Required for admins and auditors, and for reviewers with ``ENCOMPASS_CONSOLE_MFA_REVIEWERS``;
  anyone who has set it up is asked for it whatever their role.
- The secret is stored encrypted (an ``EncryptedText`` column, the data key); a secret being
  set up waits, encrypted too, on the session row until its first code is confirmed.
- A code is accepted for its own step and one either side (clock drift), and never twice:
  the step accepted is recorded with a conditional update, so a replay within its window,
  even concurrent, fails.
- Recovery codes: ten, 80 random bits each, shown once, kept as SHA-256, each spent by a
  conditional update (single use).
- Attempts go through the same atomic throttle as passwords (``console.throttle``), on the
  account's second-factor key.
"""

from __future__ import annotations

import hashlib
import io
import re
import secrets
from datetime import datetime
from enum import StrEnum

import pyotp
from sqlalchemy import delete, func, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from audit.ledger import AuditAction, record
from console import sessions as console_sessions
from console import throttle
from console.throttle import Kind
from foundations.crypto import InRow, row_name
from foundations.database import transaction
from foundations.models import ConsoleUser, RecoveryCode
from foundations.settings import Settings

ISSUER = "Operation Encompass"
RECOVERY_CODES = 10
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TOTP_CODE = re.compile(r"\d{6}")
_RECOVERY_CODE = re.compile(r"[A-Z2-7]{16}")


class Factor(StrEnum):
    TOTP = "totp"
    RECOVERY = "recovery_code"
    PROVIDER = "provider"  # the OIDC provider said it asked for a second factor


def required(settings: Settings, user: ConsoleUser) -> bool:
    """Must this account pass a second factor to sign in?"""
    if user.totp_secret is not None:
        return True
    return user.role in ("admin", "auditor") or (
        user.role == "reviewer" and settings.console_mfa_reviewers
    )


def new_secret() -> str:
    return pyotp.random_base32(length=32)  # 160 bits, as RFC 4226 recommends


def otpauth_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def grouped(secret: str) -> str:
    """The manual key as people type it: groups of four."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(uri: str) -> bytes:
    """The otpauth URI as a QR code (SVG), for the enrolment page."""
    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, border=4, title="QR code for your authenticator app"
    )
    return out.getvalue()


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code this is (now, or one step either side), or None."""
    code = re.sub(r"\s", "", code)
    if not _TOTP_CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    found = None
    for step in (current - 1, current, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


def _normalise_recovery(code: str) -> str:
    return re.sub(r"[\s-]", "", code).upper()


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(f"encompass recovery\x1f{code}".encode()).hexdigest()


def new_recovery_codes(session: Session, username: str, *, now: datetime) -> list[str]:
    """Ten fresh codes (the old ones stop working); returned once, kept only as hashes."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.username == username))
    codes = ["".join(secrets.choice(_BASE32) for _ in range(16)) for _ in range(RECOVERY_CODES)]
    session.add_all(
        RecoveryCode(username=username, code_sha256=_recovery_hash(c), created_at=now)
        for c in codes
    )
    return ["-".join(c[i : i + 4] for i in range(0, 16, 4)) for c in codes]


def recovery_codes_left(session: Session, username: str) -> int:
    found = session.execute(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.username == username, RecoveryCode.used_at.is_(None))
    ).scalar_one()
    return int(found)


def enrol(
    session: Session, username: str, secret: str, code: str, *, now: datetime, actor: str
) -> list[str] | None:
    """Set up TOTP once ``code`` proves the authenticator has ``secret``: returns the new
    recovery codes (to show once), or None if the code is not right."""
    step = matching_step(secret, code, now)
    if step is None:
        return None
    done = session.execute(  # only once: two tabs confirming at once set up one secret
        update(ConsoleUser)
        .where(ConsoleUser.username == username, ConsoleUser.totp_secret.is_(None))
        # the secret is bound to its account (foundations.crypto)
        .values(
            totp_secret=InRow(secret, row_name([username])),
            totp_enrolled_at=now,
            totp_last_step=step,
        )
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        return None
    loaded = session.identity_map.get(
        inspect(ConsoleUser).identity_key_from_primary_key((username,))
    )
    if loaded is not None:  # read again: the account now has its secret
        session.expire(loaded)
    codes = new_recovery_codes(session, username, now=now)
    record(session, AuditAction.MFA_ENROLLED, actor=actor,
           details={"user": username, "factor": Factor.TOTP.value,
                    "recovery_codes": len(codes)})  # fmt: skip
    return codes


def reset(session: Session, username: str, *, actor: str, now: datetime) -> None:
    """Forget the account's TOTP and recovery codes (a lost phone): it must set up a
    second factor again at its next sign-in; its sessions end."""
    user = session.get(ConsoleUser, username)
    if user is None:
        raise LookupError(username)
    user.totp_secret, user.totp_enrolled_at, user.totp_last_step = None, None, None
    session.execute(delete(RecoveryCode).where(RecoveryCode.username == username))
    record(session, AuditAction.MFA_RESET, actor=actor, details={"user": username})
    console_sessions.end_all(
        session, username, why=console_sessions.Ended.MFA_RESET, now=now, actor=actor
    )


def _accept(session: Session, user: ConsoleUser, code: str, now: datetime) -> Factor | None:
    """Spend ``code``: a TOTP code for a step later than the last one accepted, or an
    unused recovery code. Conditional updates, so a code is accepted at most once."""
    if user.totp_secret is None:
        return None
    step = matching_step(user.totp_secret, code, now)
    if step is not None:
        done = session.execute(
            update(ConsoleUser)
            .where(
                ConsoleUser.username == user.username,
                (ConsoleUser.totp_last_step.is_(None)) | (ConsoleUser.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        return Factor.TOTP if done.rowcount == 1 else None  # type: ignore[attr-defined]
    recovery = _normalise_recovery(code)
    if not _RECOVERY_CODE.fullmatch(recovery):
        return None
    done = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.username == user.username,
            RecoveryCode.code_sha256 == _recovery_hash(recovery),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return Factor.RECOVERY if done.rowcount == 1 else None  # type: ignore[attr-defined]


def check(
    sessions: sessionmaker[Session],
    settings: Settings,
    username: str,
    code: str,
    *,
    address: str,
    now: datetime,
) -> Factor | None:
    """The factor accepted for ``username``, or None (audited as a failed sign-in).
    ``Throttled`` before anything is checked when the account's second factor must wait."""
    keys = [throttle.Key(Kind.SECOND_FACTOR, username), throttle.Key(Kind.ADDRESS, address)]
    with transaction(sessions) as session:
        throttle.charge(session, settings, keys, now=now)
    with transaction(sessions) as session:
        user = session.get(ConsoleUser, username)
        factor = (
            _accept(session, user, code[:64], now) if user is not None and user.active else None
        )
        if factor is None:
            record(session, AuditAction.SIGN_IN_FAILED, actor=f"console:{username[:60]}",
                   details={"known_account": user is not None, "second_factor": True})  # fmt: skip
            return None
        throttle.succeeded(session, keys, now=now)
        if factor is Factor.RECOVERY:
            left = recovery_codes_left(session, username)
            record(session, AuditAction.MFA_RECOVERY_USED, actor=f"console:{username}",
                   details={"user": username, "left": left})  # fmt: skip
        return factor
