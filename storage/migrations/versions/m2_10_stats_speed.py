"""milestone 2: statistics speed (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_10_stats_speed
Revises: m2_09_spine
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_10_stats_speed'
down_revision = 'm2_09_spine'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
