"""matcher: the fields it reads sealed together in one value per pupil

The matcher decrypts every candidate it scores; with the six personal fields sealed as
one value (``pupils.match_record``) that is one decryption per candidate, not six. Rows
imported before this revision have no match record: the matcher reads their separate
columns instead, and the next pupil import (idempotent) fills it in.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        batch.add_column(sa.Column("match_record", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        batch.drop_column("match_record")
