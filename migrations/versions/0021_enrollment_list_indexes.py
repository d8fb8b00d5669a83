"""The enrollments list at a million rows: one index per way into the list, each ordered
like its pages (enrolled_at, id), and on PostgreSQL trigram indexes (pg_trgm) for the
reason and contact searches; the enrollments' own workspace_id index goes (the list's leads
with it)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

ENDED = "finished_at IS NOT NULL"
LIST_INDEXES = {  # name: (columns, partial on)
    "ix_contact_sequences_list": (["workspace_id", "enrolled_at", "id"], None),
    "ix_contact_sequences_list_step": (["current_step_id", "enrolled_at", "id"], None),
    "ix_contact_sequences_list_finished": (["workspace_id", "finished_at"], ENDED),
}
TRIGRAM_COLUMNS = {  # (table, column): partial on
    ("contact_sequences", "enroll_reason"): None,
    ("contact_sequences", "exit_reason"): "exit_reason IS NOT NULL",
    ("contacts", "email"): None,
    ("contacts", "first_name"): None,
    ("contacts", "last_name"): None,
}


def upgrade():
    for name, (columns, where) in LIST_INDEXES.items():
        partial = sa.text(where) if where else None
        op.create_index(
            name, "contact_sequences", columns, postgresql_where=partial, sqlite_where=partial
        )
    # ix_contact_sequences_list leads with workspace_id: the column's own index is redundant,
    # and each index costs the processor a write per advance.
    op.drop_index("ix_contact_sequences_workspace_id", table_name="contact_sequences")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for (table, column), where in TRIGRAM_COLUMNS.items():
        op.create_index(
            f"ix_{table}_{column}_trgm",
            table,
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
            postgresql_where=sa.text(where) if where else None,
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, column in TRIGRAM_COLUMNS:
            op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
    op.create_index("ix_contact_sequences_workspace_id", "contact_sequences", ["workspace_id"])
    for name in LIST_INDEXES:
        op.drop_index(name, table_name="contact_sequences")
