"""The outbox list at a million messages: pages newest first by (queued_at, id) read about a
page of index entries, for the whole workspace and for one sequence (this index replaces the
plain sequence_id one, which it covers)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06

"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.create_index("ix_outbound_messages_outbox", ["workspace_id", "queued_at", "id"])
        batch_op.create_index(
            "ix_outbound_messages_outbox_sequence", ["sequence_id", "queued_at", "id"]
        )
        batch_op.drop_index("ix_outbound_messages_sequence_id")


def downgrade():
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.create_index("ix_outbound_messages_sequence_id", ["sequence_id"])
        batch_op.drop_index("ix_outbound_messages_outbox_sequence")
        batch_op.drop_index("ix_outbound_messages_outbox")
