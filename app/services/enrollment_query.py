"""Which enrollments a list, a count or a bulk intervention means: one filter, parsed from
query parameters, turned into SQL once, paged by key so a million rows page as fast as ten.

The web list, the API list and the bulk interventions all read this module, so a filter in
a URL selects the same rows everywhere."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select, union_all

from app.config import current_settings
from app.extensions import db
from app.http.dates import EARLIEST, LATEST
from app.http.numbers import INT32_MAX
from app.models import Contact, ContactSequence, Sequence, SequenceStep
from app.models.enrollment import ENROLLMENT_STATUSES
from app.services.contact_views import contains_pattern
from app.services.contact_views import matching as contact_matching
from app.services.enrollment import listing
from app.services.stuck import stuck_enrollment

COUNT_CAP = 10_000
"""Counts stop here (the UI shows "10,000+"): an exact count of a million rows reads them
all, while a capped one reads at most this many index entries."""
MAX_TEXT = 200
TRUE_WORDS = frozenset({"1", "true", "on", "yes"})
FALSE_WORDS = frozenset({"0", "false", "off", "no"})
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

SEQUENCE_ALIAS = "sequence"
"""The older `?sequence=` the report links to, read like `sequence_id`."""


class FilterError(ValueError):
    """A filter value that cannot be used, naming its parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class EnrollmentFilter:
    """What to list; None (False for `stuck`) leaves that side open. Instants are UTC;
    `*_from` is included and `*_to` excluded."""

    sequence_id: uuid.UUID | None = None
    version: int | None = None
    status: str | None = None
    step: uuid.UUID | None = None  # sequence_steps.id of the current step
    started_from: datetime | None = None
    started_to: datetime | None = None
    ended_from: datetime | None = None
    ended_to: datetime | None = None
    reason: str | None = None  # contained in the enroll or exit reason, any case
    contact: str | None = None  # words of the contact's email or name
    stuck: bool = False

    def to_args(self) -> dict[str, str]:
        """The query parameters `parse` reads back into this filter (for links)."""
        args: dict[str, str] = {}
        for name, field in PARAMS.items():
            value = getattr(self, field)
            if value is None or value is False:
                continue
            if value is True:
                args[name] = "1"
            elif isinstance(value, datetime):
                args[name] = _instant_text(value)
            else:
                args[name] = str(value)
        return args

    @property
    def active(self) -> bool:
        return self != EnrollmentFilter()


PARAMS = {
    "sequence_id": "sequence_id",
    "version": "version",
    "status": "status",
    "step": "step",
    "started_after": "started_from",
    "started_before": "started_to",
    "ended_after": "ended_from",
    "ended_before": "ended_to",
    "reason": "reason",
    "contact": "contact",
    "stuck": "stuck",
}
"""Query parameter -> EnrollmentFilter field, the same in the pages, the API and bulk."""


def parse(args: Mapping[str, str]) -> EnrollmentFilter:
    """The filter these query parameters describe; blank values are left out, unknown
    parameters ignored. FilterError names the first bad one."""

    def text(name: str) -> str | None:
        raw = (args.get(name) or "").strip()
        return raw or None

    sequence_param = "sequence_id" if text("sequence_id") else SEQUENCE_ALIAS
    started_from = _instant(text("started_after"), "started_after")
    started_to = _instant(text("started_before"), "started_before")
    ended_from = _instant(text("ended_after"), "ended_after")
    ended_to = _instant(text("ended_before"), "ended_before")
    for low, high, name in (
        (started_from, started_to, "started_before"),
        (ended_from, ended_to, "ended_before"),
    ):
        if low and high and high <= low:
            raise FilterError(name, f"{name} must be later than {name.split('_')[0]}_after")
    return EnrollmentFilter(
        sequence_id=_uuid(text(sequence_param), sequence_param),
        version=_version(text("version")),
        status=_status(text("status")),
        step=_uuid(text("step"), "step"),
        started_from=started_from,
        started_to=started_to,
        ended_from=ended_from,
        ended_to=ended_to,
        reason=_words(text("reason"), "reason"),
        contact=_words(text("contact"), "contact"),
        stuck=_flag(text("stuck"), "stuck"),
    )


def _uuid(raw: str | None, name: str) -> uuid.UUID | None:
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise FilterError(name, f"{name} must be an id (a UUID)") from None


def _version(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 1 <= int(raw) <= INT32_MAX:
        raise FilterError("version", "version must be a version number (1, 2, ...)")
    return int(raw)


def _status(raw: str | None) -> str | None:
    if raw is not None and raw not in ENROLLMENT_STATUSES:
        raise FilterError("status", f"status must be one of {', '.join(ENROLLMENT_STATUSES)}")
    return raw


def _instant(raw: str | None, name: str) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 instant (UTC when it names no offset)."""
    if raw is None:
        return None
    try:
        if _DAY.fullmatch(raw):
            value = datetime.combine(date.fromisoformat(raw), time(), UTC)
        else:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except ValueError:
        value = None
    if value is None or not EARLIEST <= value.date() <= LATEST:
        raise FilterError(
            name, f"{name} must be a date (2026-12-07) or a time (2026-12-07T14:30:00Z)"
        )
    return value


def _instant_text(value: datetime) -> str:
    """A date when it is midnight UTC (what a date field shows), else ISO 8601."""
    value = value.astimezone(UTC)
    return value.date().isoformat() if value.timetz() == time(tzinfo=UTC) else value.isoformat()


def _words(raw: str | None, name: str) -> str | None:
    if raw is not None and len(raw) > MAX_TEXT:
        raise FilterError(name, f"{name} must be at most {MAX_TEXT} characters")
    return raw


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw.lower() in FALSE_WORDS:
        return False
    if raw.lower() in TRUE_WORDS:
        return True
    raise FilterError(name, f"{name} must be true or false")


def criteria(workspace_id: uuid.UUID, flt: EnrollmentFilter, now: datetime) -> list[Any]:
    """The WHERE of the workspace's enrollments this filter selects."""
    where: list[Any] = [ContactSequence.workspace_id == workspace_id]
    column_equals = (
        (ContactSequence.sequence_id, flt.sequence_id),
        (ContactSequence.version, flt.version),
        (ContactSequence.status, flt.status),
        (ContactSequence.current_step_id, flt.step),
    )
    where += [column == value for column, value in column_equals if value is not None]
    bounds = (
        (ContactSequence.enrolled_at, flt.started_from, flt.started_to),
        (ContactSequence.finished_at, flt.ended_from, flt.ended_to),
    )
    for column, low, high in bounds:
        if low is not None:
            where.append(column >= low)
        if high is not None:
            where.append(column < high)
    if flt.reason is not None:
        pattern = contains_pattern(flt.reason)
        where.append(
            or_(
                ContactSequence.enroll_reason.ilike(pattern, escape="\\"),
                ContactSequence.exit_reason.ilike(pattern, escape="\\"),
            )
        )
    if flt.contact is not None:
        found = select(Contact.id).where(
            Contact.workspace_id == workspace_id, contact_matching(flt.contact)
        )
        where.append(ContactSequence.contact_id.in_(found))
    if flt.stuck:
        where.append(stuck_enrollment(now, current_settings().stuck_after_seconds))
    return where


def matching_ids(workspace_id: uuid.UUID, flt: EnrollmentFilter, now: datetime) -> Select[Any]:
    """The ids of the workspace's enrollments the filter selects, for `IN (...)`."""
    return select(ContactSequence.id).where(*criteria(workspace_id, flt, now))


def count(workspace_id: uuid.UUID, flt: EnrollmentFilter, now: datetime) -> int:
    """How many enrollments match, at most COUNT_CAP + 1 (more than COUNT_CAP)."""
    return int(db.session.scalar(_capped(criteria(workspace_id, flt, now))) or 0)


def status_counts(workspace_id: uuid.UUID, flt: EnrollmentFilter, now: datetime) -> dict[str, int]:
    """For each status, how many would match the filter with that status instead of its
    own (each at most COUNT_CAP + 1), in one statement."""
    parts = [
        _capped(criteria(workspace_id, dataclasses.replace(flt, status=status), now), status)
        for status in ENROLLMENT_STATUSES
    ]
    found = dict(db.session.execute(union_all(*parts)).all())
    return {status: int(found.get(status, 0)) for status in ENROLLMENT_STATUSES}


def _capped(where: list[Any], label: str | None = None) -> Select[Any]:
    """SELECT [label,] count(*) FROM (the first COUNT_CAP + 1 matching rows)."""
    rows = select(literal(1).label("one")).select_from(ContactSequence).where(*where)
    limited = rows.limit(COUNT_CAP + 1).subquery()
    columns = ([literal(label).label("status")] if label is not None else []) + [func.count()]
    return select(*columns).select_from(limited)


@dataclass(frozen=True)
class Page:
    """Rows newest first (as enrollment.listing gives them) and the cursors around them;
    None where there is nothing further that way."""

    rows: list[Any]
    next_cursor: str | None
    prev_cursor: str | None


def page(
    workspace_id: uuid.UUID,
    flt: EnrollmentFilter,
    now: datetime,
    cursor: str | None,
    limit: int,
) -> Page:
    """One page, newest first by (enrolled_at, id); `cursor` (from a Page) says where it
    starts: a key and a direction. Rows sharing an enrolled_at are ordered by id, so every
    row is on exactly one page. The LIMIT is applied to the ids before the joins."""
    backwards, key = _decode(cursor) if cursor else (False, None)
    when, ident = ContactSequence.enrolled_at, ContactSequence.id
    where = criteria(workspace_id, flt, now)
    if key is not None:
        at, key_id = key
        if backwards:
            where.append(when >= at)  # lets the index range start at the key
            where.append(or_(when > at, and_(when == at, ident > key_id)))
        else:
            where.append(when <= at)
            where.append(or_(when < at, and_(when == at, ident < key_id)))
    order = (when.asc(), ident.asc()) if backwards else (when.desc(), ident.desc())
    ids = select(ident).where(*where).order_by(*order).limit(limit + 1).subquery()
    rows = list(
        db.session.execute(listing(ContactSequence.id.in_(select(ids.c.id))).order_by(*order))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    if not rows:
        return Page([], None, None)
    first, last = rows[0].ContactSequence, rows[-1].ContactSequence
    has_next = more if not backwards else True
    has_prev = more if backwards else key is not None
    return Page(
        rows,
        _encode(False, last.enrolled_at, last.id) if has_next else None,
        _encode(True, first.enrolled_at, first.id) if has_prev else None,
    )


def _encode(backwards: bool, at: datetime, ident: uuid.UUID) -> str:
    raw = f"{'b' if backwards else 'a'}|{at.astimezone(UTC).isoformat()}|{ident}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[bool, tuple[datetime, uuid.UUID]]:
    """Raises FilterError("cursor") for anything `_encode` did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        way, at, ident = raw.split("|")
        when = datetime.fromisoformat(at)
        if way not in ("a", "b") or when.tzinfo is None:
            raise ValueError(way)
        return way == "b", (when, uuid.UUID(ident))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise FilterError("cursor", "cursor is not one this list gave out") from None


def unknown_reference(workspace_id: uuid.UUID, flt: EnrollmentFilter) -> str | None:
    """The parameter naming a sequence or step that is not the workspace's (answered 404,
    like any other workspace's id), or None."""
    if flt.sequence_id is not None:
        owned = Sequence.in_workspace(workspace_id, Sequence.id == flt.sequence_id)
        if db.session.scalar(owned.with_only_columns(Sequence.id)) is None:
            return "sequence_id"
    if flt.step is not None:
        owned_step = (
            select(SequenceStep.id)
            .join(Sequence, Sequence.id == SequenceStep.sequence_id)
            .where(SequenceStep.id == flt.step, Sequence.workspace_id == workspace_id)
        )
        if db.session.scalar(owned_step) is None:
            return "step"
    return None


def sequence_choices(workspace_id: uuid.UUID) -> list[Sequence]:
    """The sequences the filter form offers, by name."""
    stmt = Sequence.in_workspace(workspace_id, Sequence.listed()).order_by(Sequence.name)
    return list(db.session.scalars(stmt))


def step_choices(workspace_id: uuid.UUID, sequence_id: uuid.UUID) -> list[SequenceStep]:
    """The sequence's steps, those removed by a later version too (contacts may still be
    on one), in the author's order."""
    stmt = (
        select(SequenceStep)
        .join(Sequence, Sequence.id == SequenceStep.sequence_id)
        .where(SequenceStep.sequence_id == sequence_id, Sequence.workspace_id == workspace_id)
        .order_by(SequenceStep.sort_order, SequenceStep.key)
    )
    return list(db.session.scalars(stmt))
