"""milestone 2: safety (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_03_safety
Revises: m2_02_sender
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_03_safety'
down_revision = 'm2_02_sender'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
