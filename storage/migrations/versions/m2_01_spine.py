"""milestone 2: spine — one open consultation per client, one default organization, which exists

Revision ID: m2_01_spine
Revises: 9da87e77073e
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import storage.models

revision = 'm2_01_spine'
down_revision = '9da87e77073e'
branch_labels = None
depends_on = None

NOT_CLOSED = sa.text("state != 'closed'")
IS_DEFAULT = sa.text("is_default")


def upgrade() -> None:
    # Databases from milestone 1 may hold a client with two open consultations (the race this
    # index prevents): keep the newest open, close the others, so the index can be built.
    op.execute(sa.text(
        "UPDATE consultations SET state = 'closed', close_reason = 'duplicate_open', "
        "closed_at = created_at "
        "WHERE state != 'closed' AND id < (SELECT MAX(c2.id) FROM consultations c2 "
        "WHERE c2.client_id = consultations.client_id AND c2.state != 'closed')"))
    op.create_index("uq_consultations_one_open_per_client", "consultations", ["client_id"], unique=True,
                    sqlite_where=NOT_CLOSED, postgresql_where=NOT_CLOSED)
    op.execute(sa.text(
        "UPDATE organizations SET is_default = false WHERE is_default AND id > "
        "(SELECT MIN(o2.id) FROM organizations o2 WHERE o2.is_default)"))
    op.create_index("uq_organizations_one_default", "organizations", ["is_default"], unique=True,
                    sqlite_where=IS_DEFAULT, postgresql_where=IS_DEFAULT)
    # The default organization exists from the start: nothing at run time has to race to create it.
    organizations = sa.table(
        "organizations", sa.column("slug", sa.String), sa.column("name", sa.String),
        sa.column("kind", sa.String), sa.column("is_default", sa.Boolean), sa.column("active", sa.Boolean),
        sa.column("created_at", storage.models.UTCDateTime(timezone=True)))
    bind = op.get_bind()
    has_default = bind.execute(sa.text("SELECT 1 FROM organizations WHERE is_default")).first()
    slug_taken = bind.execute(sa.text("SELECT 1 FROM organizations WHERE slug = 'default'")).first()
    if has_default is None and slug_taken is None:
        op.bulk_insert(organizations, [{"slug": "default", "name": "つなぐ相談窓口", "kind": "consortium",
                                        "is_default": True, "active": True,
                                        "created_at": datetime.now(UTC)}])
    elif has_default is None:
        op.execute(sa.text("UPDATE organizations SET is_default = true WHERE slug = 'default'"))


def downgrade() -> None:
    op.drop_index("uq_organizations_one_default", table_name="organizations")
    op.drop_index("uq_consultations_one_open_per_client", table_name="consultations")
