"""notification edits: reviewers' before and after texts, encrypted, out of the audit rows

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", foundations.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notification_edits") as batch:
        batch.create_index("ix_notification_edits_notification_id", ["notification_id"])


def downgrade() -> None:
    op.drop_table("notification_edits")
