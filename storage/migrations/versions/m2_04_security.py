"""milestone 2: security (reserved slot in a fixed chain, so parallel work never forks the history)

Revision ID: m2_04_security
Revises: m2_03_safety
"""
from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_04_security'
down_revision = 'm2_03_safety'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
