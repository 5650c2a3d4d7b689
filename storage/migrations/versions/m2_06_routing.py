"""milestone 2: routing (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_06_routing
Revises: m2_05_stats
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_06_routing'
down_revision = 'm2_05_stats'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
