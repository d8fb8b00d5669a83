"""tracking hits: the last recorded open or click per message, event and client, so that
repeats within the dedup window store nothing

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

import app.models.types

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tracking_hits",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("event_key", sa.String(length=40), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", app.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbound_messages.id"],
            name=op.f("fk_tracking_hits_message_id_outbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "message_id", "event_key", "client_hash", name=op.f("pk_tracking_hits")
        ),
    )
    with op.batch_alter_table("tracking_hits", schema=None) as batch_op:
        batch_op.create_index("ix_tracking_hits_recorded_at", ["recorded_at"], unique=False)


def downgrade():
    with op.batch_alter_table("tracking_hits", schema=None) as batch_op:
        batch_op.drop_index("ix_tracking_hits_recorded_at")

    op.drop_table("tracking_hits")
