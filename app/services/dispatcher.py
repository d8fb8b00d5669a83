"""The mail dispatcher: claim queued messages, render them in the sandbox, send over SMTP.

A batch is claimed in one guarded UPDATE (queued -> claimed, with a lease). Each message is
then marked `sending` and committed just before its own SMTP transaction, and marked `sent`
(with the moment the server accepted it) and committed right after: a crash can leave at
most one message per dispatcher whose fate is unknown. Recovery, once a lease has run out:
`claimed` was never handed to SMTP, so it is queued again; `sending` may have reached the
server, so it becomes `unknown` and waits for an operator ("send again"), because a
duplicate is worse than a gap an operator can see.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, literal, or_, select, text, update

from app.config import current_settings
from app.core.steps.email import with_variant
from app.core.timing import in_window, load_zone, next_window_open
from app.core.variables import template_values
from app.extensions import db
from app.mail.compose import compose_message
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
from app.models.contact import PROFILE_COLUMNS
from app.models.enrollment import exited
from app.services.links import unsubscribe_url
from app.services.mail_threads import Thread, threads_for
from app.services.render_limits import render_limits
from app.services.send_failures import end_failed_runs
from app.services.sender_limits import Sender, domain_of, sender_gate
from app.services.sending_domains import SigningKeys, sign, signing_keys
from app.services.snapshots import load_snapshots
from app.services.tracking import track_html

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 200
MAX_ATTEMPTS = 5
RETRY_BACKOFF_SECONDS = (60, 300, 1800, 7200)
UTC_ZONE = ZoneInfo("UTC")
Clock = Callable[[], datetime]

_messages = OutboundMessage.__table__
_HELD = ("claimed", "sending")  # statuses only the dispatcher holding the lease may change
_record_result = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"), _messages.c.status.in_(_HELD))
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


class LeaseLost(Exception):
    """The message is no longer `claimed` by this dispatcher (its lease ran out and another
    took it over): it must not be sent from here."""


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
    stays on that timeline."""
    clock = clock or running_clock(now)
    lease = timedelta(seconds=current_settings().dispatch_lease_seconds)
    stats = DispatchStats()
    stats.requeued, stats.unknown = recover_interrupted(now)
    while claimed := _claim(now, batch_size, lease):
        for result in _deliver(claimed, now, clock, lease):
            stats.count(result)
    return stats


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


def _claim(now: datetime, batch_size: int, lease: timedelta) -> list[uuid.UUID]:
    due = (
        select(_messages.c.id)
        .where(
            _messages.c.status == "queued",
            _messages.c.next_attempt_at <= now,
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
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    )
    claimed = db.session.execute(
        update(_messages)
        .where(_messages.c.id.in_(due), _messages.c.status == "queued")
        .values(
            status="claimed",
            attempts=_messages.c.attempts + 1,
            claimed_at=now,
            lease_expires_at=now + lease,
        )
        .returning(_messages.c.id)
    ).scalars()
    ids = list(claimed)
    _skip_suppressed(ids, now)
    _skip_exited(ids, now)
    db.session.commit()
    return ids


def _skip_suppressed(ids: list[uuid.UUID], now: datetime) -> None:
    """In the claiming transaction: messages to suppressed addresses are skipped with the
    reason, even if queued long ago, and their enrollments end with that reason. Removes
    them from `ids`."""
    if not ids:
        return
    reason = (
        select(Suppression.reason)
        .where(
            Suppression.workspace_id == _messages.c.workspace_id,
            Suppression.email == func.lower(_messages.c.to_email),
        )
        .scalar_subquery()
    )
    skipped = db.session.execute(
        update(_messages)
        .where(_messages.c.id.in_(ids), reason.is_not(None))
        .values(
            status="skipped",
            last_error=literal("address suppressed: ") + reason,
            updated_at=now,
        )
        .returning(_messages.c.id, _messages.c.enrollment_id, _messages.c.last_error)
    ).all()
    by_reason: dict[str, list[uuid.UUID]] = {}
    for message_id, enrollment_id, error in skipped:
        ids.remove(message_id)
        by_reason.setdefault(error.removeprefix("address suppressed: "), []).append(enrollment_id)
    for why, enrollments in by_reason.items():  # at most one statement per kind of reason
        db.session.execute(
            update(ContactSequence)
            .where(
                ContactSequence.id.in_(enrollments),
                # the last email of a completed enrollment never went out either
                ContactSequence.status.in_(("active", "completed")),
            )
            .values(**exited(why, now))
        )


def _skip_exited(ids: list[uuid.UUID], now: datetime) -> None:
    """In the claiming transaction: a message queued before its enrollment exited (a goal
    reached, a reply) is skipped with the reason. One queued in the same pass as the exit
    (an email right before an exit or move step) still goes. Removes them from `ids`."""
    if not ids:
        return
    ended = (
        select(ContactSequence.exit_reason)
        .where(
            ContactSequence.id == _messages.c.enrollment_id,
            ContactSequence.status == "exited",
            ContactSequence.finished_at > _messages.c.queued_at,
        )
        .correlate(_messages)
    )
    skipped = db.session.execute(
        update(_messages)
        .where(_messages.c.id.in_(ids), ended.exists())
        .values(
            status="skipped",
            last_error=literal("the enrollment exited before it was sent: ")
            + func.coalesce(ended.scalar_subquery(), "exited"),
            updated_at=now,
        )
        .returning(_messages.c.id)
    ).scalars()
    for message_id in list(skipped):
        ids.remove(message_id)


def load_rows(ids: list[uuid.UUID]) -> list[Any]:
    """The messages as the dispatcher sends them: contact, step, sequence and sender, each
    with the content of the version that queued it."""
    stmt = (
        select(
            OutboundMessage.id,
            OutboundMessage.message_id,
            OutboundMessage.to_email,
            OutboundMessage.attempts,
            OutboundMessage.send_window,
            OutboundMessage.variant_key,
            OutboundMessage.sequence_id,
            OutboundMessage.step_id,
            OutboundMessage.sequence_version,
            OutboundMessage.tenant_id,
            OutboundMessage.workspace_id,
            OutboundMessage.enrollment_id,
            Sequence.name.label("sequence_name"),
            SequenceStep.name.label("step_name"),
            SequenceStep.key.label("step_key"),
            OutboundMessage.queued_at,
            ContactSequence.enrolled_at,
            Sequence.published_version,
            SequenceStep.config,
            Sequence.settings,
            Workspace.from_email.label("workspace_from_email"),
            Workspace.from_name.label("workspace_from_name"),
            *PROFILE_COLUMNS[1:],
            ContactSequence.context_data.label("enrollment_context"),
        )
        .join(SequenceStep, SequenceStep.id == OutboundMessage.step_id)
        .join(Sequence, Sequence.id == OutboundMessage.sequence_id)
        .join(Workspace, Workspace.id == OutboundMessage.workspace_id)
        .join(Contact, Contact.id == OutboundMessage.contact_id)
        .outerjoin(ContactSequence, ContactSequence.id == OutboundMessage.enrollment_id)
        .where(OutboundMessage.id.in_(ids))
    )
    return as_queued(list(db.session.execute(stmt)))


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
    out = []
    for row in rows:
        snapshot = snapshots.get((row.sequence_id, row.sequence_version))
        step = snapshot.step(row.step_id) if snapshot else None
        if snapshot is None or step is None:
            out.append(row)
            continue
        content = {"config": step.get("config") or {}, "settings": snapshot.settings}
        out.append(SimpleNamespace(**{**row._asdict(), **content}))
    return out


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


def _deliver(ids: list[uuid.UUID], now: datetime, clock: Clock, lease: timedelta) -> list[Result]:
    """Send the claimed messages one by one; what SMTP said is committed at once, outcomes
    without SMTP (captured, refused templates, no connection) with the batch."""
    rows = load_rows(ids)
    db.session.commit()
    attempts: list[dict[str, Any]] = []
    with ExitStack() as stack:
        try:
            transport = stack.enter_context(transport_for(current_settings().smtp_url))
        except SendError as exc:  # the server could not be reached: none was handed over
            results = []
            for row in rows:
                results.append(_record(_retry_or_fail(row, exc, None, now), now, clock))
                attempts.append(_attempt(row, results[-1], now, clock()))
        else:
            results = []
            threads = threads_for(rows, is_threaded)
            gate = sender_gate({_sender(row) for row in rows}, now)
            keys = signing_keys(_sender(row) for row in rows)
            for row in rows:
                held = gate.admit(_sender(row), now)
                if held is not None:  # the domain's daily cap or spacing: later, not dropped
                    retry_at, why = held
                    deferred = Result(row.id, "queued", why, None, retry_at, True)
                    results.append(_record(deferred, now, clock))
                    continue
                start = _StartSending(row, clock, lease)
                thread = threads.get(row.id)
                began = clock()
                try:
                    result = deliver_one(row, transport, now, True, start, thread, keys)
                except LeaseLost:
                    continue
                results.append(_record(result, now, clock))
                if not result.deferred:
                    attempts.append(_attempt(row, result, start.at or began, clock()))
                if transport is not None:
                    _commit_outcomes(attempts)
    by_id = {row.id: row for row in rows}
    end_failed_runs(((by_id[r.id], r.error) for r in results if r.status == "failed"), now)
    _commit_outcomes(attempts)
    return results


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


class _StartSending:
    """What to do right before the message's SMTP transaction: claimed -> sending, committed,
    so that a crash from here on leaves it `sending` (outcome unknown), and never before.
    Remembers when (`at`): the attempt's start."""

    def __init__(self, row: Any, clock: Clock, lease: timedelta) -> None:
        self.row, self.clock, self.lease = row, clock, lease
        self.at: datetime | None = None

    def __call__(self) -> None:
        self.at = self.clock()
        taken = db.session.execute(
            update(_messages)
            .where(_messages.c.id == self.row.id, _messages.c.status == "claimed")
            .values(status="sending", lease_expires_at=self.at + self.lease)
        ).rowcount
        db.session.commit()
        if not taken:
            raise LeaseLost(self.row.id)


@contextmanager
def transport_for(smtp_url: str | None) -> Iterator[SmtpTransport | None]:
    """One SMTP connection for the whole batch; None means capture to the outbox."""
    if not smtp_url:
        with nullcontext(None) as none:
            yield none
        return
    with SmtpTransport(parse_smtp_url(smtp_url)) as transport:
        yield transport


def deliver_one(
    row: Any,
    transport: SmtpTransport | None,
    now: datetime,
    track: bool = False,
    before_send: Callable[[], None] | None = None,
    thread: Thread | None = None,
    keys: SigningKeys | None = None,
) -> Result:
    """Render one message in the sandbox and send it (or capture it when there is no SMTP).

    `track` rewrites links for click tracking and adds the open pixel (unless the sequence
    turned open tracking off): only for a real outbox row, whose id the tracking tokens name
    (a test send has none). A plain-text-only step sends no HTML, so no pixel either.
    `before_send` runs right before the SMTP transaction, once the message is composed.
    `thread` makes it a reply to the run's previous email (services/mail_threads.py).
    `keys` are the DKIM keys of the batch's sending domains (services/sending_domains.py).
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
    result = _send(row, config, rendered, transport, link, now, before_send, thread, keys)
    result.links = links if result.rendered is not None else None
    return result


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


def compose_for(
    row: Any,
    config: dict[str, Any],
    rendered: RenderedEmail,
    link: str,
    sent_at: datetime,
    thread: Thread | None,
) -> EmailMessage:
    """The MIME message for an outbox row (unsigned): the one place its headers are decided,
    also for the outbox's message page. ValueError for an address or header that cannot go."""
    settings = row.settings or {}
    return compose_message(
        rendered=rendered,
        from_email=from_address(row),
        from_name=sender_name(config, settings, row.workspace_from_name),
        to_email=row.to_email,
        to_name=" ".join(p for p in (row.first_name, row.last_name) if p) or None,
        message_id=row.message_id,
        unsubscribe_url=link,
        sent_at=sent_at,
        reply_to=settings.get("reply_to"),
        in_reply_to=thread.in_reply_to if thread else None,
        references=thread.references if thread else (),
        list_name=_list_name(row),
    )


def _send(
    row: Any,
    config: dict[str, Any],
    rendered: RenderedEmail,
    transport: SmtpTransport | None,
    link: str,
    now: datetime,
    before_send: Callable[[], None] | None,
    thread: Thread | None = None,
    keys: SigningKeys | None = None,
) -> Result:
    if transport is None:
        return Result(row.id, "captured", rendered=rendered)
    try:
        message = compose_for(row, config, rendered, link, now, thread)
    except ValueError as exc:
        return Result(row.id, "failed", f"invalid message: {exc}", rendered)
    key = (keys or {}).get(_sender(row))
    if key is not None:
        sign(message, key)
    if before_send is not None:
        before_send()
    try:
        reply = transport.send(message)
    except UncertainSendError as exc:
        return Result(row.id, "unknown", f"{exc}; not resent on its own", rendered)
    except PermanentSendError as exc:
        return Result(row.id, "failed", str(exc), rendered, reply=_reply(exc))
    except SendError as exc:
        return _retry_or_fail(row, exc, rendered, now)
    sender = domain_of(from_address(row))
    return Result(row.id, "sent", rendered=rendered, sender_domain=sender, reply=reply)


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


def _record(result: Result, now: datetime, clock: Clock) -> Result:
    """Write one outcome, only over a row this dispatcher still holds."""
    rendered = result.rendered
    db.session.execute(
        _record_result,
        {
            "b_id": result.id,
            "b_status": result.status,
            "b_sent_at": now if result.status in ("sent", "captured") else None,
            "b_accepted_at": clock() if result.status == "sent" else None,
            "b_next": result.retry_at or now,
            "b_error": result.error,
            "b_subject": rendered.subject if rendered else None,
            "b_html": rendered.html if rendered else None,
            "b_text": rendered.text if rendered else None,
            "b_links": result.links,
            "b_domain": result.sender_domain,
            "b_refund": 1 if result.deferred else 0,
            "b_now": now,
        },
    )
    return result


def _commit_outcomes(attempts: list[dict[str, Any]]) -> None:
    """Commit recorded outcomes with their attempt rows (one INSERT for those pending, which
    it empties); on PostgreSQL without waiting for the disk. Should the database itself
    crash first, a row is back to `sending`, which recovery makes `unknown`, or to
    `claimed`, which never reached SMTP and is sent again: never a duplicate. Only the
    `sending` mark must be durable before its SMTP transaction."""
    if attempts:
        db.session.execute(insert(MessageAttempt), attempts)
        attempts.clear()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    db.session.commit()
