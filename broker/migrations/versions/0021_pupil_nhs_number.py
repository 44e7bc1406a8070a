"""pupils: the NHS number, encrypted, and its blind index for the matcher

The consistent child identifier (issue 17, item 4): a pupils file may give each pupil's
NHS number (an optional ``nhs_number`` column, SPEC section 5). It is kept encrypted and
bound to its row like the other personal fields (``pupils.nhs_number``), and as a blind
index (``pupils.nhs_key``, indexed) through which the matcher finds a pupil by it. Rows
imported before this revision have neither: the next pupil import that names them fills
them in.

Revision ID: 0021
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        batch.add_column(sa.Column("nhs_number", sa.Text(), nullable=True))
        batch.add_column(sa.Column("nhs_key", sa.String(200), nullable=False, server_default=""))
    with op.batch_alter_table("pupils") as batch:
        batch.alter_column("nhs_key", server_default=None)
        batch.create_index("ix_pupils_nhs_key", ["nhs_key"])


def downgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        batch.drop_index("ix_pupils_nhs_key")
        batch.drop_column("nhs_key")
        batch.drop_column("nhs_number")
