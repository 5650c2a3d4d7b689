"""milestone 2: routing (reserved slot in a fixed chain, so parallel work never forks the history)

Issue 10: member organizations as data (what each takes, its evenings, capacity, referral card), the
routing rules, every routing decision with its reason, and the consultation's routing columns (fair
order key, overflow deadline, "same counselor", "tell me when it is my turn", the referral destination).

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
    with op.batch_alter_table('organizations') as batch:
        batch.add_column(sa.Column('takes', sa.JSON(), nullable=False, server_default='{}'))
        batch.add_column(sa.Column('evenings', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('closed_dates', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('capacity', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('referral_card', sa.JSON(), nullable=False, server_default='{}'))
        batch.add_column(sa.Column('updated_at', storage.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table('consultations') as batch:
        batch.add_column(sa.Column('queue_key', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('overflow_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('overflowed_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('preferred_staff_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('notify_requested_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('notified_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('referral_organization_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_consultations_preferred_staff', 'staff', ['preferred_staff_id'], ['id'])
        batch.create_foreign_key('fk_consultations_referral_organization', 'organizations',
                                 ['referral_organization_id'], ['id'])
    # Consultations already waiting keep their order: the fair-order key starts as their queue time.
    op.execute("UPDATE consultations SET queue_key = queued_at WHERE queued_at IS NOT NULL")
    op.create_table(
        'routing_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('match', sa.JSON(), nullable=False),
        sa.Column('targets', sa.JSON(), nullable=False),
        sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'routing_decisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('consultation_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=True),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('rule', sa.String(length=120), nullable=True),
        sa.Column('reason', sa.String(length=40), nullable=False),
        sa.Column('candidates', sa.JSON(), nullable=False),
        sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id']),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id']),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_routing_decisions_consultation_id', 'routing_decisions', ['consultation_id'])


def downgrade() -> None:
    op.drop_index('ix_routing_decisions_consultation_id', table_name='routing_decisions')
    op.drop_table('routing_decisions')
    op.drop_table('routing_rules')
    with op.batch_alter_table('consultations') as batch:
        batch.drop_constraint('fk_consultations_referral_organization', type_='foreignkey')
        batch.drop_constraint('fk_consultations_preferred_staff', type_='foreignkey')
        batch.drop_column('referral_organization_id')
        batch.drop_column('notified_at')
        batch.drop_column('notify_requested_at')
        batch.drop_column('preferred_staff_id')
        batch.drop_column('overflowed_at')
        batch.drop_column('overflow_at')
        batch.drop_column('queue_key')
    with op.batch_alter_table('organizations') as batch:
        batch.drop_column('updated_at')
        batch.drop_column('referral_card')
        batch.drop_column('capacity')
        batch.drop_column('closed_dates')
        batch.drop_column('evenings')
        batch.drop_column('takes')
