"""Event reactions: the events the events API stored whose reactions (trigger enrollment,
goals, segments) have yet to run; the engine's next processor pass runs them in batches

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

import app.models.types

# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_reactions",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claimed_until", app.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["contact_events.id"],
            name=op.f("fk_event_reactions_event_id_contact_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_reactions")),
    )


def downgrade():
    op.drop_table("event_reactions")
