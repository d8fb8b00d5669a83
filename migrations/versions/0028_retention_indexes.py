"""Retention (app/services/retention.py): partial indexes that find, oldest first, the
message bodies still kept and the events not about a message; a trimmed message and a
removed event leave them, so a pass never reads what an earlier one did

Revision ID: 0028
Revises: 0023
Create Date: 2026-12-08

"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.create_index(
            "ix_outbound_messages_retention",
            ["queued_at"],
            postgresql_where=sa.text("html IS NOT NULL"),
            sqlite_where=sa.text("html IS NOT NULL"),
        )
    with op.batch_alter_table("contact_events") as batch_op:
        batch_op.create_index(
            "ix_contact_events_retention",
            ["occurred_at"],
            postgresql_where=sa.text("message_id IS NULL"),
            sqlite_where=sa.text("message_id IS NULL"),
        )


def downgrade():
    with op.batch_alter_table("contact_events") as batch_op:
        batch_op.drop_index("ix_contact_events_retention")
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_index("ix_outbound_messages_retention")
