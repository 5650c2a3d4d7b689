"""milestone 2: insert sentinels, so SQLite writes a batch's rows in one INSERT per table

SQLAlchemy's unit of work inserts many rows of a table in one statement only when it can match the
RETURNING rows to its objects; on SQLite nothing orders new ROWIDs by parameter, so without a sentinel
column it sent one INSERT per row (32 of the 40 statements of a batch of 8 first messages). The column
holds the statement's own row counter; it means nothing afterwards.

Revision ID: m2_11_insert_sentinels
Revises: m2_10_stats_speed
"""
from alembic import op
import sqlalchemy as sa


revision = 'm2_11_insert_sentinels'
down_revision = 'm2_10_stats_speed'
branch_labels = None
depends_on = None

TABLES = ('consultations', 'messages', 'outbox')


def upgrade() -> None:
    for table in TABLES:  # a nullable column without a default: a plain ALTER TABLE on SQLite too
        op.add_column(table, sa.Column('_sentinel', sa.Integer(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+), not batch mode: batch mode rebuilds the table and would lose
    # the rollup triggers on consultations (storage/rollups.py).
    for table in TABLES:
        op.drop_column(table, '_sentinel')
