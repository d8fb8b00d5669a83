"""sequence test send: when and to whom the launch checklist's test email went

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

"""

import sqlalchemy as sa
from alembic import op

import app.models.types

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sequences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("test_sent_at", app.models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("test_sent_to", sa.String(length=320), nullable=True))


def downgrade():
    with op.batch_alter_table("sequences", schema=None) as batch_op:
        batch_op.drop_column("test_sent_to")
        batch_op.drop_column("test_sent_at")
