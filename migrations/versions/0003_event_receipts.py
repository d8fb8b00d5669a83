"""event receipts: the client event ids the events API has seen, for idempotent retries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

"""

import sqlalchemy as sa
from alembic import op

import app.models.types

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("client_event_id", sa.String(length=200), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", app.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_event_receipts_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_event_receipts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_receipts")),
        sa.UniqueConstraint(
            "workspace_id",
            "client_event_id",
            name=op.f("uq_event_receipts_workspace_id_client_event_id"),
        ),
    )
    with op.batch_alter_table("event_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_event_receipts_received_at", ["received_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_event_receipts_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("event_receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_receipts_workspace_id"))
        batch_op.drop_index("ix_event_receipts_received_at")

    op.drop_table("event_receipts")
