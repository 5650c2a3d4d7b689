"""milestone 2: stats (reserved slot in a fixed chain, so parallel work never forks the history)

Friend events (follows/blocks over time), client milestones, the first-response rollup column and the
indexes the coordinator dashboard needs at national scale.

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
    op.create_table(
        'friend_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('occurred_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_friend_events_client', 'friend_events', ['client_id', 'kind', 'occurred_at'])
    op.create_index('ix_friend_events_time', 'friend_events', ['occurred_at', 'kind'])
    op.create_table(
        'milestones',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('consultation_id', sa.Integer(), nullable=True),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=30), nullable=False),
        sa.Column('next_step', sa.String(length=20), nullable=True),
        sa.Column('occurred_on', sa.Date(), nullable=False),
        sa.Column('is_training', sa.Boolean(), nullable=False),
        sa.Column('recorded_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id']),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id']),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id']),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_milestones_client_id', 'milestones', ['client_id'])
    op.create_index('ix_milestones_consultation_id', 'milestones', ['consultation_id'])
    op.create_index('ix_milestones_stats', 'milestones', ['occurred_on', 'kind'])
    with op.batch_alter_table('consultations') as batch:
        batch.add_column(sa.Column('first_response_at', storage.models.UTCDateTime(), nullable=True))
    op.create_index('ix_consultations_stats_created', 'consultations', ['created_at', 'organization_id'])
    op.create_index('ix_consultations_client_queued', 'consultations', ['client_id', 'is_training', 'created_at'],
                    postgresql_where=sa.text('queued_at IS NOT NULL'), sqlite_where=sa.text('queued_at IS NOT NULL'))
    unattached = sa.text("consultation_id IS NULL AND direction = 'in' AND sender = 'user'")
    op.create_index('ix_messages_unattached', 'messages', ['created_at', 'client_id'], postgresql_where=unattached,
                    sqlite_where=unattached)
    op.create_index('ix_clients_training', 'clients', ['id'], postgresql_where=sa.text('is_training'),
                    sqlite_where=sa.text('is_training'))
    # Backfill: what the client rows still know of follows and blocks (the latest of each), and the rollup.
    op.execute("INSERT INTO friend_events (client_id, kind, occurred_at) "
               "SELECT id, 'follow', followed_at FROM clients WHERE followed_at IS NOT NULL")
    op.execute("INSERT INTO friend_events (client_id, kind, occurred_at) "
               "SELECT id, 'block', blocked_at FROM clients WHERE blocked_at IS NOT NULL")
    op.execute(
        "UPDATE consultations SET first_response_at = (SELECT min(m.created_at) FROM messages m "
        "WHERE m.consultation_id = consultations.id AND m.sender = 'counselor')"
    )


def downgrade() -> None:
    op.drop_index('ix_clients_training', table_name='clients')
    op.drop_index('ix_messages_unattached', table_name='messages')
    op.drop_index('ix_consultations_client_queued', table_name='consultations')
    op.drop_index('ix_consultations_stats_created', table_name='consultations')
    with op.batch_alter_table('consultations') as batch:
        batch.drop_column('first_response_at')
    op.drop_table('milestones')
    op.drop_table('friend_events')
