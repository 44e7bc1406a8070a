"""keys: a canary value the data key must decrypt, and the database's own id

The table ``database_identity`` holds one row: the database's id, made here once, and a
key canary that the first process started with a data key writes (broker/identity.py);
from then on a process with another key is refused at start. Signed audit tree heads name
the database id they sign (``audit_checkpoints.database_id``; empty for heads signed
before this revision).

Revision ID: 0013
Revises: 0012
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import broker.database

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    identity = op.create_table(
        "database_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("database_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", broker.database.UtcDateTime(), nullable=False),
        sa.Column("key_canary", sa.Text(), nullable=True),
        sa.Column("key_canary_at", broker.database.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        identity,
        [{"id": 1, "database_id": uuid.uuid4().hex, "created_at": datetime.now(UTC)}],
    )
    # A plain ADD COLUMN on both databases: audit_checkpoints keeps its append-only triggers.
    op.add_column(
        "audit_checkpoints", sa.Column("database_id", sa.String(length=32), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoints", recreate="never") as batch:
        batch.drop_column("database_id")
    op.drop_table("database_identity")
