"""the directory's health: GIAS's pupil count on each school, and when each safeguarding
contact was last confirmed

``schools.number_of_pupils`` holds GIAS's ``NumberOfPupils`` when the extract has it;
``safeguarding_contacts.confirmed_at`` is set by a contacts import that names the contact
and by an acknowledgement from that role at that school (issue 18, item 3). Contacts
already held have no confirmation: the next contacts import confirms those it still names.

Revision ID: 0020
Revises: 0016 (0017 to 0019 are other changes in flight: the merge chains them)
"""

import sqlalchemy as sa
from alembic import op

import foundations.database

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schools") as batch:
        batch.add_column(sa.Column("number_of_pupils", sa.Integer(), nullable=True))
    with op.batch_alter_table("safeguarding_contacts") as batch:
        batch.add_column(
            sa.Column("confirmed_at", foundations.database.UtcDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("safeguarding_contacts") as batch:
        batch.drop_column("confirmed_at")
    with op.batch_alter_table("schools") as batch:
        batch.drop_column("number_of_pupils")
