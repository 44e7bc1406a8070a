"""notifications: the queue's sort keys (``dash_risk``, ``best_urn``, ``child_sort``)

The review queue pages in SQL (issue 15): it sorts and filters thousands of rows without
decrypting each police record. Two keys that name no one are kept in clear beside the row:
the incident's DASH risk level (standard, medium, high) and the school of the best
candidate (``urn`` once a school is chosen; before that, the first candidate's, which is
encrypted with the candidates). And, encrypted, the child's names and date of birth as
recorded, a few bytes to open instead of the whole police record when the queue is sorted
or searched by the child. Rows made before this revision have none of them: they sort as
"risk not recorded" and by their chosen school, show both from the police record, and are
sorted by the child from the police record itself.

Revision ID: 0019
Revises: 0020 (numbered when 0017 and 0018 were in flight; chained after the last merged)
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("dash_risk", sa.String(32), nullable=True))
        batch.add_column(sa.Column("best_urn", sa.String(16), nullable=True))
        batch.add_column(sa.Column("child_sort", sa.Text(), nullable=True))
        batch.create_index("ix_notifications_best_urn", ["best_urn"])


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_best_urn")
        batch.drop_column("child_sort")
        batch.drop_column("best_urn")
        batch.drop_column("dash_risk")
