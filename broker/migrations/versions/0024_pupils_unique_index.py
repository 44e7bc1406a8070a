"""pupils: one row per (UPN, URN) kept by a named unique index, not a table constraint

The same rule, held differently (issue 16): SQLite cannot drop the index of a table's
UNIQUE constraint, so a first roll of nine million pupils had to keep it while inserting,
a row at a time into random places of an index that outgrows the page cache. As a named
unique index (``uq_pupils_upn_urn``) it is dropped with the roll's other indexes and
built once, from the whole table, at the end of the import, after the repeated rows are
refused (school_directory/imports.py). On SQLite the table is copied once, without the
constraint; on PostgreSQL the constraint is dropped and the index made.

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# SQLite's reflection finds the constraint unnamed; named by this, batch mode can drop it.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _constraint_name() -> str:
    """The (UPN, URN) unique constraint's name as the database has it (on SQLite, unnamed
    unless a downgrade named it: then named by ``NAMING``)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("pupils"):
        if list(constraint["column_names"]) == ["upn", "urn"] and constraint["name"]:
            return str(constraint["name"])
    return "uq_pupils_upn_urn"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("pupils", naming_convention=NAMING) as batch:
            batch.drop_constraint(_constraint_name(), type_="unique")
    else:
        op.drop_constraint(_constraint_name(), "pupils", type_="unique")
    op.create_index("uq_pupils_upn_urn", "pupils", ["upn", "urn"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_pupils_upn_urn", "pupils")
    with op.batch_alter_table("pupils") as batch:
        batch.create_unique_constraint("pupils_upn_urn_key", ["upn", "urn"])
