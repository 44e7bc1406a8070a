"""notifications: the matcher's verdict kept (``releasable``)

The matcher decides once, with the configured thresholds, and the notification keeps its
verdict: bulk approval in the review queue reads it instead of deriving it again from the
score and the candidates (issue 14, item 3). Rows made before this migration have no
verdict: they are not release-grade (fail closed), so a person reviews each on its own.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(
            sa.Column("releasable", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("releasable")
