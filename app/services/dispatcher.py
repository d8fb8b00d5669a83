"""The mail dispatcher: claim queued messages, render them in the sandbox, send over SMTP.

A batch is claimed in one guarded UPDATE (queued -> claimed, with a lease). Messages are
rendered and composed (as bytes, from their step's prepared header skeleton) in the
dispatcher's own thread; a writer thread marks each group of messages `sending` in a
durable commit (with the outcomes finished so far) and only then hands it to the
SMTP_CONNECTIONS connections of the dispatcher's relay process (app/mail/smtp_pool.py),
which do only the SMTP transactions. A group goes to the writer only when at most one
group is left with SMTP, so a crash can leave at most two groups whose fate is unknown.
The next batch is claimed while the last groups of one are with SMTP. Recovery, once a lease
has run out: `claimed` was never handed to SMTP, so it is queued again; `sending` may have
reached the server, so it becomes `unknown` and waits for an operator ("send again"),
because a duplicate is worse than a gap an operator can see.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import scoped_session

from app.config import current_settings
from app.core.steps.email import with_variant
from app.core.timing import in_window, load_zone, next_window_open
from app.core.variables import template_values
from app.extensions import db
from app.mail.compose import compose_message, message_bytes, plain_address
from app.mail.rendering import (
    RenderedEmail,
    RenderError,
    ensure_unsubscribe_link,
    render_email,
)
from app.mail.smtp import (
    PermanentSendError,
    SendError,
    SmtpReply,
    SmtpTransport,
    UncertainSendError,
    parse_smtp_url,
)
from app.mail.smtp_pool import SmtpPool
from app.models import (
    Contact,
    ContactSequence,
    MessageAttempt,
    OutboundMessage,
    Sequence,
    SequenceStep,
    Suppression,
    Workspace,
)
from app.models.contact import SPARSE_PROFILE_COLUMNS
from app.models.enrollment import exited
from app.models.types import unless_empty
from app.services.dispatch_postgres import commit_group
from app.services.links import unsubscribe_url
from app.services.mail_threads import Thread, threads_for
from app.services.render_limits import render_limits
from app.services.send_failures import end_failed_runs
from app.services.sender_limits import Sender, domain_of, sender_gate
from app.services.sending_domains import (
    SigningKey,
    SigningKeys,
    sign,
    sign_bytes,
    signing_keys,
)
from app.services.snapshots import load_snapshots
from app.services.tracking import track_html

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
GROUP_PER_CONNECTION = 4
"""Messages per SMTP connection marked `sending` in one durable commit: fewer commits per
message, against more messages left `unknown` by a crash (at most 2 x 4 x SMTP_CONNECTIONS)."""
MAX_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = (60, 300, 1800, 7200)
UTC_ZONE = ZoneInfo("UTC")
Clock = Callable[[], datetime]

_messages = OutboundMessage.__table__
_HELD = ("claimed", "sending")  # statuses only the dispatcher holding the lease may change
_record_result = (
    update(_messages)
    # not IN (...): an expanding parameter cannot be executed for many rows at once
    .where(_messages.c.id == bindparam("b_id"), or_(*(_messages.c.status == s for s in _HELD)))
    .values(
        status=bindparam("b_status"),
        # a send deferred to its delivery window gives back the attempt its claim counted
        attempts=_messages.c.attempts - bindparam("b_refund"),
        sent_at=bindparam("b_sent_at"),
        accepted_at=bindparam("b_accepted_at"),
        lease_expires_at=None,
        next_attempt_at=bindparam("b_next"),
        last_error=bindparam("b_error"),
        subject=bindparam("b_subject"),
        html=bindparam("b_html"),
        text=bindparam("b_text"),
        links=bindparam("b_links"),
        sender_domain=bindparam("b_domain"),
        updated_at=bindparam("b_now"),
    )
)


@dataclass
class DispatchStats:
    sent: int = 0
    captured: int = 0
    failed: int = 0
    retrying: int = 0
    skipped: int = 0
    deferred: int = 0
    unknown: int = 0  # the SMTP transaction broke off (here, or in a dispatcher that died)
    requeued: int = 0  # claimed by a dispatcher that stopped before sending: queued again

    @property
    def handled(self) -> int:
        return self.sent + self.captured + self.failed + self.retrying + self.skipped

    def count(self, result: Result) -> None:
        name = "retrying" if result.status == "queued" else result.status
        name = "deferred" if result.deferred else name
        setattr(self, name, getattr(self, name) + 1)


@dataclass
class Result:
    id: uuid.UUID
    status: str
    error: str | None = None
    rendered: RenderedEmail | None = None
    retry_at: datetime | None = None
    deferred: bool = False
    links: list[str] | None = None  # the original URLs of the tracked links, by position
    sender_domain: str | None = None  # of the From address a sent message left from
    reply: SmtpReply | None = None  # the server's answer, when it gave one

    @property
    def outcome(self) -> str:
        """The attempt's outcome as an operator reads it (a retry is queued again)."""
        return "retry" if self.status == "queued" else self.status


def dispatch_due(
    now: datetime, batch_size: int = DEFAULT_BATCH_SIZE, clock: Clock | None = None
) -> DispatchStats:
    """Send (or capture) every message due at `now`, after recovering interrupted ones.

    `clock` tells the moment within the pass (a server's acceptance, a renewed lease); by
    default `now` plus the time the pass has taken, so a pass driven at a given `now`
    stays on that timeline. It is read from the SMTP threads too."""
    clock = clock or running_clock(now)
    settings = current_settings()
    lease = timedelta(seconds=settings.dispatch_lease_seconds)
    stats = DispatchStats()
    stats.requeued, stats.unknown = recover_interrupted(now)
    batches = _Batches(now, batch_size, lease)
    with _Connections(settings.smtp_url, settings.smtp_connections) as connections:
        for rows in batches:
            for result in _deliver(rows, now, clock, lease, connections, batches.fetch_next):
                stats.count(result)
    return stats


class _Batches:
    """A pass's batches, each claimed (in its own transaction) and loaded. The next one may
    be fetched early (`fetch_next`): while the current batch's last groups are with SMTP,
    so the connections do not stand idle while it is claimed and loaded."""

    def __init__(self, now: datetime, size: int, lease: timedelta) -> None:
        self.now, self.size, self.lease = now, size, lease
        self._next: list[Any] | None = None

    def __iter__(self) -> Iterator[list[Any]]:
        while True:
            self.fetch_next()
            rows, self._next = self._next, None
            if not rows:
                return
            yield rows

    def fetch_next(self) -> None:
        if self._next is None:
            ids = _claim(self.now, self.size, self.lease)
            self._next = load_rows(ids) if ids else []
            db.session.commit()


class _Connections:
    """A pass's SMTP connections (SMTP_CONNECTIONS, in the relay process), opened when
    its first batch needs them, so a pass with nothing due connects to nothing, and reused
    by every batch after. No SMTP_URL: none, mail is captured to the outbox."""

    def __init__(self, smtp_url: str | None, size: int) -> None:
        self.smtp_url, self.size = smtp_url, max(size, 1)
        self._stack = ExitStack()
        self._pool: SmtpPool | None = None

    def __enter__(self) -> _Connections:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def pool(self) -> SmtpPool | None:
        """The open pool; SendError when no connection could be opened (the next batch
        tries again)."""
        if self.smtp_url and self._pool is None:
            pool = SmtpPool(parse_smtp_url(self.smtp_url), self.size)
            self._pool = self._stack.enter_context(pool)
        return self._pool


def running_clock(start: datetime) -> Clock:
    """A clock that reads `start` plus the (monotonic) time elapsed since it was made."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def recover_interrupted(now: datetime) -> tuple[int, int]:
    """Settle messages whose dispatcher's lease ran out before `now` (it crashed or hung).

    `claimed` ones were never handed to SMTP: queued again (their claim's attempt given
    back). `sending` ones may have reached the server: `unknown`, for an operator to check
    and send again, never resent on their own. A row without a lease was claimed before
    leases existed. Returns (requeued, unknown)."""
    expired = or_(_messages.c.lease_expires_at.is_(None), _messages.c.lease_expires_at < now)
    requeued = db.session.execute(
        update(_messages)
        .where(_messages.c.status == "claimed", expired)
        .values(
            status="queued",
            attempts=_messages.c.attempts - 1,
            lease_expires_at=None,
            last_error="its dispatcher stopped before handing it to SMTP; queued again",
            updated_at=now,
        )
    ).rowcount
    why = (
        "its dispatcher stopped during the SMTP transaction, so the server may have "
        "accepted it; not resent on its own: check, then send again"
    )
    broken_off = db.session.execute(
        update(_messages)
        .where(_messages.c.status == "sending", expired)
        .values(status="unknown", lease_expires_at=None, last_error=why, updated_at=now)
        .returning(
            _messages.c.id,
            _messages.c.tenant_id,
            _messages.c.workspace_id,
            _messages.c.attempts,
            _messages.c.claimed_at,
        )
    ).all()
    if broken_off:  # their attempts: begun after their claim, never finished
        attempt = {"outcome": "unknown", "finished_at": None, "smtp_code": None, "smtp_answer": why}
        db.session.execute(
            insert(MessageAttempt),
            [
                {
                    **attempt,
                    "tenant_id": tenant,
                    "workspace_id": workspace,
                    "message_id": id_,
                    "attempt": tries,
                    "started_at": claimed_at,
                }
                for id_, tenant, workspace, tries, claimed_at in broken_off
            ],
        )
    db.session.commit()
    return requeued, len(broken_off)


_SUPPRESSED_BECAUSE = (
    select(Suppression.reason)
    .where(
        Suppression.workspace_id == _messages.c.workspace_id,
        Suppression.email == func.lower(_messages.c.to_email),
    )
    .correlate(_messages)
    .scalar_subquery()
)
"""Why a message's address is suppressed (None: it is not), read as it is claimed."""

_EXITED_BECAUSE = (
    select(func.coalesce(ContactSequence.exit_reason, "exited"))
    .where(
        ContactSequence.id == _messages.c.enrollment_id,
        ContactSequence.status == "exited",
        ContactSequence.finished_at > _messages.c.queued_at,
    )
    .correlate(_messages)
    .scalar_subquery()
)
"""Why a message's enrollment exited after it was queued (None: it did not): a goal
reached, a reply. One queued in the same pass as the exit (an email right before an exit or
move step) still goes."""

_now = bindparam("now", type_=_messages.c.next_attempt_at.type)
_DUE = (
    select(_messages.c.id)
    .where(
        _messages.c.status == "queued",
        _messages.c.next_attempt_at <= _now,
        # a paused sequence holds its queued mail until it resumes, and so does a
        # paused enrollment (an operator's intervention)
        _messages.c.sequence_id.in_(select(Sequence.id).where(Sequence.status == "active")),
        ~select(ContactSequence.id)
        .where(
            ContactSequence.id == _messages.c.enrollment_id,
            ContactSequence.status == "paused",
        )
        .exists(),
    )
    .order_by(_messages.c.next_attempt_at)
    .limit(bindparam("batch_size", type_=Integer))
    .with_for_update(skip_locked=True)
    # Picked once: as a plain `IN (subquery)` PostgreSQL may rescan it (a nested-loop
    # semi-join on a table without statistics), each rescan locking more rows, and one
    # dispatcher claimed the whole backlog instead of `batch_size`.
    .cte("due")
    .prefix_with("MATERIALIZED", dialect="postgresql")
)
_CLAIM = (
    update(_messages)
    # the guard as `IS TRUE`: not a condition the due index could serve, so the batch's
    # rows are found by key, not by reading every queued message's entry
    .where(_messages.c.id.in_(select(_DUE.c.id)), (_messages.c.status == "queued").is_(True))
    .values(
        status="claimed",
        attempts=_messages.c.attempts + 1,
        claimed_at=_now,
        lease_expires_at=bindparam("lease_until", type_=_messages.c.lease_expires_at.type),
    )
    .returning(
        _messages.c.id,
        _messages.c.enrollment_id,
        _SUPPRESSED_BECAUSE.label("suppressed"),
        _EXITED_BECAUSE.label("exited"),
    )
    .execution_options(synchronize_session=False)
)
"""Built once: SQLAlchemy derives a statement's cache key on every execution of a new
statement object, and for this one that took half of a batch's claim."""


def _claim(now: datetime, batch_size: int, lease: timedelta) -> list[uuid.UUID]:
    _plan_as_a_queue()
    claimed = db.session.execute(
        _CLAIM, {"now": now, "batch_size": batch_size, "lease_until": now + lease}
    ).all()
    ids = _skip_stopped(claimed, now)
    db.session.commit()
    return ids


def _plan_as_a_queue() -> None:
    """On PostgreSQL, for the claiming transaction: read the due messages in the due index's
    order and stop at the batch, whatever the table's statistics say. Statistics taken
    before a large send was queued (or none yet) put the queued messages at a handful, and
    the planner then gathered every due message with a bitmap and sorted them, for every
    batch: a backlog of N cost N rows a batch (tests/engine/test_dispatch_plans.py)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text(
                "SELECT set_config('enable_bitmapscan', 'off', true), "
                "set_config('enable_sort', 'off', true)"
            )
        )


_skip = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(status="skipped", last_error=bindparam("b_error"), updated_at=bindparam("b_now"))
)


def _skip_stopped(claimed: list[Any], now: datetime) -> list[uuid.UUID]:
    """In the claiming transaction: a message to a suppressed address is skipped with the
    reason, even if queued long ago, and its enrollment ends with that reason; one whose
    enrollment exited since it was queued is skipped with the exit's reason. The ids of
    the others, to send. Why the reasons come back with the claim: as two statements of
    their own over the batch's ids, they took 12 of the 28 ms of CPU that claiming and
    loading a batch of 200 cost this process."""
    skipped: list[dict[str, Any]] = []
    ending: dict[str, list[uuid.UUID]] = {}  # a suppression's reason -> its enrollments
    ids = []
    for message_id, enrollment_id, suppressed, exited_because in claimed:
        if suppressed is not None:
            error = f"address suppressed: {suppressed}"
            ending.setdefault(suppressed, []).append(enrollment_id)
        elif exited_because is not None:
            error = f"the enrollment exited before it was sent: {exited_because}"
        else:
            ids.append(message_id)
            continue
        skipped.append({"b_id": message_id, "b_error": error, "b_now": now})
    if skipped:
        db.session.execute(_skip, skipped)
    for why, enrollments in ending.items():  # at most one statement per kind of reason
        db.session.execute(
            update(ContactSequence)
            .where(
                ContactSequence.id.in_(enrollments),
                # the last email of a completed enrollment never went out either
                ContactSequence.status.in_(("active", "completed")),
            )
            .values(**exited(why, now))
        )
    return ids


# the outbox's columns a message is sent with (`load_rows`)
_LOADED = (
    "id",
    "message_id",
    "to_email",
    "attempts",
    "send_window",
    "variant_key",
    "sequence_id",
    "step_id",
    "sequence_version",
    "tenant_id",
    "workspace_id",
    "enrollment_id",
    "queued_at",
)


# Picked by key first (a materialized CTE): joined in one query, with statistics taken
# before a large send was queued, the planner read every message of the workspace through
# its index to keep the batch's, for every batch.
_picked = (
    select(*(_messages.c[name] for name in _LOADED), _messages.c.contact_id)
    .where(_messages.c.id.in_(bindparam("ids", expanding=True)))
    .cte("picked")
    .prefix_with("MATERIALIZED", dialect="postgresql")
)
_LOAD = (
    select(
        *(_picked.c[name] for name in _LOADED),
        ContactSequence.enrolled_at,
        Workspace.from_email.label("workspace_from_email"),
        Workspace.from_name.label("workspace_from_name"),
        *SPARSE_PROFILE_COLUMNS[1:],
        unless_empty(ContactSequence.context_data, {}).label("enrollment_context"),
    )
    .join(Workspace, Workspace.id == _picked.c.workspace_id)
    .join(Contact, Contact.id == _picked.c.contact_id)
    .outerjoin(ContactSequence, ContactSequence.id == _picked.c.enrollment_id)
)
"""Built once, as `_CLAIM` is. Empty JSON documents come back as NULL (`unless_empty`):
decoding `{}` and `[]` three times a message was a third of a batch's load."""


def load_rows(ids: list[uuid.UUID]) -> list[Any]:
    """The messages as the dispatcher sends them: contact, step, sequence and sender, each
    with the content of the version that queued it. A message whose step is gone has none."""
    rows = list(db.session.execute(_LOAD, {"ids": ids}))
    steps = _step_contents({row.step_id for row in rows})
    return as_queued(
        [
            SimpleNamespace(**row._asdict(), **step)
            for row in rows
            if (step := steps.get(row.step_id)) is not None
        ]
    )


_STEP_CONTENT = (
    Sequence.name.label("sequence_name"),
    SequenceStep.name.label("step_name"),
    SequenceStep.key.label("step_key"),
    Sequence.published_version,
    SequenceStep.config,
    Sequence.settings,
)


def _step_contents(step_ids: set[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """Each step of a batch: its name, key and config with its sequence's name, published
    version and settings, read and decoded once for the batch (per message, decoding them
    was most of what loading it cost; a designed email's body is tens of kilobytes)."""
    if not step_ids:
        return {}
    stmt = (
        select(SequenceStep.id, *_STEP_CONTENT)
        .join(Sequence, Sequence.id == SequenceStep.sequence_id)
        .where(SequenceStep.id.in_(step_ids))
    )
    names = [column.key for column in _STEP_CONTENT]
    rows = db.session.execute(stmt)
    return {step_id: dict(zip(names, values, strict=True)) for step_id, *values in rows}


def as_queued(rows: list[Any]) -> list[Any]:
    """Each message with the content of the version that queued it: one queued before a
    newer version went live is sent as it was queued (docs/versions.md), its step and
    settings read from that version's snapshot instead of the live rows."""
    older = {
        (row.sequence_id, row.sequence_version)
        for row in rows
        if row.sequence_version is not None and row.sequence_version != row.published_version
    }
    if not older:
        return rows
    snapshots = load_snapshots(older)
    for row in rows:
        snapshot = snapshots.get((row.sequence_id, row.sequence_version))
        step = snapshot.step(row.step_id) if snapshot else None
        if snapshot is not None and step is not None:
            row.config, row.settings = step.get("config") or {}, snapshot.settings
    return rows


def template_context(
    row: Any, unsubscribe: str, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What a template may use: the contact (custom fields also at top level), the
    enrollment's context (`enrollment.trigger.properties.*`: the event that enrolled it),
    the sequence's variables (`sequence.<name>`, from `settings`, else those the row
    carries) and links."""
    fields = dict(row.fields or {})
    contact = {
        **fields,
        "email": row.email,
        "first_name": row.first_name or "",
        "last_name": row.last_name or "",
        "timezone": row.timezone,
        "tags": list(row.tags or []),
        "fields": fields,
    }
    enrollment = dict(getattr(row, "enrollment_context", None) or {})
    sequence = template_values(settings if settings is not None else getattr(row, "settings", None))
    return {
        "contact": contact,
        "enrollment": enrollment,
        "sequence": sequence,
        "unsubscribe_url": unsubscribe,
    }


def render_step_email(
    config: dict[str, Any],
    row: Any,
    unsubscribe: str,
    settings: Mapping[str, Any] | None = None,
) -> RenderedEmail:
    """An email step's config (a variant's overrides applied) rendered for one contact, in
    the sandbox and within the render budget; RenderError when the templates refuse.
    `settings` (the sequence's) are for previews, whose contact row carries none."""
    return render_email(
        config.get("subject", ""),
        config.get("body", ""),
        config.get("text"),
        template_context(row, unsubscribe, settings),
        **render_limits(),
    )


def _deliver(
    rows: list[Any],
    now: datetime,
    clock: Clock,
    lease: timedelta,
    connections: _Connections,
    meanwhile: Callable[[], None],
) -> list[Result]:
    """Render, compose and send the claimed messages: rendering and database work in this
    thread, the SMTP transactions on the pool's connections; outcomes are written a group
    at a time (see `_send_all`). `meanwhile` runs once the last group is handed over,
    while SMTP finishes it."""
    by_id = {row.id: row for row in rows}
    outcomes = _Outcomes(by_id, now)
    try:
        pool = connections.pool()
    except SendError as exc:  # the server could not be reached: none was handed over
        for row in rows:
            outcomes.add(_retry_or_fail(row, exc, None, now), now, clock())
    else:
        threads = threads_for(rows, is_threaded)
        gate = sender_gate({_sender(row) for row in rows}, now)
        keys = signing_keys(_sender(row) for row in rows)

        def prepared(row: Any) -> Result | Outgoing:
            held = gate.admit(_sender(row), now)
            if held is not None:  # the domain's daily cap or spacing: later, not dropped
                retry_at, why = held
                return Result(row.id, "queued", why, None, retry_at, True)
            return prepare(row, now, True, threads.get(row.id), keys, capture=pool is None)

        ready = (prepared(row) for row in rows)
        if pool is None:
            for result in ready:
                outcomes.add(cast(Result, result), now, clock())
        else:
            _send_all(ready, pool, outcomes, clock, lease, meanwhile)
    end_failed_runs(((by_id[r.id], r.error) for r in outcomes.results if r.status == "failed"), now)
    outcomes.write()
    _commit_without_waiting()
    return outcomes.results


def _send_all(
    ready: Iterator[Result | Outgoing],
    pool: SmtpPool,
    outcomes: _Outcomes,
    clock: Clock,
    lease: timedelta,
    meanwhile: Callable[[], None],
) -> None:
    """Hand the prepared messages to the pool a group (GROUP_PER_CONNECTION messages per
    connection) at a time; then run `meanwhile` while the last groups are on the wire.

    Each group is marked `sending` in the same durable commit that writes the outcomes
    finished so far, and only then handed over; that commit runs on the writer's thread
    while this one renders the next group, and a group goes to the writer only once the
    pool holds at most one group. So a crash leaves at most two groups `sending`, which
    recovery makes `unknown`, and never a message sent twice."""
    size = pool.size * GROUP_PER_CONNECTION
    in_flight = 0
    with _GroupWriter(db.engine, pool, clock, lease) as writer:
        for group in _groups(ready, outcomes, clock, size):
            in_flight += writer.handed_over()
            while in_flight > size:  # one group on the wire, the next queued behind it
                outcomes.sent(*writer.result())
                in_flight -= 1
            writer.hand_over(group, outcomes.take())
        meanwhile()
        in_flight += writer.handed_over()
        for _ in range(in_flight):
            outcomes.sent(*writer.result())


def _groups(
    ready: Iterator[Result | Outgoing], outcomes: _Outcomes, clock: Clock, size: int
) -> Iterator[list[Outgoing]]:
    """The messages for SMTP in groups of `size`, rendered as they are asked for; the
    others (skipped, deferred, refused) go straight to the outcomes."""
    group: list[Outgoing] = []
    for item in ready:
        if isinstance(item, Result):  # no SMTP transaction: skipped, deferred, refused
            outcomes.add(item, clock(), clock())
            continue
        group.append(item)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


class _GroupWriter:
    """Writes the outcomes so far, marks a group claimed -> sending and commits durably, on
    a connection of its own in a thread of its own, then gives the pool those still held
    (another dispatcher may have taken over a message whose lease ran out: it is not sent
    from here). Why a thread: its statements and commit wait on the database, and the
    rendering of the next group need not wait with them. One group at a time:
    `handed_over` waits for it."""

    def __init__(self, engine: Engine, pool: SmtpPool, clock: Clock, lease: timedelta):
        self.engine, self.pool, self.clock, self.lease = engine, pool, clock, lease
        self._one_statement = engine.dialect.name == "postgresql"  # dispatch_postgres.py
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="dispatch-writer")
        self._connection: Connection | None = None  # opened and used in the writer's thread
        self._pending: Future[int] | None = None
        # the messages with SMTP, by the key the relay answers with: (message, attempt start)
        self._handed: dict[int, tuple[Outgoing, datetime]] = {}
        self._keys = itertools.count()  # a small int crosses the pipe faster than a UUID

    def __enter__(self) -> _GroupWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.submit(self._close).result()
        self._thread.shutdown()

    def hand_over(self, group: list[Outgoing], finished: _Written) -> None:
        self._pending = self._thread.submit(self._commit_and_send, group, finished)

    def handed_over(self) -> int:
        """How many of the last group went to the pool, once they have (0: none pending);
        the writer's error, if it failed."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else 0

    def _commit_and_send(self, group: list[Outgoing], finished: _Written) -> int:
        started = self.clock()
        taken = self._commit(finished, [item.row.id for item in group], started + self.lease)
        for item in group:
            if item.row.id in taken:
                key = next(self._keys)
                self._handed[key] = item, started
                self.pool.send(key, item.sender, [item.row.to_email], item.content)
        return len(taken)

    def result(self) -> tuple[Outgoing, SmtpReply | SendError, datetime, datetime]:
        """A message handed over, what SMTP made of it, when its attempt started and when
        this dispatcher learned how it ended; waiting for the next to end."""
        key, outcome = self.pool.result()
        item, started = self._handed.pop(cast(int, key))
        return item, outcome, started, self.clock()

    def _commit(
        self, finished: _Written, group: list[uuid.UUID], lease_until: datetime
    ) -> set[uuid.UUID]:
        """Write `finished`, mark `group` claimed -> sending and commit durably; the ids
        marked. PostgreSQL: one statement in autocommit (services/dispatch_postgres.py)."""
        if self._connection is None:
            self._connection = self.engine.connect()
            if self._one_statement:
                self._connection.execution_options(isolation_level="AUTOCOMMIT")
        conn = self._connection
        if self._one_statement:
            return commit_group(conn, finished.updates, finished.attempts, group, lease_until)
        write_outcomes(conn, finished)
        taken = set(
            conn.execute(
                update(_messages)
                .where(_messages.c.id.in_(group), _messages.c.status == "claimed")
                .values(status="sending", lease_expires_at=lease_until)
                .returning(_messages.c.id)
            ).scalars()
        )
        conn.commit()
        return taken

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()


class _Outcomes:
    """A batch's outcomes, written a group at a time with a fixed number of statements (one
    UPDATE executed for many rows, one INSERT of their attempts), each only over a row this
    dispatcher still holds."""

    def __init__(self, rows: Mapping[uuid.UUID, Any], now: datetime) -> None:
        self.rows, self.now = rows, now
        self.results: list[Result] = []
        self._updates: list[dict[str, Any]] = []
        self._attempts: list[dict[str, Any]] = []

    def add(self, result: Result, started: datetime, finished: datetime) -> None:
        rendered = result.rendered
        self.results.append(result)
        self._updates.append(
            {
                "b_id": result.id,
                "b_status": result.status,
                "b_sent_at": self.now if result.status in ("sent", "captured") else None,
                "b_accepted_at": finished if result.status == "sent" else None,
                "b_next": result.retry_at or self.now,
                "b_error": result.error,
                "b_subject": rendered.subject if rendered else None,
                "b_html": rendered.html if rendered else None,
                "b_text": rendered.text if rendered else None,
                "b_links": result.links if rendered else None,
                "b_domain": result.sender_domain,
                "b_refund": 1 if result.deferred else 0,
                "b_now": self.now,
            }
        )
        if not result.deferred:
            self._attempts.append(_attempt(self.rows[result.id], result, started, finished))

    def sent(
        self, item: Outgoing, outcome: SmtpReply | SendError, started: datetime, finished: datetime
    ) -> None:
        self.add(_result_of(item, outcome, self.now), started, finished)

    def take(self) -> _Written:
        """The outcomes added since the last `take` or `write`, for the caller to write."""
        taken = _Written(self._updates, self._attempts)
        self._updates, self._attempts = [], []
        return taken

    def write(self) -> None:
        write_outcomes(db.session, self.take())


@dataclass
class _Written:
    """Outcomes to write: `_record_result` parameters, and attempt rows."""

    updates: list[dict[str, Any]]
    attempts: list[dict[str, Any]]


def write_outcomes(executor: Connection | scoped_session[Any], outcomes: _Written) -> None:
    """Two statements at most, whatever the number of outcomes (each over a row still held)."""
    if outcomes.updates:
        executor.execute(_record_result, outcomes.updates)
    if outcomes.attempts:
        executor.execute(insert(MessageAttempt), outcomes.attempts)


def _attempt(row: Any, result: Result, started: datetime, finished: datetime) -> dict[str, Any]:
    """The attempt row for one outcome: the server's reply when it gave one, else (no reply:
    no connection, a refused template, a broken-off transaction) the reason."""
    reply = result.reply
    return {
        "tenant_id": row.tenant_id,
        "workspace_id": row.workspace_id,
        "message_id": row.id,
        "attempt": row.attempts,
        "started_at": started,
        "finished_at": finished,
        "outcome": result.outcome,
        "smtp_code": reply.code if reply else None,
        "smtp_answer": reply.text if reply else result.error,
    }


def _sender(row: Any) -> Sender:
    return row.workspace_id, domain_of(from_address(row))


def is_threaded(row: Any) -> bool:
    """The step replies in the run's thread."""
    return bool(step_config(row).get("thread"))


@contextmanager
def transport_for(smtp_url: str | None) -> Iterator[SmtpTransport | None]:
    """One SMTP connection (a test send's); None means capture to the outbox."""
    if not smtp_url:
        with nullcontext(None) as none:
            yield none
        return
    with SmtpTransport(parse_smtp_url(smtp_url)) as transport:
        yield transport


@dataclass
class Outgoing:
    """A message rendered, composed and (when its domain has a key) signed: ready for SMTP.
    `content` is its bytes, or an EmailMessage for an address only the `email` package
    writes (non-ASCII, quoted)."""

    row: Any
    rendered: RenderedEmail
    links: list[str] | None
    sender: str  # the envelope's, the From address
    content: bytes | EmailMessage

    def send(self, transport: SmtpTransport) -> SmtpReply:
        if isinstance(self.content, EmailMessage):
            return transport.send(self.content)
        return transport.send_raw(self.sender, [self.row.to_email], self.content)


def deliver_one(
    row: Any,
    transport: SmtpTransport | None,
    now: datetime,
    track: bool = False,
    thread: Thread | None = None,
    keys: SigningKeys | None = None,
) -> Result:
    """Render one message and send it over `transport` (or capture it when there is none):
    a test send's path; the dispatcher's goes through `_send_all`."""
    item = prepare(row, now, track, thread, keys, capture=transport is None)
    if isinstance(item, Result):
        return item
    try:
        outcome: SmtpReply | SendError = item.send(cast(SmtpTransport, transport))
    except SendError as exc:
        outcome = exc
    return _result_of(item, outcome, now)


def prepare(
    row: Any,
    now: datetime,
    track: bool = False,
    thread: Thread | None = None,
    keys: SigningKeys | None = None,
    capture: bool = False,
) -> Result | Outgoing:
    """Render one message in the sandbox and compose it, or say why it does not go now.

    `track` rewrites links for click tracking and adds the open pixel (unless the sequence
    turned open tracking off): only for a real outbox row, whose id the tracking tokens name
    (a test send has none). A plain-text-only step sends no HTML, so no pixel either.
    `thread` makes it a reply to the run's previous email (services/mail_threads.py).
    `keys` are the DKIM keys of the batch's sending domains (services/sending_domains.py).
    `capture` (no SMTP): the rendered message is the outcome.
    """
    if row.unsubscribed_at is not None:
        return Result(row.id, "skipped", "contact unsubscribed")
    reopens = window_reopens(row.send_window, now)
    if reopens is not None:
        return Result(row.id, "queued", "its delivery window closed", None, reopens, True)
    config = step_config(row)
    link = unsubscribe_url(row.id)
    try:
        rendered = render_message(row, config, link, thread)
    except RenderError as exc:
        return Result(row.id, "failed", str(exc))
    links = None
    if track and rendered.html:
        pixel = (row.settings or {}).get("open_tracking") is not False
        html, links = track_html(rendered.html, row.id, link, pixel=pixel)
        rendered = replace(rendered, html=html)
    if capture:
        return Result(row.id, "captured", rendered=rendered, links=links)
    try:
        content = _compose(row, config, rendered, link, now, thread, (keys or {}).get(_sender(row)))
    except ValueError as exc:
        return Result(row.id, "failed", f"invalid message: {exc}", rendered, links=links)
    return Outgoing(row, rendered, links, from_address(row), content)


def step_config(row: Any) -> dict[str, Any]:
    """The email step's config with the message's A/B variant applied."""
    return with_variant(row.config or {}, getattr(row, "variant_key", None))


def render_message(
    row: Any, config: dict[str, Any], link: str, thread: Thread | None
) -> RenderedEmail:
    """The message's subject and parts as they go out, before link tracking: rendered in
    the sandbox, with the unsubscribe link, no HTML for a plain-text-only step, and a
    reply's subject in a thread. RenderError when the templates refuse."""
    rendered = ensure_unsubscribe_link(render_step_email(config, row, link), link)
    if config.get("plain_text_only"):
        rendered = replace(rendered, html="")
    if thread is not None:
        rendered = replace(rendered, subject=thread.subject)
    return rendered


def sender_name(
    config: dict[str, Any], settings: dict[str, Any], workspace_from_name: str | None
) -> str | None:
    """The name mail goes out under: the step's, else the sequence's, else the workspace's."""
    return config.get("from_name") or settings.get("from_name") or workspace_from_name


def _message_fields(
    row: Any,
    config: dict[str, Any],
    rendered: RenderedEmail,
    link: str,
    sent_at: datetime,
    thread: Thread | None,
) -> dict[str, Any]:
    """The one place an outbox row's headers are decided, for both builders."""
    settings = row.settings or {}
    return {
        "rendered": rendered,
        "from_email": from_address(row),
        "from_name": sender_name(config, settings, row.workspace_from_name),
        "to_email": row.to_email,
        "to_name": " ".join(p for p in (row.first_name, row.last_name) if p) or None,
        "message_id": row.message_id,
        "unsubscribe_url": link,
        "sent_at": sent_at,
        "reply_to": settings.get("reply_to"),
        "in_reply_to": thread.in_reply_to if thread else None,
        "references": thread.references if thread else (),
        "list_name": _list_name(row),
    }


def compose_for(
    row: Any,
    config: dict[str, Any],
    rendered: RenderedEmail,
    link: str,
    sent_at: datetime,
    thread: Thread | None,
) -> EmailMessage:
    """The MIME message for an outbox row (unsigned), as the outbox's message page shows
    it. ValueError for an address or header that cannot go."""
    return compose_message(**_message_fields(row, config, rendered, link, sent_at, thread))


def _compose(
    row: Any,
    config: dict[str, Any],
    rendered: RenderedEmail,
    link: str,
    sent_at: datetime,
    thread: Thread | None,
    key: SigningKey | None,
) -> bytes | EmailMessage:
    """The message as it goes out, signed when its domain has a key: bytes from the step's
    prepared skeleton (app/mail/compose.py `message_bytes`), or an EmailMessage when an
    address needs what only the `email` package writes. ValueError as `compose_for`."""
    fields = _message_fields(row, config, rendered, link, sent_at, thread)
    if plain_address(fields["from_email"]) and plain_address(fields["to_email"]):
        data = message_bytes(**fields)
        return sign_bytes(data, key) if key is not None else data
    message = compose_message(**fields)
    if key is not None:
        sign(message, key)
    return message


def _result_of(item: Outgoing, outcome: SmtpReply | SendError, now: datetime) -> Result:
    """What an SMTP transaction came to: sent, unknown (broken off after the content left,
    never resent on its own), failed, or queued again with backoff."""
    row, rendered = item.row, item.rendered
    if isinstance(outcome, SmtpReply):
        domain = domain_of(item.sender)
        result = Result(row.id, "sent", rendered=rendered, sender_domain=domain, reply=outcome)
    elif isinstance(outcome, UncertainSendError):
        result = Result(row.id, "unknown", f"{outcome}; not resent on its own", rendered)
    elif isinstance(outcome, PermanentSendError):
        result = Result(row.id, "failed", str(outcome), rendered, reply=_reply(outcome))
    else:
        result = _retry_or_fail(row, outcome, rendered, now)
    result.links = item.links
    return result


def from_address(row: Any) -> str:
    """The sequence's sender, else the workspace's, else the default one."""
    return (
        (row.settings or {}).get("from_email")
        or row.workspace_from_email
        or current_settings().default_from_email
    )


def _list_name(row: Any) -> tuple[str, str]:
    """List-Id's (name, identifier): `<sequence id>.<the workspace's sender domain>`, or the
    app's host when the workspace has no sender of its own."""
    domain = (row.workspace_from_email or "").rpartition("@")[2].lower()
    domain = domain or urlsplit(current_settings().base_url).hostname or "localhost"
    return row.sequence_name or "", f"{row.sequence_id}.{domain}"


def window_reopens(send_window: dict[str, Any] | None, now: datetime) -> datetime | None:
    """When a message whose delivery window has closed may go (None: send it now).

    The processor queues inside the window; a batch still in flight when it closes, or a
    backlog, must not send at 23:00 local what was meant for business hours."""
    if not send_window:
        return None
    zone = load_zone(send_window.get("zone")) or UTC_ZONE
    window = send_window["window"]
    return None if in_window(now, window, zone) else next_window_open(now, window, zone)


def _retry_or_fail(
    row: Any, exc: SendError, rendered: RenderedEmail | None, now: datetime
) -> Result:
    """Transient trouble: back off and retry, up to MAX_ATTEMPTS sends."""
    if row.attempts >= MAX_ATTEMPTS:
        why = f"gave up after {row.attempts} attempts: {exc}"
        return Result(row.id, "failed", why, rendered, reply=_reply(exc))
    backoff = RETRY_BACKOFF_SECONDS[min(row.attempts, len(RETRY_BACKOFF_SECONDS)) - 1]
    retry_at = now + timedelta(seconds=backoff)
    return Result(row.id, "queued", str(exc), rendered, retry_at, reply=_reply(exc))


def _reply(exc: SendError) -> SmtpReply | None:
    return SmtpReply(exc.code, exc.answer or "") if exc.code is not None else None


def _commit_without_waiting() -> None:
    """Commit recorded outcomes; on PostgreSQL without waiting for the disk. Should the
    database itself crash first, a row is back to `sending`, which recovery makes `unknown`,
    or to `claimed`, which never reached SMTP and is sent again: never a duplicate. Only the
    `sending` mark must be durable before its SMTP transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.commit()
