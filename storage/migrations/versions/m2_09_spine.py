"""milestone 2: spine performance (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_09_spine
Revises: m2_08_evening
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_09_spine'
down_revision = 'm2_08_evening'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
