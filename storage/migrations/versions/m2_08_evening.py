"""milestone 2: evening clock, retention and LINE-native touches (reserved slot in a fixed chain, so parallel work never forks the history)

Who asked to hear when the line opens, the closing notice and idle prompt stamps, the user's latest
mark-as-read token and the loading animation stamp, dead letters (outbox rows failed for good) raised to
coordinators and acknowledged by them, and when retention erased an outbox row's messages.

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

OPENING = sa.text("opening_notice_requested_at IS NOT NULL")
DEAD_LETTERS_OPEN = sa.text("dead_letter_at IS NOT NULL AND dead_letter_ack_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('opening_notice_requested_at', storage.models.UTCDateTime(), nullable=True))
    op.create_index('ix_clients_opening_notice', 'clients', ['opening_notice_requested_at'],
                    postgresql_where=OPENING, sqlite_where=OPENING)
    with op.batch_alter_table('consultations') as batch:
        batch.add_column(sa.Column('closing_notice_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('idle_prompted_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('read_token', sa.String(length=512), nullable=True))
        batch.add_column(sa.Column('loading_shown_at', storage.models.UTCDateTime(), nullable=True))
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('dead_letter_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('dead_letter_ack_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('dead_letter_ack_by_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('text_purged_at', storage.models.UTCDateTime(), nullable=True))
        batch.create_foreign_key('fk_outbox_dead_letter_ack_by_id_staff', 'staff', ['dead_letter_ack_by_id'], ['id'])
    op.create_index('ix_outbox_dead_letters', 'outbox', ['dead_letter_at'],
                    postgresql_where=DEAD_LETTERS_OPEN, sqlite_where=DEAD_LETTERS_OPEN)


def downgrade() -> None:
    op.drop_index('ix_outbox_dead_letters', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_constraint('fk_outbox_dead_letter_ack_by_id_staff', type_='foreignkey')
        batch.drop_column('text_purged_at')
        batch.drop_column('dead_letter_ack_by_id')
        batch.drop_column('dead_letter_ack_at')
        batch.drop_column('dead_letter_at')
    with op.batch_alter_table('consultations') as batch:
        batch.drop_column('loading_shown_at')
        batch.drop_column('read_token')
        batch.drop_column('idle_prompted_at')
        batch.drop_column('closing_notice_at')
    op.drop_index('ix_clients_opening_notice', table_name='clients')
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('opening_notice_requested_at')
