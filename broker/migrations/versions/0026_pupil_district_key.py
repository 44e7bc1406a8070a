"""pupils.district_key: the postcode's district as a blind index, in the year index

At 9 million pupils a common name's year-of-birth blocks (both sound keys and the birth
year: a date of birth recorded wrong altogether) found hundreds of namesakes across
England, cut at a hundred in no particular order, and each was read and decrypted. A
namesake born on another day in another district cannot reach the review threshold when
the names are common (school_directory.blocking, docs/matching.md), so for such a child
those blocks now read the pupils of the child's district, and of no known district.

``ix_pupils_keys_year`` becomes ``ix_pupils_keys_year_district`` (the same columns, then
the district). Rows imported before this revision have no district (""), which every
search reads as it did before: the next pupil import fills it in, as it does any blind
index a row lacks (school_directory/upsert.py).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

OLD = ("ix_pupils_keys_year", ["family_key", "given_key", "birth_year_key"])
NEW = ("ix_pupils_keys_year_district", ["family_key", "given_key", "birth_year_key", "district_key"])


def upgrade() -> None:
    # No table rebuild: the column keeps its empty default (a roll of millions is not
    # copied to drop it), and only the one index is built again.
    op.add_column(
        "pupils", sa.Column("district_key", sa.String(200), nullable=False, server_default="")
    )
    op.drop_index(OLD[0], table_name="pupils")
    op.create_index(NEW[0], "pupils", NEW[1])


def downgrade() -> None:
    op.drop_index(NEW[0], table_name="pupils")
    op.create_index(OLD[0], "pupils", OLD[1])
    with op.batch_alter_table("pupils") as batch:
        batch.drop_column("district_key")
