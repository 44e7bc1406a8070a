"""scored matcher: blocking keys on pupils

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import broker.database

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
