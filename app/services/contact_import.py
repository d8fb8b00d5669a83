"""CSV imports of contacts, worked through a chunk at a time so the page can show progress.

The upload is checked and stored at once (`start_import`); a periodic job then takes the
oldest unfinished import and processes its next chunk of rows set-based (`process_pending`):
one query finds the chunk's existing contacts, new ones are inserted and existing ones
updated in bulk. A custom field an import changes on an existing contact is recorded as a
`field_changed` event (source "import") through `contact_changes.record_events`, in the
chunk's transaction, so waits and goals on that field react at once. A row that cannot be
used (a bad email or time zone) is skipped and reported with its line number and field.
Addresses on the suppression list stay on it, and an unsubscribed one is imported as
unsubscribed. A file with a NUL character anywhere is refused whole (it cannot be stored),
naming the row and column.

Columns: `email` (required), `first_name`, `last_name`, `timezone`, `tags` (separated by
";"); any other column is a custom field. Empty cells leave existing values alone.
"""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.core import limits
from app.core.addresses import email_key
from app.core.contact_input import field_key_problem, field_value_problem
from app.core.text_rules import single_line_problem
from app.core.time_zones import zone_problem
from app.extensions import db
from app.models import Contact, ContactImport, Segment, Workspace
from app.models.contact import PROFILE_COLUMNS
from app.services import segments
from app.services.bulk import insert_rows, update_rows
from app.services.contact_changes import differs, field_changed, record_events
from app.services.contacts import ContactError, normalise_email
from app.services.suppression import suppressed_emails

BUILTIN = ("email", "first_name", "last_name", "timezone", "tags")
MAX_BYTES = 20 * 1024 * 1024
MAX_ERRORS = 1000
"""Errors kept for the report; further bad rows are still skipped and counted."""


class ContactImportError(ValueError):
    """An upload that cannot be imported at all, naming the form field at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class _Row:
    """One usable CSV row; None and empty collections mean "leave as it is"."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    timezone: str | None = None
    tags: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)

    def merge(self, later: _Row) -> None:
        """A later row for the same address in the same chunk: its values win."""
        self.first_name = later.first_name or self.first_name
        self.last_name = later.last_name or self.last_name
        self.timezone = later.timezone or self.timezone
        self.tags |= later.tags
        self.fields.update(later.fields)


@dataclass
class _Written:
    """What one chunk's write did: counts, the contacts it touched and the field changes."""

    created: int = 0
    updated: int = 0
    suppressed: int = 0
    ids: list[uuid.UUID] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def start_import(
    workspace: Workspace,
    filename: str,
    text: str,
    created_by: uuid.UUID | None,
    segment_id: uuid.UUID | None = None,
) -> ContactImport:
    """Check the header and the segment, count the rows and queue the import."""
    text = text.removeprefix("\ufeff")
    if len(text) > MAX_BYTES:
        raise ContactImportError(f"the file is larger than {MAX_BYTES // 2**20} MB", "file")
    if "\x00" in text:
        raise ContactImportError(_nul_message(text), "file")
    read_header(text)
    try:
        total = sum(1 for _ in _records(text))
    except csv.Error as exc:
        raise ContactImportError(f"the file is not valid CSV: {exc}", "file") from None
    if total == 0:
        raise ContactImportError("the file has no rows below its header", "file")
    if segment_id is not None:
        segment = segments.get_segment(workspace.id, segment_id)
        if segment is None or segment.kind != "static":
            raise ContactImportError("choose one of your static segments", "segment")
    job = ContactImport(
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        filename=(filename or "contacts.csv")[:255],
        content=text,
        status="pending",
        segment_id=segment_id,
        total_rows=total,
        errors=[],
        created_by=created_by,
    )
    db.session.add(job)
    db.session.commit()
    return job


def _nul_message(text: str) -> str:
    """Where the first NUL character is, as the person who made the file would look for it."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    rows = itertools.chain([(1, header)], ((reader.line_num, cells) for cells in reader))
    for line, cells in rows:
        for number, cell in enumerate(cells, start=1):
            if "\x00" in cell:
                name = header[number - 1].strip() if line > 1 and number <= len(header) else ""
                column = f"column {number}" + (f" ({name!r})" if name else "")
                return f"row {line}, {column} contains a NUL character; remove it"
    return "the file contains a NUL character; remove it"


def read_header(text: str) -> list[str]:
    """The column names: built-in ones normalised ("First Name" is first_name), any other
    kept as written for its custom field. Needs an email column, no blanks, no repeats."""
    try:
        header = next(csv.reader(io.StringIO(text)), None)
    except csv.Error as exc:
        raise ContactImportError(f"the file is not valid CSV: {exc}", "file") from None
    if not header or not any(cell.strip() for cell in header):
        raise ContactImportError("the file is empty; its first line must name the columns", "file")
    columns = []
    for number, cell in enumerate(header, start=1):
        name = cell.strip()
        key = name.lower().replace(" ", "_")
        if not name:
            raise ContactImportError(f"column {number} has no name in the header line", "file")
        column = key if key in BUILTIN else name
        problem = None if column in BUILTIN else field_key_problem(column)
        if problem is not None:
            raise ContactImportError(f"column {number}: {problem}", "file")
        if column in columns:
            raise ContactImportError(f"the column {name!r} appears twice", "file")
        columns.append(column)
    if "email" not in columns:
        found = ", ".join(columns)
        raise ContactImportError(f"the file needs an 'email' column (found: {found})", "file")
    return columns


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each row below the header; blank lines are not rows."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def process_pending(now: datetime, chunk: int = 1000) -> int:
    """Process the next chunk of the oldest unfinished import; how many rows it took.

    The import row is locked (others skip it) until the chunk commits, so two workers never
    take the same rows."""
    job = db.session.scalar(
        select(ContactImport)
        .where(ContactImport.status.in_(("pending", "running")))
        .order_by(ContactImport.created_at, ContactImport.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if job is None:
        return 0
    workspace_id = job.workspace_id
    records = list(
        itertools.islice(_records(job.content), job.processed_rows, job.processed_rows + chunk)
    )
    rows, errors, repeats = _parse(read_header(job.content), records)
    written = _write(job, rows, now)
    ids = written.ids
    job.created_count += written.created
    job.updated_count += written.updated + repeats
    job.suppressed_count += written.suppressed
    job.errors = [*job.errors, *errors][:MAX_ERRORS]
    job.processed_rows += len(records)
    job.status = "running"
    if not records or job.processed_rows >= job.total_rows:
        job.status, job.finished_at, job.content = "done", now, ""
    segment = db.session.get(Segment, job.segment_id) if job.segment_id else None
    joined = None
    if segment is not None and segment.workspace_id == workspace_id and ids:
        joined = segments.stage_members(segment, ids, now, source="import")

    def enroll(_stored: list[dict[str, Any]]) -> None:
        """The segment's joiners, through its triggers, once the chunk is committed."""
        if joined is not None:
            joined.enroll(now)

    record_events(written.events, now, changed={workspace_id: ids}, after_commit=enroll)
    return len(records)


def _parse(
    columns: list[str], records: list[tuple[int, list[str]]]
) -> tuple[dict[str, _Row], list[dict[str, Any]], int]:
    """The usable rows by email (repeats merged), the errors, and how many rows repeated
    an address already in this chunk."""
    rows: dict[str, _Row] = {}
    errors: list[dict[str, Any]] = []
    repeats = 0
    for line, cells in records:
        values = {name: cell.strip() for name, cell in zip(columns, cells, strict=False)}
        try:
            row = _row(values)
        except ContactError as exc:
            errors.append({"row": line, "field": exc.field, "message": str(exc)})
            continue
        key = email_key(row.email)
        if key in rows:
            rows[key].merge(row)
            repeats += 1
        else:
            rows[key] = row
    return rows, errors, repeats


def _row(values: dict[str, str]) -> _Row:
    email = normalise_email(values.get("email"))
    for name in ("first_name", "last_name"):
        value = values.get(name) or ""
        if len(value) > limits.NAME:
            raise ContactError(f"{name} has at most {limits.NAME} characters", name)
        if single_line_problem(value):
            raise ContactError(f"{name} {single_line_problem(value)}", name)
    for key, value in values.items():
        problem = None if key in BUILTIN else field_value_problem(value)
        if problem is not None:
            raise ContactError(problem, key)
    zone = values.get("timezone") or None
    if zone is not None and (problem := zone_problem(zone)) is not None:
        raise ContactError(problem, "timezone")
    return _Row(
        email=email,
        first_name=values.get("first_name") or None,
        last_name=values.get("last_name") or None,
        timezone=zone,
        tags={tag.strip() for tag in (values.get("tags") or "").split(";") if tag.strip()},
        fields={k: v for k, v in values.items() if k not in BUILTIN and v},
    )


def _write(job: ContactImport, rows: dict[str, _Row], now: datetime) -> _Written:
    """Insert the new contacts and update the existing ones in bulk, inside the caller's
    transaction; the field changes come back as event rows, for the caller to record."""
    if not rows:
        return _Written()
    existing = {
        r.email_key: r
        for r in db.session.execute(
            select(*PROFILE_COLUMNS, Contact.email_key).where(
                Contact.workspace_id == job.workspace_id, Contact.email_key.in_(list(rows))
            )
        )
    }
    suppressed = suppressed_emails(job.workspace_id, list(rows))
    new, changed, ids, events = [], [], [], []
    for key, row in rows.items():
        gone = now if suppressed.get(key) == "unsubscribed" else None
        old = existing.get(key)
        if old is None:
            new.append(_new_contact(job, row, gone, now))
            ids.append(new[-1]["id"])
            continue
        changed.append(
            {
                "id": old.id,
                "first_name": row.first_name or old.first_name,
                "last_name": row.last_name or old.last_name,
                "timezone": row.timezone or old.timezone,
                "fields": {**(old.fields or {}), **row.fields},
                "tags": sorted(set(old.tags or ()) | row.tags),
                "unsubscribed_at": old.unsubscribed_at or gone,
                "updated_at": now,
            }
        )
        ids.append(old.id)
        events += _field_events(job, old.id, old.fields or {}, row.fields, now)
    insert_rows(Contact.__table__, new)
    update_rows(Contact.__table__, changed)
    return _Written(len(new), len(changed), len(suppressed), ids, events)


def _field_events(
    job: ContactImport,
    contact_id: uuid.UUID,
    old: dict[str, Any],
    new: dict[str, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """`field_changed` rows for the custom fields this row really changes (a cell's text
    never equals a stored number, so "3" over 3 is a change, as the API would record it)."""
    return [
        field_changed(job, contact_id, key, old.get(key), value, now, "import")
        for key, value in new.items()
        if key not in old or differs(old[key], value)
    ]


def _new_contact(
    job: ContactImport, row: _Row, unsubscribed_at: datetime | None, now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": job.tenant_id,
        "workspace_id": job.workspace_id,
        "email": row.email,
        "email_key": email_key(row.email),  # COPY applies no column default
        "first_name": row.first_name,
        "last_name": row.last_name,
        "timezone": row.timezone,
        "fields": row.fields,
        "tags": sorted(row.tags),
        "unsubscribed_at": unsubscribed_at,
        "created_at": now,
        "updated_at": now,
    }


def get_import(workspace_id: uuid.UUID, import_id: uuid.UUID) -> ContactImport | None:
    return db.session.scalar(
        ContactImport.in_workspace(workspace_id, ContactImport.id == import_id)
    )
