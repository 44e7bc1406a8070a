"""scored matcher: blocking keys on pupils

Revision ID: 0002
Revises: 0001

Two sound keys on every pupil record (school_directory.names.family_key and given_key)
and the indexes the scored matcher searches by (school_directory.blocking). Existing
rows get their keys here; postcodes are rewritten in their standard form ("SO23 8UJ").
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_pupils_family_key_dob": ["family_key", "date_of_birth"],
    "ix_pupils_given_key_dob": ["given_key", "date_of_birth"],
    "ix_pupils_keys_dob": ["family_key", "given_key", "date_of_birth"],
    "ix_pupils_postcode_dob": ["postcode", "date_of_birth"],
    "ix_pupils_urn_dob": ["urn", "date_of_birth"],
}
BATCH = 5_000


def upgrade() -> None:
    with op.batch_alter_table("pupils", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("family_key", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("given_key", sa.String(length=16), nullable=False, server_default="")
        )
    _backfill()
    with op.batch_alter_table("pupils", schema=None) as batch_op:
        batch_op.alter_column("family_key", server_default=None)
        batch_op.alter_column("given_key", server_default=None)
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def _backfill() -> None:
    """Keys for the rows already imported, in batches by id."""
    from school_directory import names

    bind = op.get_bind()
    pupils = sa.table(
        "pupils",
        sa.column("id", sa.Integer),
        sa.column("given_names", sa.String),
        sa.column("family_name", sa.String),
        sa.column("postcode", sa.String),
        sa.column("family_key", sa.String),
        sa.column("given_key", sa.String),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(pupils.c.id, pupils.c.given_names, pupils.c.family_name, pupils.c.postcode)
            .where(pupils.c.id > last)
            .order_by(pupils.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            pupils.update()
            .where(pupils.c.id == sa.bindparam("pid"))
            .values(
                family_key=sa.bindparam("fk"),
                given_key=sa.bindparam("gk"),
                postcode=sa.bindparam("pc"),
            ),
            [
                {
                    "pid": pid,
                    "fk": names.family_key(family),
                    "gk": names.given_key(given),
                    "pc": names.postcode(postcode),
                }
                for pid, given, family, postcode in rows
            ],
        )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("pupils", schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column("given_key")
        batch_op.drop_column("family_key")
