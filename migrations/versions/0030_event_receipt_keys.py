"""Event receipts without foreign keys to their tenant and workspace, and without the
workspace index that their unique (workspace, client id) key already covers; contact events
index their message only where they have one.

Every event the API stores writes a receipt, and each receipt checked both owners (two
more queries per event, each taking a KEY SHARE lock on the one workspace row every
concurrent writer shares, as contact events did before 0029). A receipt matters for a day
and is purged by age, so one left by a deleted workspace goes with the rest. Events from
the API have no message, and the message index only ever looks one up.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

OWNERS = (
    ("fk_event_receipts_tenant_id_tenants", "tenants", "tenant_id"),
    ("fk_event_receipts_workspace_id_workspaces", "workspaces", "workspace_id"),
)
WITH_MESSAGE = sa.text("message_id IS NOT NULL")


def upgrade():
    with op.batch_alter_table("event_receipts") as batch:
        batch.drop_index("ix_event_receipts_workspace_id")
        for name, _table, _column in OWNERS:
            batch.drop_constraint(name, type_="foreignkey")
    with op.batch_alter_table("contact_events") as batch:
        batch.drop_index("ix_contact_events_message_id")
        batch.create_index(
            "ix_contact_events_message_id",
            ["message_id"],
            postgresql_where=WITH_MESSAGE,
            sqlite_where=WITH_MESSAGE,
        )


def downgrade():
    with op.batch_alter_table("contact_events") as batch:
        batch.drop_index("ix_contact_events_message_id")
        batch.create_index("ix_contact_events_message_id", ["message_id"])
    with op.batch_alter_table("event_receipts") as batch:
        for name, table, column in OWNERS:
            batch.create_foreign_key(name, table, [column], ["id"], ondelete="CASCADE")
        batch.create_index("ix_event_receipts_workspace_id", ["workspace_id"])
