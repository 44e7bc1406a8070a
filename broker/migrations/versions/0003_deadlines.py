"""deadlines: acknowledgement and escalation

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import broker.database

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
