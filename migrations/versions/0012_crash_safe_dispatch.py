"""crash-safe dispatch: a lease per claimed message and the moment SMTP accepted it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

import app.models.types

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "lease_expires_at", app.models.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("accepted_at", app.models.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("lease_expires_at")
