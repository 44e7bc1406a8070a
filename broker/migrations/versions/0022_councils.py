"""notifications.council and console_users.councils: several councils in one deployment

A notification belongs to one member council (foundations/councils.py): its school's, or
for a school beyond the deployment or a child on no roll, the child's home council. Console
accounts carry the councils they see. Rows made before this revision have no council: in a
single-council deployment nothing reads it; in one of several, an operator assigns them
(docs/councils.md) and until then only accounts of the lead council see them.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("council", sa.String(8), nullable=True))
        batch.create_index("ix_notifications_council", ["council"])
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(sa.Column("councils", sa.String(200), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("councils")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_council")
        batch.drop_column("council")
