"""milestone 2: workspace (reserved slot in a fixed chain, so parallel work never forks the history)

The counselor workspace (issue 12): read marks for unread counts, organization labels, personal saved
replies, supervisor and reopen notes, transfer notices the recipient has seen, audit-log indexes.

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
    op.create_table(
        'consultation_reads',
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('consultation_id', sa.Integer(), nullable=False),
        sa.Column('last_read_message_id', sa.Integer(), nullable=False),
        sa.Column('read_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id']),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('staff_id', 'consultation_id'),
    )
    op.create_index('ix_consultation_reads_consultation_id', 'consultation_reads', ['consultation_id'])
    op.create_table(
        'labels',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'name', name='uq_labels_org_name'),
    )
    op.create_index('ix_labels_organization_id', 'labels', ['organization_id'])
    op.create_table(
        'consultation_labels',
        sa.Column('consultation_id', sa.Integer(), nullable=False),
        sa.Column('label_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=True),
        sa.Column('added_at', storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultations.id']),
        sa.ForeignKeyConstraint(['label_id'], ['labels.id']),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('consultation_id', 'label_id'),
    )
    op.create_index('ix_consultation_labels_label_id', 'consultation_labels', ['label_id'])
    with op.batch_alter_table('canned_replies') as batch:
        batch.add_column(sa.Column('staff_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_canned_replies_staff_id', 'staff', ['staff_id'], ['id'])
        batch.create_index('ix_canned_replies_staff_id', ['staff_id'])
    with op.batch_alter_table('notes') as batch:
        batch.add_column(sa.Column('kind', sa.String(length=20), nullable=False, server_default='counselor'))
    with op.batch_alter_table('transfers') as batch:
        batch.add_column(sa.Column('seen_at', storage.models.UTCDateTime(), nullable=True))
    op.create_index('ix_audit_events_consultation', 'audit_events', ['consultation_id', 'staff_id', 'created_at'])
    op.create_index('ix_audit_events_action', 'audit_events', ['action', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_audit_events_action', table_name='audit_events')
    op.drop_index('ix_audit_events_consultation', table_name='audit_events')
    with op.batch_alter_table('transfers') as batch:
        batch.drop_column('seen_at')
    with op.batch_alter_table('notes') as batch:
        batch.drop_column('kind')
    with op.batch_alter_table('canned_replies') as batch:
        batch.drop_index('ix_canned_replies_staff_id')
        batch.drop_constraint('fk_canned_replies_staff_id', type_='foreignkey')
        batch.drop_column('staff_id')
    op.drop_index('ix_consultation_labels_label_id', table_name='consultation_labels')
    op.drop_table('consultation_labels')
    op.drop_index('ix_labels_organization_id', table_name='labels')
    op.drop_table('labels')
    op.drop_index('ix_consultation_reads_consultation_id', table_name='consultation_reads')
    op.drop_table('consultation_reads')
