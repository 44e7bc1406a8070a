"""keys: a canary value the data key must decrypt, and the database's own id

The table ``database_identity`` holds one row: the database's id, made here once; a
key canary that the first process started with a data key writes (broker/identity.py),
after which a process with another key is refused at start; and whether values in clear
are refused (true here when none is left in clear, else set by `encompass keys rotate`). Signed audit tree heads name
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


# The encrypted columns at this revision (frozen here: later ones are written encrypted).
ENCRYPTED = {
    "incidents": ("payload",),
    "notification_edits": ("before", "after"),
    "notifications": ("candidates", "content"),
    "pupils": (
        "given_names",
        "family_name",
        "preferred_name",
        "date_of_birth",
        "gender",
        "postcode",
        "match_record",
    ),
}


def _plaintext_left() -> bool:
    """Whether a value from before encryption at rest (0006) is still in clear. If none is,
    a value in clear is refused from now on; else only after `encompass keys rotate`."""
    bind = op.get_bind()
    for table, columns in ENCRYPTED.items():
        for column in columns:
            found = bind.execute(
                sa.text(
                    f'SELECT 1 FROM {table} WHERE "{column}" IS NOT NULL '
                    f"AND \"{column}\" NOT LIKE 'enc1.%' LIMIT 1"
                )
            ).first()
            if found is not None:
                return True
    return False


def upgrade() -> None:
    identity = op.create_table(
        "database_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("database_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", broker.database.UtcDateTime(), nullable=False),
        sa.Column("key_canary", sa.Text(), nullable=True),
        sa.Column("key_canary_at", broker.database.UtcDateTime(), nullable=True),
        sa.Column("plaintext_refused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(
        identity,
        [
            {
                "id": 1,
                "database_id": uuid.uuid4().hex,
                "created_at": datetime.now(UTC),
                "plaintext_refused": not _plaintext_left(),
            }
        ],
    )
    # A plain ADD COLUMN on both databases: audit_checkpoints keeps its append-only triggers.
    op.add_column(
        "audit_checkpoints", sa.Column("database_id", sa.String(length=32), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoints", recreate="never") as batch:
        batch.drop_column("database_id")
    op.drop_table("database_identity")
