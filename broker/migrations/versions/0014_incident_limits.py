"""intake: columns sized for real data

Every value the incident schema accepts must fit its column (schemas/incident.py): a
value the database refuses would stop its partition. ``force_code`` grows from 8 to 16
characters (two digits today, room for other schemes); ``source`` (topic/partition/offset)
from 64 to 300, since a Kafka topic name alone may have 249 characters. On PostgreSQL a
wider varchar is a change to the catalogue only; SQLite copies the table.

Downgrading fails on PostgreSQL while a longer value is stored.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

WIDER = {"force_code": (8, 16), "source": (64, 300)}


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for column, (old, new) in WIDER.items():
            batch.alter_column(
                column,
                type_=sa.String(new),
                existing_type=sa.String(old),
                existing_nullable=False,
            )


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        for column, (old, new) in WIDER.items():
            batch.alter_column(
                column,
                type_=sa.String(old),
                existing_type=sa.String(new),
                existing_nullable=False,
            )
