"""Deliverability: sending domains (DKIM key sealed, DNS check, daily cap and spacing), a
workspace's frequency cap per contact, why an enrollment's next email is held back, and
the domain each message was sent from (what a domain's daily cap counts)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.types

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = app.models.types.UTCDateTime(timezone=True)


def upgrade():
    op.create_table(
        "sending_domains",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("selector", sa.String(length=63), nullable=False),
        sa.Column("sealed_private_key", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("verified_at", WHEN, nullable=True),
        sa.Column("last_check", JSON, nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("min_spacing_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "domain"),
    )
    op.create_index("ix_sending_domains_workspace_id", "sending_domains", ["workspace_id"])
    with op.batch_alter_table("workspaces") as batch_op:
        batch_op.add_column(sa.Column("frequency_cap", JSON, nullable=True))
    with op.batch_alter_table("contact_sequences") as batch_op:
        batch_op.add_column(sa.Column("hold_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("sender_domain", sa.String(length=253), nullable=True))
        batch_op.create_index(
            "ix_outbound_messages_sender_day", ["workspace_id", "sender_domain", "sent_at"]
        )


def downgrade():
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_index("ix_outbound_messages_sender_day")
        batch_op.drop_column("sender_domain")
    with op.batch_alter_table("contact_sequences") as batch_op:
        batch_op.drop_column("hold_reason")
    with op.batch_alter_table("workspaces") as batch_op:
        batch_op.drop_column("frequency_cap")
    op.drop_table("sending_domains")
