"""encrypted values bound to their table, column and row

From this revision every encrypted value is written as ``enc2``, its AES-GCM associated data
naming its table, column and row (foundations/crypto.py), so that a value copied to another
row or column no longer decrypts. A row is named by columns known before it is inserted:
natural keys where a table has them; the two tables keyed only by an integer made on insert
(``notification_edits``, ``directory_searches``) get ``row_key``, a random name, here.

``database_identity.unbound_refused`` records that no ``enc1`` value (bound to no row) is
left: set here when none is (a new database), else by `encompass keys rotate` once it has
rewritten them all. From then on an ``enc1`` value is refused when read.

Downgrading leaves ``enc2`` values that the code of earlier revisions cannot read.

Revision ID: 0017
Revises: 0016
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The encrypted columns at this revision (frozen here: later ones are written as enc2).
ENCRYPTED = {
    "console_sessions": ("enrol_secret",),
    "console_users": ("totp_secret",),
    "directory_searches": ("terms",),
    "incidents": ("payload",),
    "notification_edits": ("before", "after"),
    "notifications": ("candidates", "content", "held_account"),
    "pupils": (
        "given_names",
        "family_name",
        "preferred_name",
        "date_of_birth",
        "gender",
        "postcode",
        "match_record",
    ),
}
ROW_KEYED = ("notification_edits", "directory_searches")


def _unbound_left() -> bool:
    """Whether an ``enc1`` value, bound to no row, is left anywhere."""
    bind = op.get_bind()
    for table, columns in ENCRYPTED.items():
        for column in columns:
            found = bind.execute(
                sa.text(f"SELECT 1 FROM {table} WHERE \"{column}\" LIKE 'enc1.%' LIMIT 1")
            ).first()
            if found is not None:
                return True
    return False


def upgrade() -> None:
    bind = op.get_bind()
    for table in ROW_KEYED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("row_key", sa.String(length=32), nullable=True))
        rows = sa.table(table, sa.column("id", sa.Integer()), sa.column("row_key", sa.String()))
        for (row_id,) in bind.execute(sa.select(rows.c.id)).all():
            bind.execute(
                sa.update(rows).where(rows.c.id == row_id).values(row_key=secrets.token_hex(16))
            )
        with op.batch_alter_table(table) as batch:
            batch.alter_column("row_key", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("database_identity") as batch:
        batch.add_column(
            sa.Column("unbound_refused", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    identity = sa.table("database_identity", sa.column("unbound_refused", sa.Boolean()))
    bind.execute(sa.update(identity).values(unbound_refused=not _unbound_left()))


def downgrade() -> None:
    with op.batch_alter_table("database_identity") as batch:
        batch.drop_column("unbound_refused")
    for table in reversed(ROW_KEYED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("row_key")
