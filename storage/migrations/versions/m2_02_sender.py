"""milestone 2: sender (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_02_sender
Revises: m2_01_spine
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_02_sender'
down_revision = 'm2_01_spine'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
