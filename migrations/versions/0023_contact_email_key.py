"""Contacts unique by email key: the whole address lower-cased, so `MARIA.LOPEZ@x` and
`maria.lopez@x` are one contact; existing duplicates are merged first

Each group of contacts of a workspace sharing a key is merged into its oldest contact (the
keeper): fields it lacks, the union of tags, names and time zone it lacks, the earliest
unsubscribe. Events, messages, calls, form submissions, conversions and archived runs move
to the keeper; segment memberships move unless the keeper is already a member. Where the
keeper and a duplicate are enrolled in the same sequence, the two enrollments become one:
the active one (else the keeper's) stays current, and the other's runs become its earlier
runs (numbered first), with its step log, messages and calls moved under negative rotations
(so they never collide with the current run's visits, which count up from 0); its queued
emails are skipped. Nothing recorded is deleted but the duplicate contact rows themselves.

The key column is added NOT NULL with a default '' (SQLite cannot add a NOT NULL column
without one, nor drop it without copying the table, which with foreign keys on would
cascade-delete every contact's events); PostgreSQL then drops the default. The keys are
computed in Python (`app.core.addresses.email_key`) so they equal the application's.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06

"""

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.types
from app.core.addresses import email_key

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = app.models.types.UTCDateTime(timezone=True)
FOLLOW_THE_CONTACT = (
    "contact_events",
    "form_submissions",
    "conversions",
    "enrollment_runs",
    "outbound_messages",
    "outbound_calls",
)
"""Tables whose rows move to the keeper as they are (no uniqueness on the contact)."""
ROTATED = ("sequence_step_logs", "outbound_messages", "outbound_calls")
"""Tables unique by (enrollment_id, step_id, rotation)."""
ENROLLMENT = sa.text("SELECT * FROM contact_sequences WHERE contact_id = :c").columns(
    enrolled_at=WHEN, finished_at=WHEN
)


def upgrade():
    op.add_column(
        "contacts",
        sa.Column("email_key", sa.String(length=320), server_default="", nullable=False),
    )
    bind = op.get_bind()
    query = sa.text("SELECT id, workspace_id, email, created_at FROM contacts")
    rows = bind.execute(query.columns(created_at=WHEN)).mappings()
    groups = defaultdict(list)
    for row in rows:
        groups[(row["workspace_id"], email_key(row["email"]))].append(row)
    keys = [{"k": key, "i": row["id"]} for (_, key), found in groups.items() for row in found]
    if keys:
        bind.execute(sa.text("UPDATE contacts SET email_key = :k WHERE id = :i"), keys)
    now = datetime.now(UTC)
    for found in groups.values():
        if len(found) > 1:
            found.sort(key=lambda row: (row["created_at"], str(row["id"])))
            for duplicate in found[1:]:
                _merge_contact(bind, found[0]["id"], duplicate["id"], now)
    if bind.dialect.name == "postgresql":
        op.alter_column("contacts", "email_key", server_default=None)
    op.create_index(
        "uq_contacts_workspace_id_email_key", "contacts", ["workspace_id", "email_key"], unique=True
    )


def downgrade():
    """Drops the key (merged contacts stay merged). A plain DROP COLUMN: copying the table,
    as batch mode does on SQLite, would cascade-delete the contacts' rows elsewhere."""
    op.drop_index("uq_contacts_workspace_id_email_key", table_name="contacts")
    op.execute("ALTER TABLE contacts DROP COLUMN email_key")


def _merge_contact(bind, keeper, duplicate, now):
    """Move everything of `duplicate` to `keeper`, then delete the duplicate row."""
    contacts = {
        row["id"]: row
        for row in bind.execute(
            sa.text(
                "SELECT id, first_name, last_name, timezone, fields, tags, unsubscribed_at "
                "FROM contacts WHERE id IN (:k, :d)"
            ).columns(fields=JSON, tags=JSON, unsubscribed_at=WHEN),
            {"k": keeper, "d": duplicate},
        ).mappings()
    }
    kept, other = contacts[keeper], contacts[duplicate]
    fields = {**(other["fields"] or {}), **(kept["fields"] or {})}
    tags = sorted(set(kept["tags"] or ()) | set(other["tags"] or ()))
    gone = [at for at in (kept["unsubscribed_at"], other["unsubscribed_at"]) if at is not None]
    bind.execute(
        sa.text(
            "UPDATE contacts SET first_name = :first, last_name = :last, timezone = :zone, "
            "fields = :fields, tags = :tags, unsubscribed_at = :gone WHERE id = :k"
        ).bindparams(
            sa.bindparam("fields", type_=JSON),
            sa.bindparam("tags", type_=JSON),
            sa.bindparam("gone", type_=WHEN),
        ),
        {
            "first": kept["first_name"] or other["first_name"],
            "last": kept["last_name"] or other["last_name"],
            "zone": kept["timezone"] or other["timezone"],
            "fields": fields,
            "tags": tags,
            "gone": min(gone) if gone else None,
            "k": keeper,
        },
    )
    _merge_enrollments(bind, keeper, duplicate, now)
    ids = {"k": keeper, "d": duplicate}
    for table in FOLLOW_THE_CONTACT:
        bind.execute(sa.text(f"UPDATE {table} SET contact_id = :k WHERE contact_id = :d"), ids)
    bind.execute(
        sa.text(
            "UPDATE segment_memberships SET contact_id = :k WHERE contact_id = :d AND segment_id "
            "NOT IN (SELECT segment_id FROM segment_memberships WHERE contact_id = :k)"
        ),
        ids,
    )
    bind.execute(sa.text("DELETE FROM segment_memberships WHERE contact_id = :d"), ids)
    bind.execute(sa.text("DELETE FROM contacts WHERE id = :d"), ids)


def _merge_enrollments(bind, keeper, duplicate, now):
    """Re-point the duplicate's enrollments; two in one sequence become one (see above)."""
    mine = {row["sequence_id"]: row for row in bind.execute(ENROLLMENT, {"c": keeper}).mappings()}
    for row in list(bind.execute(ENROLLMENT, {"c": duplicate}).mappings()):
        if row["sequence_id"] not in mine:
            bind.execute(
                sa.text("UPDATE contact_sequences SET contact_id = :k WHERE id = :e"),
                {"k": keeper, "e": row["id"]},
            )
            continue
        stays, folded = mine[row["sequence_id"]], row
        if folded["status"] in ("active", "paused") and stays["status"] not in ("active", "paused"):
            stays, folded = folded, stays
        _fold_enrollment(bind, stays, folded, now)
        bind.execute(
            sa.text("UPDATE contact_sequences SET contact_id = :k WHERE id = :e"),
            {"k": keeper, "e": stays["id"]},
        )


def _fold_enrollment(bind, stays, folded, now):
    """Make `folded`'s runs the earlier runs of `stays`, move its history, delete it."""
    shift = int(folded["runs"] or 1)
    ids = {"s": stays["id"], "f": folded["id"], "n": shift}
    for table in ("enrollment_runs", "conversions"):  # two steps: no transient collision
        bind.execute(sa.text(f"UPDATE {table} SET run = -run WHERE enrollment_id = :s"), ids)
        bind.execute(sa.text(f"UPDATE {table} SET run = :n - run WHERE enrollment_id = :s"), ids)
    bind.execute(
        sa.text("UPDATE contact_sequences SET runs = runs + :n WHERE id = :s"),
        ids,
    )
    ended = folded["status"] not in ("active", "paused")
    bind.execute(
        sa.text(
            "INSERT INTO enrollment_runs (enrollment_id, sequence_id, contact_id, run, status, "
            "enrolled_at, finished_at, enroll_reason, exit_reason, tenant_id, workspace_id) "
            "VALUES (:s, :seq, :c, :n, :status, :enrolled, :finished, :why, :left, :t, :w)"
        ).bindparams(sa.bindparam("enrolled", type_=WHEN), sa.bindparam("finished", type_=WHEN)),
        {
            **ids,
            "seq": folded["sequence_id"],
            "c": stays["contact_id"],
            "status": folded["status"] if ended else "exited",
            "enrolled": folded["enrolled_at"],
            "finished": folded["finished_at"] if ended else now,
            "why": folded["enroll_reason"],
            "left": folded["exit_reason"] if ended else "merged: duplicate contact",
            "t": folded["tenant_id"],
            "w": folded["workspace_id"],
        },
    )
    for table in ("enrollment_runs", "conversions", "enrollment_changes"):
        bind.execute(
            sa.text(f"UPDATE {table} SET enrollment_id = :s WHERE enrollment_id = :f"), ids
        )
    top = max(
        bind.execute(
            sa.text(f"SELECT MAX(rotation) FROM {table} WHERE enrollment_id = :f"), ids
        ).scalar()
        or 0
        for table in ROTATED
    )
    bind.execute(  # a folded run's queued emails would otherwise go out as the current run's
        sa.text(
            "UPDATE outbound_messages SET status = 'skipped', last_error = :left "
            "WHERE enrollment_id = :f AND status = 'queued'"
        ),
        {**ids, "left": "merged: duplicate contact"},
    )
    for table in ROTATED:
        bind.execute(
            sa.text(
                f"UPDATE {table} SET enrollment_id = :s, rotation = rotation - :top "
                "WHERE enrollment_id = :f"
            ),
            {**ids, "top": top + 1},
        )
    bind.execute(
        sa.text("UPDATE contact_events SET enrollment_id = :s WHERE enrollment_id = :f"), ids
    )
    bind.execute(sa.text("DELETE FROM contact_sequences WHERE id = :f"), ids)
