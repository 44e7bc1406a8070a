"""audit_relay_cursor.held_by and held_until: one audit relay publishes at a time

Every process with the scheduler role runs the audit relay; with two replicas both read
the same pending rows and both published them, so every row went out twice. The relay now
takes a short lease on the cursor row before it publishes (consumers/audit_publish.py):
the process named by ``held_by`` relays until ``held_until``, renewing it when half has
gone; when it stops cleanly it gives the lease up, and when it dies another takes over
once the lease has run out. A cursor row from before this revision is held by nobody.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_relay_cursor") as batch:
        batch.add_column(sa.Column("held_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("held_until", foundations.database.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_relay_cursor") as batch:
        batch.drop_column("held_until")
        batch.drop_column("held_by")
