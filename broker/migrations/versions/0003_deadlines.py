"""deadlines: acknowledgement and escalation

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late_at", foundations.database.UtcDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("acknowledged_at", foundations.database.UtcDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("acknowledged_by", sa.String(length=100), nullable=True))

    op.create_table(
        "escalation_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("due_at", foundations.database.UtcDateTime(), nullable=False),
        sa.Column("raised_at", foundations.database.UtcDateTime(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", foundations.database.UtcDateTime(), nullable=True),
        sa.Column("claimed_until", foundations.database.UtcDateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("sent_at", foundations.database.UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_id", "step"),
    )
    with op.batch_alter_table("escalation_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalation_steps_status"), ["status"], unique=False)

    op.create_table(
        "bank_holidays",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )


def downgrade() -> None:
    op.drop_table("bank_holidays")
    with op.batch_alter_table("escalation_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_steps_status"))
    op.drop_table("escalation_steps")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("late_at")
