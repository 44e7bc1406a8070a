"""encryption at rest: personal data columns hold AES-GCM ciphertext (text)

Existing plaintext values stay readable (the column types pass them through) until
``encompass keys rotate`` re-encrypts every row with the current key.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON_COLUMNS = (
    ("incidents", "payload", False),
    ("notifications", "candidates", False),
    ("notifications", "content", True),
)


OLD_PUPIL_INDEXES = {
    "ix_pupils_dob_family": ["date_of_birth", "family_name_key"],
    "ix_pupils_family_key_dob": ["family_key", "date_of_birth"],
    "ix_pupils_given_key_dob": ["given_key", "date_of_birth"],
    "ix_pupils_keys_dob": ["family_key", "given_key", "date_of_birth"],
    "ix_pupils_postcode_dob": ["postcode", "date_of_birth"],
    "ix_pupils_urn_dob": ["urn", "date_of_birth"],
}
NEW_PUPIL_INDEXES = {
    "ix_pupils_family_key_dob": ["family_key", "dob_key"],
    "ix_pupils_given_key_dob": ["given_key", "dob_key"],
    "ix_pupils_keys_dob": ["family_key", "given_key", "dob_key"],
    "ix_pupils_keys_year": ["family_key", "given_key", "birth_year_key"],
    "ix_pupils_postcode_dob": ["postcode_key", "dob_key"],
    "ix_pupils_urn_year": ["urn", "birth_year_key"],
    "ix_pupils_dob": ["dob_key"],
}
# Pupils' personal data becomes ciphertext (text); what the matcher looks up by becomes
# keyed blind indexes. Rows imported before this revision keep plaintext values, which the
# column types still read, and no blind keys: import the pupils file again (it is
# idempotent) so that they are indexed, then `encompass keys rotate` encrypts the rest.
PUPIL_TEXT = {
    "given_names": sa.String(200),
    "family_name": sa.String(200),
    "preferred_name": sa.String(200),
    "gender": sa.String(16),
    "postcode": sa.String(10),
    "date_of_birth": sa.Date(),
}
PUPIL_KEYS = {
    "family_name_key": sa.String(200),
    "given_name_key": sa.String(200),
    "preferred_name_key": sa.String(200),
    "family_key": sa.String(16),
    "given_key": sa.String(16),
}
NEW_KEYS = ("dob_key", "birth_year_key", "postcode_key")


def upgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        for name in OLD_PUPIL_INDEXES:
            batch.drop_index(name)
        for column, old in PUPIL_TEXT.items():
            batch.alter_column(
                column,
                type_=sa.Text(),
                existing_type=old,
                existing_nullable=False,
                postgresql_using=f"{column}::text",
            )
        for column, old in PUPIL_KEYS.items():
            batch.alter_column(
                column, type_=sa.String(200), existing_type=old, existing_nullable=False
            )
        for column in NEW_KEYS:
            batch.add_column(sa.Column(column, sa.String(200), nullable=False, server_default=""))
    with op.batch_alter_table("pupils") as batch:
        for name, columns in NEW_PUPIL_INDEXES.items():
            batch.create_index(name, columns)
    for table, column, nullable in JSON_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.Text(),
                existing_type=sa.JSON(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::text",
            )


def downgrade() -> None:
    with op.batch_alter_table("pupils") as batch:
        for name in NEW_PUPIL_INDEXES:
            batch.drop_index(name)
        for column in NEW_KEYS:
            batch.drop_column(column)
        for column, old in PUPIL_KEYS.items():
            batch.alter_column(column, type_=old, existing_type=sa.String(200))
        for column, old in PUPIL_TEXT.items():
            batch.alter_column(
                column,
                type_=old,
                existing_type=sa.Text(),
                postgresql_using=f"{column}::{'date' if column == 'date_of_birth' else 'varchar'}",
            )
    with op.batch_alter_table("pupils") as batch:
        for name, columns in OLD_PUPIL_INDEXES.items():
            batch.create_index(name, columns)
    for table, column, nullable in JSON_COLUMNS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.JSON(),
                existing_type=sa.Text(),
                existing_nullable=nullable,
                postgresql_using=f"{column}::json",
            )
