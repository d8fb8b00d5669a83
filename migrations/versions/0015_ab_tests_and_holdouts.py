"""A/B tests and holdouts: the decision of each email step's test, the variant on the step
log, the holdout flag and draw number on enrollments (with the sequence's draw counter),
and the index the per-variant counts group by

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.types

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ab_test_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sequence_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("winner", sa.String(length=32), nullable=True),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("decided_by", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "figures",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("decided_at", app.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["sequence_id"], ["sequences.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["step_id"], ["sequence_steps.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("step_id"),
    )
    with op.batch_alter_table("ab_test_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ab_test_decisions_sequence_id"), ["sequence_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ab_test_decisions_workspace_id"), ["workspace_id"], unique=False
        )
    with op.batch_alter_table("contact_sequences", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("holdout", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("draw", sa.Integer(), nullable=True))
    with op.batch_alter_table("sequences", schema=None) as batch_op:
        batch_op.add_column(sa.Column("draws", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("sequence_step_logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant", sa.String(length=32), nullable=True))
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_messages_step_variant", ["step_id", "variant_key"])


def downgrade():
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_step_variant")
    with op.batch_alter_table("sequence_step_logs", schema=None) as batch_op:
        batch_op.drop_column("variant")
    with op.batch_alter_table("sequences", schema=None) as batch_op:
        batch_op.drop_column("draws")
    with op.batch_alter_table("contact_sequences", schema=None) as batch_op:
        batch_op.drop_column("draw")
        batch_op.drop_column("holdout")
    with op.batch_alter_table("ab_test_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ab_test_decisions_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_ab_test_decisions_sequence_id"))
    op.drop_table("ab_test_decisions")
