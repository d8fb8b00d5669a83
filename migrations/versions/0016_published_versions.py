"""Published versions: immutable snapshots per sequence, the version each enrollment and
queued message belongs to, retired steps, drafts of the next version, enrollment history.
Every sequence that has run (active, paused, archived) gets version 1 from its current
graph, and its enrollments and messages are put on it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = app.models.types.UTCDateTime(timezone=True)


def upgrade():
    op.create_table(
        "sequence_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sequence_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("step_ids", JSON, nullable=False),
        sa.Column("plan", JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("published_by", sa.String(length=320), nullable=True),
        sa.Column("published_at", WHEN, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["sequence_id"], ["sequences.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sequence_id", "number"),
    )
    op.create_index("ix_sequence_versions_sequence_id", "sequence_versions", ["sequence_id"])
    op.create_index("ix_sequence_versions_workspace_id", "sequence_versions", ["workspace_id"])
    op.create_table(
        "enrollment_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("sequence_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("from_step", sa.String(length=64), nullable=True),
        sa.Column("to_step", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=320), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["enrollment_id"], ["contact_sequences.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_enrollment_changes_enrollment_id", "enrollment_changes", ["enrollment_id"])
    op.create_index("ix_enrollment_changes_sequence_id", "enrollment_changes", ["sequence_id"])
    op.create_index("ix_enrollment_changes_workspace_id", "enrollment_changes", ["workspace_id"])
    with op.batch_alter_table("sequences") as batch_op:
        batch_op.add_column(sa.Column("published_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("draft_of_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("draft_base", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_sequences_draft_of_id", "sequences", ["draft_of_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_sequences_draft_of_id", ["draft_of_id"], unique=True)
    with op.batch_alter_table("sequence_steps") as batch_op:
        batch_op.add_column(sa.Column("retired_in", sa.Integer(), nullable=True))
    with op.batch_alter_table("contact_sequences") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("sequence_version", sa.Integer(), nullable=True))
    _publish_running_sequences()


def _publish_running_sequences():
    """Version 1 of every sequence that has run, snapshotted from its rows as they are."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    sequences = bind.execute(
        sa.text(
            "SELECT id, tenant_id, workspace_id, name, description, trigger_config, "
            "exit_config, goals_config, re_enrollment_config, settings FROM sequences "
            "WHERE status IN ('active', 'paused', 'archived')"
        )
    ).all()
    versions = sa.table(
        "sequence_versions",
        sa.column("sequence_id", sa.Uuid()),
        sa.column("number", sa.Integer()),
        sa.column("definition", sa.JSON()),
        sa.column("step_ids", sa.JSON()),
        sa.column("plan", sa.JSON()),
        sa.column("note", sa.Text()),
        sa.column("published_at", WHEN),
        sa.column("tenant_id", sa.Uuid()),
        sa.column("workspace_id", sa.Uuid()),
    )
    for seq in sequences:
        steps = bind.execute(
            sa.text(
                "SELECT id, key, name, type, config, ui_position_x, ui_position_y "
                "FROM sequence_steps WHERE sequence_id = :s ORDER BY sort_order"
            ),
            {"s": seq.id},
        ).all()
        key_of = {step.id: step.key for step in steps}
        connections = bind.execute(
            sa.text(
                "SELECT source_step_id, target_step_id, condition_label "
                "FROM sequence_connections WHERE sequence_id = :s ORDER BY sort_order"
            ),
            {"s": seq.id},
        ).all()
        definition = {"format": "sequence/v1", "name": seq.name}
        if seq.description:
            definition["description"] = seq.description
        for key, value in (
            ("trigger", seq.trigger_config),
            ("exit", seq.exit_config),
            ("goals", seq.goals_config),
            ("re_enrollment", seq.re_enrollment_config),
            ("settings", seq.settings),
        ):
            value = json.loads(value) if isinstance(value, str) else value
            if value:
                definition[key] = value
        definition["steps"] = [_step(step) for step in steps]
        definition["connections"] = [
            {
                "source": key_of[c.source_step_id],
                "target": key_of[c.target_step_id],
                "label": c.condition_label,
            }
            for c in connections
        ]
        bind.execute(
            versions.insert().values(
                sequence_id=seq.id,
                number=1,
                definition=definition,
                step_ids={step.key: str(step.id) for step in steps},
                plan=[],
                note="Published before versions were kept",
                published_at=now,
                tenant_id=seq.tenant_id,
                workspace_id=seq.workspace_id,
            )
        )
    bind.execute(
        sa.text(
            "UPDATE sequences SET published_version = 1 "
            "WHERE status IN ('active', 'paused', 'archived')"
        )
    )
    for table in ("contact_sequences", "outbound_messages"):
        column = "version" if table == "contact_sequences" else "sequence_version"
        bind.execute(
            sa.text(
                f"UPDATE {table} SET {column} = 1 WHERE sequence_id IN "
                "(SELECT id FROM sequences WHERE published_version = 1)"
            )
        )


def _step(step):
    config = json.loads(step.config) if isinstance(step.config, str) else step.config
    out = {"id": step.key, "type": step.type}
    if step.name:
        out["name"] = step.name
    out["config"] = config
    if step.ui_position_x is not None and step.ui_position_y is not None:
        out["position"] = {"x": step.ui_position_x, "y": step.ui_position_y}
    return out


def downgrade():
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_column("sequence_version")
    with op.batch_alter_table("contact_sequences") as batch_op:
        batch_op.drop_column("version")
    with op.batch_alter_table("sequence_steps") as batch_op:
        batch_op.drop_column("retired_in")
    with op.batch_alter_table("sequences") as batch_op:
        batch_op.drop_index("ix_sequences_draft_of_id")
        batch_op.drop_constraint("fk_sequences_draft_of_id", type_="foreignkey")
        batch_op.drop_column("draft_base")
        batch_op.drop_column("draft_of_id")
        batch_op.drop_column("published_version")
    op.drop_table("enrollment_changes")
    op.drop_table("sequence_versions")
