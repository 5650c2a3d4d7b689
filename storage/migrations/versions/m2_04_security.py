"""milestone 2: security — server-side console sessions, expiring API tokens, atomic throttles

Revision ID: m2_04_security
Revises: m2_03_safety
"""
from datetime import UTC, datetime, timedelta

from alembic import op
import sqlalchemy as sa
import storage.models


revision = 'm2_04_security'
down_revision = 'm2_03_safety'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('throttles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('window_start', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_try_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('staff_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_staff_sessions_staff_id'), 'staff_sessions', ['staff_id'], unique=False)
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_api_tokens_staff_id'), 'api_tokens', ['staff_id'], unique=False)

    # Tokens issued before this migration keep working for 90 days as rows of api_tokens.
    bind = op.get_bind()
    now = datetime.now(UTC)
    tokens = sa.table('api_tokens', sa.column('staff_id', sa.Integer), sa.column('token_hash', sa.String),
                      sa.column('name', sa.String),
                      sa.column('created_at', storage.models.UTCDateTime(timezone=True)),
                      sa.column('expires_at', storage.models.UTCDateTime(timezone=True)))
    rows = bind.execute(sa.text("SELECT id, api_token_hash FROM staff WHERE api_token_hash IS NOT NULL")).all()
    if rows:
        op.bulk_insert(tokens, [{"staff_id": r[0], "token_hash": r[1][:64], "name": "migrated", "created_at": now,
                                 "expires_at": now + timedelta(days=90)} for r in rows])
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('api_token_hash')
    op.drop_table('login_attempts')


def downgrade() -> None:
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('window_start', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key', 'window_start')
    )
    with op.batch_alter_table('staff') as batch:
        batch.add_column(sa.Column('api_token_hash', sa.String(length=128), nullable=True))
    op.drop_index(op.f('ix_api_tokens_staff_id'), table_name='api_tokens')
    op.drop_table('api_tokens')
    op.drop_index(op.f('ix_staff_sessions_staff_id'), table_name='staff_sessions')
    op.drop_table('staff_sessions')
    op.drop_table('throttles')
