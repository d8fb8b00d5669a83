"""Event reactions: the events the events API stored whose reactions (trigger enrollment,
goals, segments) have yet to run; the engine's next processor pass runs them in batches

No foreign key to contact_events: its check costs more than the rest of a batch's insert
(PostgreSQL locks each just-inserted event row), and a queued id whose event is gone (its
contact deleted) is simply dropped by the pass.

Revision ID: 0026
Revises: 0028
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

import app.models.types

# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "event_reactions",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claimed_until", app.models.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_reactions")),
    )


def downgrade():
    op.drop_table("event_reactions")
