"""console: reviewers' claims, edits and four eyes on notifications; console accounts and
the sign-in throttle

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_claimed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(
            sa.Column("review_claimed_until", foundations.database.UtcDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("edited_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("first_approved_by", sa.String(length=100), nullable=True))

    op.create_table(
        "console_users",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", foundations.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "console_sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", foundations.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("console_sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sign_in_failures_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_console_sign_in_failures_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sign_in_failures_at"))
        batch_op.drop_index(batch_op.f("ix_console_sign_in_failures_key"))
    op.drop_table("console_sign_in_failures")
    op.drop_table("console_users")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("first_approved_by")
        batch_op.drop_column("edited_by")
        batch_op.drop_column("review_claimed_until")
        batch_op.drop_column("review_claimed_by")
