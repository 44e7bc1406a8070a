"""minimisation: the officer's account held for a person, the structured account sent on time

The residual check (consumers/residual.py) reads every account as the school would; what it
cannot place keeps the officer's account back for a person (``held_account``, encrypted)
while the school gets the structured account. ``account_status`` says where it stands.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("account_status", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("held_account", sa.Text(), nullable=True))
        batch.create_index("ix_notifications_account_status", ["account_status"])


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_account_status")
        batch.drop_column("held_account")
        batch.drop_column("account_status")
