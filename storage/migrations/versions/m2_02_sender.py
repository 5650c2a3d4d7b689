"""milestone 2: sender (reserved slot in a fixed chain, so parallel work never forks the history)

The scheduler's lease table (one scheduler at a time on databases without advisory locks, i.e.
SQLite), and an index for the sender's per-user order check.

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
    op.create_table(
        'scheduler_leases',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('holder', sa.String(length=80), nullable=False),
        sa.Column('expires_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('acquired_at', storage.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_index('ix_outbox_client_pending', 'outbox', ['client_id', 'status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_outbox_client_pending', table_name='outbox')
    op.drop_table('scheduler_leases')
