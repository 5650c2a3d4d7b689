"""milestone 2: workspace (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_07_workspace
Revises: m2_06_routing
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_07_workspace'
down_revision = 'm2_06_routing'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
