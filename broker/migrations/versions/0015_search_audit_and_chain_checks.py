"""directory searches (their terms, encrypted) and the audit page's incremental check

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.String(length=32), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", foundations.database.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("directory_searches") as batch:
        batch.create_index("ix_directory_searches_notification_id", ["notification_id"])
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "audit_chain_checks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("rows", big, nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=False),
        sa.Column("heads", sa.Integer(), nullable=False),
        sa.Column("head_size", big, nullable=False),
        sa.Column("heads_digest", sa.String(length=64), nullable=False),
        sa.Column("checked_at", foundations.database.UtcDateTime(), nullable=False),
        sa.Column("full_at", foundations.database.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("audit_chain_checks")
    op.drop_table("directory_searches")
