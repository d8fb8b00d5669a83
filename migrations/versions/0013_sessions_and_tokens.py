"""sessions and tokens: a session generation per user (sign-out and password change end
every session) and a required name per API token (was the optional label)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )

    op.execute("UPDATE api_tokens SET label = 'API token' WHERE label IS NULL OR label = ''")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "label",
            new_column_name="name",
            existing_type=sa.String(length=255),
            nullable=False,
        )


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "name",
            new_column_name="label",
            existing_type=sa.String(length=255),
            nullable=True,
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
