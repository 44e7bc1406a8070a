"""bounces: what delivery status notifications said of the e-mails sent (issue 18, item 2)

One row per report taken (consumers/bounces.py): the e-mail it is about (a notification's
own, or one of its escalation steps'), the address and role it went to, permanent or
delayed, the status code and the remote server's words. The new statuses (``bounced`` on a
notification and on an escalation step) are values of VARCHAR columns: nothing to migrate.

Revision ID: 0018
Revises: 0016 (0017 is another change in flight: the merge chains them)
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=32), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", foundations.database.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"]),
        sa.ForeignKeyConstraint(["step_id"], ["escalation_steps.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_sha256"),
    )
    with op.batch_alter_table("bounces") as batch:
        batch.create_index("ix_bounces_notification_id", ["notification_id"])


def downgrade() -> None:
    op.drop_table("bounces")
