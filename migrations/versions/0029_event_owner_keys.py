"""Contact events without foreign keys to their tenant and workspace: every insert checked
both, each check taking a KEY SHARE lock on the one workspace (and tenant) row that every
concurrent writer of the workspace's events shares (PostgreSQL then builds a multixact per
row). The event's contact still cascades: deleting a workspace or tenant deletes its
contacts, and their events with them.

Revision ID: 0029
Revises: 0026
Create Date: 2026-12-06

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0029"
down_revision = "0026"
branch_labels = None
depends_on = None

OWNERS = (
    ("fk_contact_events_tenant_id_tenants", "tenants", "tenant_id"),
    ("fk_contact_events_workspace_id_workspaces", "workspaces", "workspace_id"),
)


def upgrade():
    with op.batch_alter_table("contact_events") as batch:
        for name, _table, _column in OWNERS:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade():
    with op.batch_alter_table("contact_events") as batch:
        for name, table, column in OWNERS:
            batch.create_foreign_key(name, table, [column], ["id"], ondelete="CASCADE")
