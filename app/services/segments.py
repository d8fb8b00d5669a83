"""Segments: static lists filled by hand or by import, and rule segments kept up to date.

A rule is a branch condition limited to what a contact is and did: `field`, `tag` and
`event` conditions combined with all/any/not. Rules are data evaluated in Python by
`app.core.conditions`, never turned into SQL. A rule's `field` sees the contact's custom
fields plus email, first_name, last_name and timezone (a custom field of the same name wins).
Event lookbacks count in UTC.

Every writer of contacts calls `reactions.after_change`, which re-evaluates the workspace's
rule segments for the contacts concerned (`refresh_contacts`); rules whose truth changes
with time alone ("an event in the last 7 days") are caught up by `refresh_all`.

Joining records a `segment_joined` event and enrolls the contact in every active sequence
with a `segment_join` trigger naming the segment; leaving records `segment_left`. Membership
rows are inserted with ON CONFLICT DO NOTHING and deleted with RETURNING, so of two
concurrent refreshes only one sees the change: nobody joins (or is enrolled) twice.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import yaml
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core import conditions, limits, safe_yaml, waits
from app.core.events import SEGMENT_JOINED, SEGMENT_LEFT
from app.core.format.parse import step_config_problems
from app.extensions import db
from app.models import Contact, ContactEvent, Segment, SegmentMembership, Workspace
from app.models.contact import PROFILE_COLUMNS
from app.services import segment_renames, triggers

RULE_TYPES = ("field", "tag", "event")
KINDS = ("static", "rule")
BATCH = 1000
"""Contacts evaluated per round of queries; also keeps IN lists under bind-parameter limits."""


class SegmentError(ValueError):
    """Bad segment input, naming the field at fault (`rule.all[0].op`, `name`, ...)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class Target(NamedTuple):
    """A segment's identity and rule, read once: commits between batches expire ORM rows."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    rule: dict[str, Any]

    @classmethod
    def of(cls, segment: Segment) -> Target:
        return cls(
            segment.id, segment.tenant_id, segment.workspace_id, segment.name, segment.rule or {}
        )


class Person(NamedTuple):
    """What enrolling needs of a contact (see `triggers.enroll_on_trigger`)."""

    id: uuid.UUID
    email: str
    unsubscribed_at: datetime | None


@dataclass
class Changes:
    """Who joined and who left which segment (by segment id) in one refresh."""

    joined: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    left: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(map(len, self.joined.values())) + sum(map(len, self.left.values()))


# --- Rules -----------------------------------------------------------------------------------


def parse_rule(source: str | Mapping[str, Any]) -> dict[str, Any]:
    """A rule from JSON or YAML text (or a dict), validated like a branch condition and
    limited to field, tag and event conditions; SegmentError names the field at fault."""
    data = _load(source) if isinstance(source, str) else source
    if not isinstance(data, dict):
        raise SegmentError("a rule must be a mapping such as {type: tag, tag: vip}", "rule")
    _check_size(data)
    problems = step_config_problems("branch", {"condition": data})
    if problems:
        problem = problems[0]
        where = (problem.field or "").replace("config.condition", "rule", 1) or "rule"
        raise SegmentError(problem.message, where)
    _check_types(data, "rule")
    return data


def _load(text: str) -> Any:
    """JSON when it looks like JSON (for its precise positions), else YAML (plain data only,
    no objects, no aliases: see `safe_yaml`)."""
    if not text.strip():
        raise SegmentError("a rule segment needs a rule", "rule")
    if len(text) > limits.RULE:
        raise SegmentError(f"a rule has at most {limits.RULE:,} characters", "rule")
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            message = f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            raise SegmentError(message, "rule") from None
    try:
        return safe_yaml.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        detail = f": {problem}" if problem else ""
        raise SegmentError(f"invalid YAML{where}{detail}", "rule") from None


def _check_size(rule: Mapping[str, Any]) -> None:
    """Every contact write in the workspace evaluates its rules, so a rule stays small:
    nesting, number of conditions and JSON size are limited before it is validated."""
    if limits.json_depth(rule) > 2 * limits.RULE_DEPTH + 2:  # {"all": [...]} is two levels
        message = f"a rule nests conditions at most {limits.RULE_DEPTH} levels deep"
        raise SegmentError(message, "rule")
    count, stack = 0, [rule]
    while stack:
        node = stack.pop()
        count += 1
        if isinstance(node, Mapping):
            for key in ("all", "any"):
                children = node.get(key)
                stack.extend(children if isinstance(children, list) else [])
            if isinstance(node.get("not"), Mapping):
                stack.append(node["not"])
    if count > limits.RULE_CONDITIONS:
        raise SegmentError(f"a rule has at most {limits.RULE_CONDITIONS} conditions", "rule")
    problem = limits.json_size_problem(rule, limits.RULE)
    if problem is not None:
        raise SegmentError(f"the rule {problem}", "rule")


def _check_types(condition: Mapping[str, Any], where: str) -> None:
    for key in ("all", "any"):
        if key in condition:
            for index, child in enumerate(condition[key]):
                _check_types(child, f"{where}.{key}[{index}]")
            return
    if "not" in condition:
        _check_types(condition["not"], f"{where}.not")
        return
    if condition.get("type") not in RULE_TYPES:
        raise SegmentError(
            f"segment rules use field, tag and event conditions (with all, any, not), "
            f"not {condition.get('type')!r}",
            f"{where}.type",
        )


def rule_text(rule: Mapping[str, Any] | None) -> str:
    """A rule as the indented JSON the segment page shows."""
    return json.dumps(rule, indent=2, ensure_ascii=False) if rule else ""


# --- Segments --------------------------------------------------------------------------------


def list_segments(workspace_id: uuid.UUID) -> list[tuple[Segment, int]]:
    """The workspace's segments by name, each with its member count (one query)."""
    counts = (
        select(SegmentMembership.segment_id, func.count().label("members"))
        .where(SegmentMembership.workspace_id == workspace_id)
        .group_by(SegmentMembership.segment_id)
        .subquery()
    )
    stmt = (
        select(Segment, func.coalesce(counts.c.members, 0))
        .outerjoin(counts, counts.c.segment_id == Segment.id)
        .where(Segment.workspace_id == workspace_id)
        .order_by(Segment.name)
    )
    return [(segment, int(members)) for segment, members in db.session.execute(stmt)]


def get_segment(workspace_id: uuid.UUID, segment_id: uuid.UUID) -> Segment | None:
    return db.session.scalar(Segment.in_workspace(workspace_id, Segment.id == segment_id))


def create_segment(
    workspace: Workspace,
    name: str,
    kind: str,
    rule: str | Mapping[str, Any] | None,
    now: datetime,
) -> Segment:
    """A new static or rule segment; a rule segment is filled with the contacts matching
    it at once (and they join it, so `segment_join` triggers fire)."""
    name = _checked_name(workspace.id, name)
    if kind not in KINDS:
        raise SegmentError(f"kind must be 'static' or 'rule', not {kind!r}", "kind")
    parsed = parse_rule(rule or "") if kind == "rule" else None
    segment = Segment(
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        name=name,
        kind=kind,
        rule=parsed,
    )
    db.session.add(segment)
    db.session.commit()
    if kind == "rule":
        _refresh_everyone(workspace.id, [Target.of(segment)], now)
    return segment


def rename_segment(segment: Segment, name: str) -> int:
    """Rename, and in the same commit point every trigger, condition, published version and
    template naming the old name at the new one (see `segment_renames`), so they keep
    working. Returns how many sequences name the segment."""
    if name.strip() == segment.name:
        return 0
    old, segment.name = segment.name, _checked_name(segment.workspace_id, name)
    affected = segment_renames.rename_references(segment.workspace_id, old, segment.name)
    db.session.commit()
    return affected


def delete_segment(segment: Segment) -> None:
    """The segment and its memberships go; contacts and their events stay."""
    db.session.delete(segment)
    db.session.commit()


def _checked_name(workspace_id: uuid.UUID, name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise SegmentError("a segment needs a name", "name")
    if len(name) > 255:
        raise SegmentError("a segment name has at most 255 characters", "name")
    taken = db.session.scalar(
        select(Segment.id).where(Segment.workspace_id == workspace_id, Segment.name == name)
    )
    if taken is not None:
        raise SegmentError(f"there is already a segment named {name!r}", "name")
    return name


def members(workspace_id: uuid.UUID, segment_id: uuid.UUID, limit: int, offset: int) -> list[Any]:
    """A page of the segment's contacts, by email, with when each joined."""
    stmt = (
        select(Contact, SegmentMembership.joined_at)
        .join(SegmentMembership, SegmentMembership.contact_id == Contact.id)
        .where(
            SegmentMembership.workspace_id == workspace_id,
            SegmentMembership.segment_id == segment_id,
        )
        .order_by(Contact.email)
        .limit(limit)
        .offset(offset)
    )
    return list(db.session.execute(stmt))


def member_count(workspace_id: uuid.UUID, segment_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(
        SegmentMembership.workspace_id == workspace_id, SegmentMembership.segment_id == segment_id
    )
    return int(db.session.scalar(stmt) or 0)


def segments_of(workspace_id: uuid.UUID, contact_id: uuid.UUID) -> list[Segment]:
    """The segments a contact belongs to, by name."""
    stmt = (
        select(Segment)
        .join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
        .where(
            SegmentMembership.workspace_id == workspace_id,
            SegmentMembership.contact_id == contact_id,
        )
        .order_by(Segment.name)
    )
    return list(db.session.scalars(stmt))


# --- Static membership -------------------------------------------------------------------


def add_members(
    segment: Segment, contact_ids: Iterable[uuid.UUID], now: datetime, source: str = "ui"
) -> list[uuid.UUID]:
    """Add the workspace's contacts among these to a static segment; returns those who
    newly joined. Commits the session (with anything the caller staged), then enrolls the
    joiners through `segment_join` triggers."""
    joined = stage_members(segment, contact_ids, now, source)
    db.session.commit()
    joined.enroll(now)
    return joined.ids


@dataclass(frozen=True)
class Joined:
    """Who newly joined a static segment, staged but not yet committed."""

    workspace_id: uuid.UUID
    segment: str
    people: list[Person]

    @property
    def ids(self) -> list[uuid.UUID]:
        return [person.id for person in self.people]

    def enroll(self, now: datetime) -> None:
        """After the commit: enroll the joiners through every `segment_join` trigger."""
        _enroll_joiners(self.workspace_id, {self.segment: self.people}, now)


def stage_members(
    segment: Segment, contact_ids: Iterable[uuid.UUID], now: datetime, source: str
) -> Joined:
    """Insert the memberships (and `segment_joined` events) of the workspace's contacts
    among these in a static segment, inside the caller's transaction: an import commits
    them with its chunk, then enrolls the joiners."""
    _require_static(segment)
    target = Target.of(segment)
    people: list[Person] = []
    ids = list(dict.fromkeys(contact_ids))
    for start in range(0, len(ids), BATCH):
        found = _people(target.workspace_id, ids[start : start + BATCH])
        new = _insert_memberships(target, list(found), now)
        _record(target, new, SEGMENT_JOINED, now, source)
        people += [found[i] for i in new]
    return Joined(target.workspace_id, target.name, people)


def remove_members(
    segment: Segment, contact_ids: Iterable[uuid.UUID], now: datetime, source: str = "ui"
) -> list[uuid.UUID]:
    """Take these contacts out of a static segment; returns those who were in it."""
    _require_static(segment)
    target = Target.of(segment)
    ids = list(dict.fromkeys(contact_ids))
    left: list[uuid.UUID] = []
    for start in range(0, len(ids), BATCH):
        gone = _delete_memberships(target, ids[start : start + BATCH])
        _record(target, gone, SEGMENT_LEFT, now, source)
        left += gone
    db.session.commit()
    return left


def _require_static(segment: Segment) -> None:
    if segment.kind != "static":
        raise SegmentError(
            f"{segment.name!r} is a rule segment: its rule decides who is in it", "segment"
        )


# --- Rule membership -----------------------------------------------------------------------


def refresh_contacts(
    workspace_id: uuid.UUID, contact_ids: Iterable[uuid.UUID], now: datetime
) -> Changes:
    """Re-evaluate every rule segment of the workspace for these contacts: a few queries
    per batch of contacts, however many segments. Commits, then enrolls the joiners."""
    ids = list(dict.fromkeys(contact_ids))
    segments = _rule_segments(workspace_id)
    changes = Changes()
    if not segments or not ids:
        return changes
    for start in range(0, len(ids), BATCH):
        _refresh_batch(workspace_id, segments, ids[start : start + BATCH], now, changes)
    return changes


def refresh_all(now: datetime) -> int:
    """The periodic refresh: every rule segment of every workspace for all its contacts,
    in batches, so rules that change with time alone are kept true (and anything a failed
    hook missed is caught up). Returns how many joins and leaves it made."""
    workspaces = db.session.scalars(
        select(Segment.workspace_id).where(Segment.kind == "rule").distinct()
    ).all()
    total = 0
    for workspace_id in workspaces:
        total += _refresh_everyone(workspace_id, _rule_segments(workspace_id), now).count
    return total


def _refresh_everyone(workspace_id: uuid.UUID, segments: list[Target], now: datetime) -> Changes:
    """These segments for every contact of the workspace, in batches by contact id."""
    changes = Changes()
    after: uuid.UUID | None = None
    while True:
        stmt = select(Contact.id).where(Contact.workspace_id == workspace_id)
        if after is not None:
            stmt = stmt.where(Contact.id > after)
        ids = list(db.session.scalars(stmt.order_by(Contact.id).limit(BATCH)))
        if not ids:
            return changes
        _refresh_batch(workspace_id, segments, ids, now, changes)
        after = ids[-1]


def count_matching(workspace_id: uuid.UUID, rule: dict[str, Any], now: datetime) -> int:
    """How many of the workspace's contacts a (parsed) rule takes in now, saving nothing:
    the live count beside the rule builder. Batches and evaluation as a refresh's, two
    queries per batch of contacts."""
    total, after = 0, None
    while True:
        stmt = select(*PROFILE_COLUMNS).where(Contact.workspace_id == workspace_id)
        if after is not None:
            stmt = stmt.where(Contact.id > after)
        rows = db.session.execute(stmt.order_by(Contact.id).limit(BATCH)).all()
        if not rows:
            return total
        events = _events(workspace_id, [row.id for row in rows], [rule], now)
        total += sum(
            conditions.evaluate(rule, _facts(row, events.get(row.id, ())), now) for row in rows
        )
        after = rows[-1].id


def _rule_segments(workspace_id: uuid.UUID) -> list[Target]:
    stmt = Segment.in_workspace(workspace_id, Segment.kind == "rule").order_by(Segment.name)
    return [Target.of(segment) for segment in db.session.scalars(stmt)]


def _refresh_batch(
    workspace_id: uuid.UUID,
    segments: list[Target],
    ids: list[uuid.UUID],
    now: datetime,
    changes: Changes,
) -> None:
    """Evaluate, diff against the stored memberships, write joins and leaves, commit,
    enroll the joiners: four queries plus the writes."""
    rows = db.session.execute(
        select(*PROFILE_COLUMNS).where(Contact.workspace_id == workspace_id, Contact.id.in_(ids))
    ).all()
    if not rows:
        return
    events = _events(workspace_id, [r.id for r in rows], [s.rule for s in segments], now)
    current = {
        (segment_id, contact_id)
        for segment_id, contact_id in db.session.execute(
            select(SegmentMembership.segment_id, SegmentMembership.contact_id).where(
                SegmentMembership.segment_id.in_([s.id for s in segments]),
                SegmentMembership.contact_id.in_([r.id for r in rows]),
            )
        )
    }
    facts = {row.id: _facts(row, events.get(row.id, ())) for row in rows}
    people = {row.id: Person(row.id, row.email, row.unsubscribed_at) for row in rows}
    joiners: dict[str, list[Person]] = {}
    for segment in segments:
        inside = {i for i, f in facts.items() if conditions.evaluate(segment.rule, f, now)}
        was = {c for s, c in current if s == segment.id}
        joined = _insert_memberships(segment, sorted(inside - was), now)
        left = _delete_memberships(segment, sorted(was - inside))
        _record(segment, joined, SEGMENT_JOINED, now, "engine")
        _record(segment, left, SEGMENT_LEFT, now, "engine")
        if joined:
            changes.joined.setdefault(segment.id, []).extend(joined)
            joiners[segment.name] = [people[i] for i in joined]
        if left:
            changes.left.setdefault(segment.id, []).extend(left)
    db.session.commit()
    _enroll_joiners(workspace_id, joiners, now)


def _facts(row: Any, events: Sequence[waits.SeenEvent]) -> conditions.Facts:
    builtin = {
        "email": row.email,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "timezone": row.timezone,
    }
    return conditions.Facts(
        fields={**builtin, **(row.fields or {})},
        tags=frozenset(row.tags or ()),
        events=events,
    )


def _events(
    workspace_id: uuid.UUID, ids: list[uuid.UUID], rules: list[dict[str, Any]], now: datetime
) -> dict[uuid.UUID, list[waits.SeenEvent]]:
    """The events the rules read, for these contacts, in one query (none when no rule
    has an event condition): only their types, only as far back as the longest lookback."""
    needs = conditions.Needs()
    for rule in rules:
        needs = needs | conditions.needs(rule)
    if not needs.event_kinds:
        return {}
    stmt = select(
        ContactEvent.contact_id,
        ContactEvent.type,
        ContactEvent.properties,
        ContactEvent.occurred_at,
    ).where(
        ContactEvent.workspace_id == workspace_id,
        ContactEvent.contact_id.in_(ids),
        ContactEvent.type.in_(needs.event_kinds),
        ContactEvent.occurred_at <= now,
    )
    if needs.lookback is not None and not needs.since_enrollment:
        stmt = stmt.where(ContactEvent.occurred_at >= now - needs.lookback)
    found: dict[uuid.UUID, list[waits.SeenEvent]] = {}
    for contact_id, kind, properties, occurred_at in db.session.execute(stmt):
        found.setdefault(contact_id, []).append(
            waits.SeenEvent(kind, properties or {}, occurred_at)
        )
    return found


# --- Writes shared by both kinds -----------------------------------------------------------


def _people(workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, Person]:
    rows = db.session.execute(
        select(Contact.id, Contact.email, Contact.unsubscribed_at).where(
            Contact.workspace_id == workspace_id, Contact.id.in_(ids)
        )
    )
    return {row.id: Person(*row) for row in rows}


def _insert_memberships(
    segment: Target, contact_ids: list[uuid.UUID], now: datetime
) -> list[uuid.UUID]:
    """Insert the memberships that do not exist yet; the contacts actually added."""
    if not contact_ids:
        return []
    dialect = db.session.connection().dialect.name
    make_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = SegmentMembership.__table__
    statement = (
        make_insert(table)
        .values(
            [
                {
                    "tenant_id": segment.tenant_id,
                    "workspace_id": segment.workspace_id,
                    "segment_id": segment.id,
                    "contact_id": contact_id,
                    "joined_at": now,
                }
                for contact_id in contact_ids
            ]
        )
        .on_conflict_do_nothing(index_elements=["segment_id", "contact_id"])
        .returning(table.c.contact_id)
    )
    return list(db.session.execute(statement).scalars())


def _delete_memberships(segment: Target, contact_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Delete these contacts' memberships; the contacts actually removed."""
    if not contact_ids:
        return []
    table = SegmentMembership.__table__
    statement = (
        delete(table)
        .where(table.c.segment_id == segment.id, table.c.contact_id.in_(contact_ids))
        .returning(table.c.contact_id)
    )
    return list(db.session.execute(statement).scalars())


def _record(
    segment: Target, contact_ids: list[uuid.UUID], kind: str, now: datetime, source: str
) -> None:
    if not contact_ids:
        return
    db.session.execute(
        insert(ContactEvent.__table__),
        [
            {
                "tenant_id": segment.tenant_id,
                "workspace_id": segment.workspace_id,
                "contact_id": contact_id,
                "type": kind,
                "properties": {"segment": segment.name},
                "occurred_at": now,
                "recorded_at": now,
                "source": source,
            }
            for contact_id in contact_ids
        ],
    )


def _enroll_joiners(
    workspace_id: uuid.UUID, joiners: Mapping[str, list[Person]], now: datetime
) -> None:
    """After the joins are committed: enroll through every `segment_join` trigger."""
    for name, people in joiners.items():
        if people:
            triggers.enroll_on_trigger(workspace_id, "segment_join", name, people, now)
