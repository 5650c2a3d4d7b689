"""milestone 2: stats (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_05_stats
Revises: m2_04_security
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_05_stats'
down_revision = 'm2_04_security'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
