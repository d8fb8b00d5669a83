"""Sending providers' webhooks: one endpoint per workspace and provider (a URL token) with
the provider's signing secret sealed

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

import app.models.types

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

WHEN = app.models.types.UTCDateTime(timezone=True)


def upgrade():
    op.create_table(
        "provider_hooks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
        sa.UniqueConstraint("workspace_id", "provider"),
    )
    op.create_index("ix_provider_hooks_workspace_id", "provider_hooks", ["workspace_id"])


def downgrade():
    op.drop_table("provider_hooks")
