"""console: server-side sessions, throttling by account, multi-factor sign-in

Sessions become rows (``console_sessions``), so that signing out, "sign out everywhere",
a password change or a disabled account ends them at once; cookies issued before this
revision name no session and are refused (everyone signs in again). The sign-in throttle
becomes one locked row per key (``console_sign_in_throttle``); the old failure rows are
dropped. Accounts gain a TOTP secret (encrypted) with single-use recovery codes, and OIDC
accounts their issuer and subject.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import broker.database

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("oidc_issuer", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("totp_secret", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("totp_enrolled_at", broker.database.UtcDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(
            "uq_console_users_oidc", ["oidc_issuer", "oidc_subject"]
        )

    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("mfa", sa.String(length=16), nullable=True),
        sa.Column("created_at", broker.database.UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", broker.database.UtcDateTime(), nullable=False),
        sa.Column("expires_at", broker.database.UtcDateTime(), nullable=False),
        sa.Column("ended_at", broker.database.UtcDateTime(), nullable=True),
        sa.Column("ended_why", sa.String(length=32), nullable=True),
        sa.Column("enrol_secret", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["username"], ["console_users.username"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_username"), ["username"])
        batch_op.create_index(batch_op.f("ix_console_sessions_expires_at"), ["expires_at"])

    op.create_table(
        "console_sign_in_throttle",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", broker.database.UtcDateTime(), nullable=False),
        sa.Column("last_failure_at", broker.database.UtcDateTime(), nullable=True),
        sa.Column("blocked_until", broker.database.UtcDateTime(), nullable=True),
        sa.Column("updated_at", broker.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("console_sign_in_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sign_in_throttle_updated_at"), ["updated_at"])

    op.create_table(
        "console_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", broker.database.UtcDateTime(), nullable=False),
        sa.Column("used_at", broker.database.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["username"], ["console_users.username"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_recovery_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_recovery_codes_username"), ["username"])

    with op.batch_alter_table("console_sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sign_in_failures_at"))
        batch_op.drop_index(batch_op.f("ix_console_sign_in_failures_key"))
    op.drop_table("console_sign_in_failures")


def downgrade() -> None:
    op.create_table(
        "console_sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", broker.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sign_in_failures_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_sign_in_failures_at"), ["at"], unique=False)

    with op.batch_alter_table("console_recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_recovery_codes_username"))
    op.drop_table("console_recovery_codes")
    with op.batch_alter_table("console_sign_in_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sign_in_throttle_updated_at"))
    op.drop_table("console_sign_in_throttle")
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_console_sessions_username"))
    op.drop_table("console_sessions")

    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_console_users_oidc", type_="unique")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enrolled_at")
        batch_op.drop_column("totp_secret")
        batch_op.drop_column("oidc_subject")
        batch_op.drop_column("oidc_issuer")
