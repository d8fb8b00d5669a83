"""The enrollments list at a million rows: one index per way into the list, each ordered
like its pages (enrolled_at, id), and on PostgreSQL trigram indexes (pg_trgm) for the
reason and contact searches

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06

"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

LIST_INDEXES = {
    "ix_contact_sequences_list": ["workspace_id", "enrolled_at", "id"],
    "ix_contact_sequences_list_sequence": ["sequence_id", "enrolled_at", "id"],
    "ix_contact_sequences_list_step": ["current_step_id", "enrolled_at", "id"],
    "ix_contact_sequences_list_finished": ["workspace_id", "finished_at"],
}
TRIGRAM_COLUMNS = {
    "contact_sequences": ["enroll_reason", "exit_reason"],
    "contacts": ["email", "first_name", "last_name"],
}


def upgrade():
    for name, columns in LIST_INDEXES.items():
        op.create_index(name, "contact_sequences", columns)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in TRIGRAM_COLUMNS.items():
        for column in columns:
            op.create_index(
                f"ix_{table}_{column}_trgm",
                table,
                [column],
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in TRIGRAM_COLUMNS.items():
            for column in columns:
                op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
    for name in LIST_INDEXES:
        op.drop_index(name, table_name="contact_sequences")
