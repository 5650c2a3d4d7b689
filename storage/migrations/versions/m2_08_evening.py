"""milestone 2: evening clock, retention and LINE-native touches (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_08_evening
Revises: m2_07_workspace
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_08_evening'
down_revision = 'm2_07_workspace'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
