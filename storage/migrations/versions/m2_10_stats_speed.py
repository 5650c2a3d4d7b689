"""milestone 2: statistics speed (reserved slot in a fixed chain, so parallel work never forks the history)

Two rollups kept by triggers (storage/rollups.py), so that a year's figures read one index instead of one
probe per client or per follow: `consultations.client_first_queued_at` (returning clients) and
`friend_events.refollow` (re-follows); the indexes that read them without touching the table. The index
for "an earlier queued consultation of this client" goes: the rollup replaced those probes.

Revision ID: m2_10_stats_speed
Revises: m2_09_spine
"""
from alembic import op
import sqlalchemy as sa
import storage.models
from storage import rollups


revision = 'm2_10_stats_speed'
down_revision = 'm2_09_spine'
branch_labels = None
depends_on = None

QUEUED = sa.text('queued_at IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('consultations') as batch:
        batch.add_column(sa.Column('client_first_queued_at', storage.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table('friend_events') as batch:
        batch.add_column(sa.Column('refollow', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.drop_index('ix_consultations_client_queued', table_name='consultations')
    op.create_index('ix_consultations_stats_period', 'consultations',
                    ['created_at', 'is_training', 'organization_id', 'client_id', 'client_first_queued_at'],
                    postgresql_where=QUEUED, sqlite_where=QUEUED)
    op.drop_index('ix_friend_events_time', table_name='friend_events')
    op.create_index('ix_friend_events_stats', 'friend_events', ['occurred_at', 'kind', 'refollow'])
    conn = op.get_bind()
    rollups.backfill(conn)
    rollups.install(conn)


def downgrade() -> None:
    rollups.uninstall(op.get_bind())
    op.drop_index('ix_friend_events_stats', table_name='friend_events')
    op.create_index('ix_friend_events_time', 'friend_events', ['occurred_at', 'kind'])
    op.drop_index('ix_consultations_stats_period', table_name='consultations')
    op.create_index('ix_consultations_client_queued', 'consultations', ['client_id', 'is_training', 'created_at'],
                    postgresql_where=QUEUED, sqlite_where=QUEUED)
    with op.batch_alter_table('friend_events') as batch:
        batch.drop_column('refollow')
    with op.batch_alter_table('consultations') as batch:
        batch.drop_column('client_first_queued_at')
