"""matcher: the officer's school hint looked up by word, not by scanning school names

Each distinctive word of each school's name (school_directory.names.school_words) in
``school_name_words``; filled here for the schools already imported, and rebuilt by every
schools import after.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_name_words",
        sa.Column("word", sa.String(length=60), nullable=False),
        sa.Column("urn", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["urn"], ["schools.urn"]),
        sa.PrimaryKeyConstraint("word", "urn"),
    )
    from school_directory import names

    bind = op.get_bind()
    schools = sa.table("schools", sa.column("urn", sa.String), sa.column("name", sa.String))
    words = sa.table("school_name_words", sa.column("word", sa.String), sa.column("urn", sa.String))
    rows = [
        {"word": word, "urn": urn}
        for urn, name in bind.execute(sa.select(schools.c.urn, schools.c.name))
        for word in set(names.school_words(name))
    ]
    if rows:
        bind.execute(words.insert(), rows)


def downgrade() -> None:
    op.drop_table("school_name_words")
