"""milestone 2: spine (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_01_spine
Revises: 9da87e77073e
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_01_spine'
down_revision = '9da87e77073e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
