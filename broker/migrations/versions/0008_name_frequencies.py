"""matcher: name frequencies for term-frequency weights, and the hinted-school search
reading no table rows (both sound keys inside the school and birth-year index)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD = ("ix_pupils_urn_year", ["urn", "birth_year_key"])
NEW = ("ix_pupils_urn_year_keys", ["urn", "birth_year_key", "family_key", "given_key"])


def upgrade() -> None:
    op.create_table(
        "name_frequencies",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("pupils", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    # The blind indexes are already in the pupils table: count them there.
    op.execute(
        "INSERT INTO name_frequencies (kind, key, pupils) "
        "SELECT 'family', family_name_key, count(*) FROM pupils GROUP BY family_name_key"
    )
    op.execute(
        "INSERT INTO name_frequencies (kind, key, pupils) "
        "SELECT 'given', given_name_key, count(*) FROM pupils GROUP BY given_name_key"
    )
    op.execute(
        "INSERT INTO name_frequencies (kind, key, pupils) SELECT 'roll', '', count(*) FROM pupils"
    )
    op.create_index(NEW[0], "pupils", NEW[1])
    op.drop_index(OLD[0], table_name="pupils")


def downgrade() -> None:
    op.create_index(OLD[0], "pupils", OLD[1])
    op.drop_index(NEW[0], table_name="pupils")
    op.drop_table("name_frequencies")
