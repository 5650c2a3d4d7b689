"""milestone 2: safety (reserved slot in a fixed chain, so parallel work never forks the history)

Console alerts for at-risk consultations (when, how often), who is at risk (the writer or someone
they report), and the triage cue of each incoming message.

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
    with op.batch_alter_table('consultations') as batch:
        batch.add_column(sa.Column('risk_about_other', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('alerted_at', storage.models.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column('alert_count', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('messages') as batch:
        batch.add_column(sa.Column('risk_cues', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages') as batch:
        batch.drop_column('risk_cues')
    with op.batch_alter_table('consultations') as batch:
        batch.drop_column('alert_count')
        batch.drop_column('alerted_at')
        batch.drop_column('risk_about_other')
