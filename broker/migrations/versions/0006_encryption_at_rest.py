"""encryption at rest: personal data columns hold AES-GCM ciphertext (text)

Existing plaintext values stay readable (the column types pass them through) until
``encompass keys rotate`` re-encrypts every row with the current key.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import broker.database

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON_COLUMNS = (
    ("incidents", "payload", False),
    ("notifications", "candidates", False),
    ("notifications", "content", True),
)


def upgrade() -> None:
    for table, column, nullable in JSON_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.Text(),
                existing_type=sa.JSON(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::text",
            )


def downgrade() -> None:
    for table, column, nullable in JSON_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.JSON(),
                existing_type=sa.Text(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::json",
            )
