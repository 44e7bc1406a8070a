"""notifications.route and route_council; council_contacts: schools beyond the deployment's
councils and children on no roll (issue 17, items 2 and 3)

A notification goes to a school (its DSL), to a neighbouring council's First Response for
onward handling, or to the home council's elective-home-education or children-missing-
education officer (consumers/routes.py). ``route_council`` is that recipient's council.
Rows made before this revision went to schools: ``route`` is ``school`` for them.
``council_contacts`` holds each council's officers (``encompass directory import
--council-contacts``).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("route", sa.String(32), nullable=False, server_default="school"))
        batch.add_column(sa.Column("route_council", sa.String(8), nullable=True))
    op.create_table(
        "council_contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("la_code", sa.String(8), nullable=False),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.UniqueConstraint("la_code", "role"),
    )
    op.create_index("ix_council_contacts_la_code", "council_contacts", ["la_code"])


def downgrade() -> None:
    op.drop_index("ix_council_contacts_la_code", table_name="council_contacts")
    op.drop_table("council_contacts")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("route_council")
        batch.drop_column("route")
