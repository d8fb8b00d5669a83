"""contact events by message: the report counts opens and clicks per sent message

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.create_index("ix_contact_events_message_id", ["message_id"], unique=False)


def downgrade():
    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_events_message_id")
