"""The console's accounts, sessions, sign-in throttle and recovery codes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from foundations.clock import utcnow
from foundations.crypto import EncryptedText, bound_to
from foundations.database import Base, UtcDateTime


class ConsoleUser(Base):
    """A local account of the console (``encompass users add``): argon2 hash, one role.
    Accounts signed in by OpenID Connect have no password hash; they are named by their
    provider's issuer and subject identifier (``sub``), never by a name the provider may
    give to someone else later."""

    __tablename__ = "console_users"
    __table_args__ = (
        UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_console_users_oidc"),
        bound_to("username"),  # the TOTP secret is bound to its account (foundations.crypto)
    )

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # reviewer | auditor | admin
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The councils whose notifications this account sees and acts on, comma separated LA
    # codes (foundations/councils.py). In a deployment of several councils an account with
    # none sees nothing; in a single-council one it is not used.
    councils: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    oidc_issuer: Mapped[str | None] = mapped_column(String(255), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Multi-factor sign-in (console/mfa.py): the TOTP secret, encrypted at rest, and the
    # last time step accepted, so that no code is accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ConsoleSession(Base):
    """One sign-in to the console (console/sessions.py). The cookie carries a random token;
    only its SHA-256 is kept here, so a copy of the database opens no session. A session
    ends at sign-out, on "sign out everywhere", a password change or a disabled account,
    after the idle timeout, and at its absolute expiry, whichever comes first."""

    __tablename__ = "console_sessions"
    __table_args__ = bound_to("id")  # the secret being set up, bound to its session

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    username: Mapped[str] = mapped_column(ForeignKey("console_users.username"), index=True)
    # full | mfa (the password was right, the second factor is due) | enrol (the account
    # must set up a second factor before anything else)
    level: Mapped[str] = mapped_column(String(8))
    mfa: Mapped[str | None] = mapped_column(String(16), nullable=True)  # how, when done
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    ended_why: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # A TOTP secret offered during enrolment, until its first code is confirmed.
    enrol_secret: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)


class SignInThrottle(Base):
    """Failed sign-ins by account, by address and by second factor, one row per key (a hash
    of it): the row is locked while an attempt is counted, so concurrent guesses cannot
    read the same count (console/throttle.py). Never the password tried."""

    __tablename__ = "console_sign_in_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    blocked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class RecoveryCode(Base):
    """A single-use recovery code for when the authenticator is lost: SHA-256 only (each
    code has 80 random bits), never the code."""

    __tablename__ = "console_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("console_users.username"), index=True)
    code_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
