"""Connected inboxes: read each mailbox's new messages over IMAP and hand every one to the
same inbound code as `POST /api/inbound/email` (replies, auto-replies, bounces, complaints).

Where a poll starts. A mailbox remembers the folder's UIDVALIDITY and the last UID it
handled; a poll reads the UIDs above it, oldest first, at most MAX_MESSAGES_PER_POLL (the
rest wait for the next poll). When there is no such point (the first poll), or the
server's UIDVALIDITY changed (the folder was rebuilt and every UID means something new),
the poll starts at the first message whose internal date is on or after the day before the
mailbox was connected (first poll) or last polled (UIDVALIDITY changed): mail older than
that is never read. Nothing is handled twice: every message handled leaves an InboxReceipt,
unique per (mailbox, UIDVALIDITY, UID) and written in the transaction that records its
event, so a second poller, concurrent or later, handles nothing again; after a UIDVALIDITY
change the messages whose Message-ID already has a receipt of this mailbox are skipped.

What a poll never does: set \\Seen (BODY.PEEK, and the folder is opened read-only), delete
mail, or move it, unless the mailbox names a `move_to` folder; then the messages that
are about our emails (replies, auto-replies, bounces, complaints, also ones already
recorded by another path) are moved there after they are recorded; other mail stays.
A message over MAX_MESSAGE_BYTES is read by its headers alone (enough for a reply).

A failing mailbox keeps its error in `last_error` and the other mailboxes are polled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from imap_tools.errors import ImapToolsError
from imap_tools.mailbox import BaseMailBox
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.core.events import AUTO_REPLY, BOUNCED, COMPLAINED, REPLIED
from app.extensions import db
from app.models import Workspace
from app.models.inbox import InboxReceipt, Mailbox
from app.services import imap, inbound
from app.services.imap import ImapFailure, MailboxSettings
from app.services.secret_box import SecretUnreadable, unseal

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_POLL = 200
MAX_MESSAGE_BYTES = 10_000_000
"""A larger message is read by its headers only."""
FETCH_BATCH = 25
"""Messages per FETCH."""
MAX_ERROR = 1000
MATCHED = frozenset({REPLIED, AUTO_REPLY, BOUNCED, COMPLAINED})
MOVED = MATCHED | {"duplicate"}
"""Outcomes of messages about our emails: moved to `move_to` when the mailbox names one."""


@dataclass
class PollReport:
    """What one poll of one mailbox did."""

    name: str
    outcomes: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def new(self) -> int:
        return sum(self.outcomes.values())

    def count(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)

    def summary(self) -> str:
        if self.error:
            return f"{self.name}: failed: {self.error}"
        skipped = self.new - sum(self.count(kind) for kind in MATCHED)
        return (
            f"{self.name}: {self.new} new, {self.count(REPLIED)} reply, "
            f"{self.count(AUTO_REPLY)} auto-reply, {self.count(BOUNCED)} bounce, "
            f"{self.count(COMPLAINED)} complaint, {skipped} skipped"
        )


def settings_of(mailbox: Mailbox) -> MailboxSettings:
    """How to reach the mailbox; SecretUnreadable when its password cannot be unsealed."""
    return MailboxSettings(
        host=mailbox.host,
        port=mailbox.port,
        security=mailbox.security,
        username=mailbox.username,
        password=unseal(mailbox.sealed_password),
        folder=mailbox.folder,
        move_to=mailbox.move_to,
    )


def poll_all(now: datetime) -> list[PollReport]:
    """Poll every mailbox of every workspace, oldest poll first; one failing mailbox does
    not stop the others."""
    ids = db.session.scalars(
        select(Mailbox.id).order_by(Mailbox.last_polled_at.asc().nulls_first(), Mailbox.id)
    ).all()
    return [poll_mailbox_id(mailbox_id, now) for mailbox_id in ids]


def poll_mailbox_id(mailbox_id: uuid.UUID, now: datetime) -> PollReport:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:  # deleted meanwhile
        return PollReport(str(mailbox_id), error="deleted")
    return poll_mailbox(mailbox, now)


def poll_mailbox(mailbox: Mailbox, now: datetime) -> PollReport:
    """Read and handle the mailbox's new messages; its error, if any, is stored on it."""
    mailbox_id, report = mailbox.id, PollReport(mailbox.name)
    try:
        _poll(mailbox, now, report)
    except (ImapFailure, SecretUnreadable) as exc:
        report.error = str(exc)
    except ImapToolsError as exc:
        report.error = f"the server refused a command: {exc}"
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("polling mailbox %s failed on the database", mailbox_id)
        report.error = "a database error interrupted the poll; it is tried again"
    except Exception:  # one mailbox's surprise must not stop the others' polls
        db.session.rollback()
        log.exception("polling mailbox %s failed", mailbox_id)
        report.error = "an unexpected error interrupted the poll; it is tried again"
    db.session.rollback()  # nothing half-done stays in the session
    _finish(mailbox_id, now, report.error)
    return report


def _finish(mailbox_id: uuid.UUID, now: datetime, error: str | None) -> None:
    mailbox = db.session.get(Mailbox, mailbox_id)
    if mailbox is None:
        return
    mailbox.last_polled_at = now
    mailbox.last_error = error[:MAX_ERROR] if error else None
    db.session.commit()


def _poll(mailbox: Mailbox, now: datetime, report: PollReport) -> None:
    settings = settings_of(mailbox)
    mailbox_id = mailbox.id
    workspace = db.session.get_one(Workspace, mailbox.workspace_id)
    with imap.connected(settings) as box:
        selected = imap.select(box, settings.folder, readonly=not settings.move_to)
        first = _first_uid(box, mailbox, selected, now)
        uids = imap.uids_from(box, first)[:MAX_MESSAGES_PER_POLL]
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            handled = _handle_batch(box, mailbox_id, workspace, selected.uidvalidity, batch, now)
            for outcome in handled.values():
                report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1
            if settings.move_to:
                imap.move(box, [u for u, o in handled.items() if o in MOVED], settings.move_to)
            _advance(mailbox_id, selected.uidvalidity, batch[-1])


def _first_uid(box: BaseMailBox, mailbox: Mailbox, selected: imap.Selected, now: datetime) -> int:
    """The first UID this poll reads (see the module's docstring); a new starting point is
    saved at once, so a poll that fails later starts there again."""
    if mailbox.uidvalidity == selected.uidvalidity and mailbox.last_uid is not None:
        return mailbox.last_uid + 1
    since = mailbox.last_polled_at if mailbox.uidvalidity is not None else mailbox.created_at
    recent = imap.uids_since(box, ((since or now) - timedelta(days=1)).date())
    first = recent[0] if recent else (selected.uidnext or 1)
    _advance(mailbox.id, selected.uidvalidity, first - 1)
    return first


def _advance(mailbox_id: uuid.UUID, uidvalidity: int, last_uid: int) -> None:
    mailbox = db.session.get_one(Mailbox, mailbox_id)
    if mailbox.uidvalidity != uidvalidity or (mailbox.last_uid or 0) < last_uid:
        mailbox.uidvalidity, mailbox.last_uid = uidvalidity, last_uid
    db.session.commit()


def _handle_batch(
    box: BaseMailBox,
    mailbox_id: uuid.UUID,
    workspace: Workspace,
    uidvalidity: int,
    uids: list[int],
    now: datetime,
) -> dict[int, str]:
    """Handle the batch's messages not handled yet; {uid: outcome} of those this poll
    handled (another poller's are left out)."""
    done = _receipted(mailbox_id, uidvalidity, uids)
    wanted = [uid for uid in uids if uid not in done]
    sizes = imap.sizes(box, wanted)
    small = [uid for uid in wanted if sizes.get(uid, 0) <= MAX_MESSAGE_BYTES]
    raw = imap.peek(box, small) | imap.peek(
        box, [uid for uid in wanted if uid not in small], headers_only=True
    )
    seen_ids = _receipted_message_ids(mailbox_id, raw.values())
    handled: dict[int, str] = {}
    for uid in wanted:
        if uid not in raw:
            continue  # expunged since the search
        own_id = _own_id(raw[uid])
        if own_id is not None and own_id in seen_ids:
            # the same email under an earlier UIDVALIDITY
            outcome = _only_receipt(
                workspace, mailbox_id, uidvalidity, uid, own_id, "already_handled", now
            )
        else:
            outcome = _handle(workspace, mailbox_id, uidvalidity, uid, own_id, raw[uid], now)
        if outcome is not None:
            handled[uid] = outcome
    return handled


def _handle(
    workspace: Workspace,
    mailbox_id: uuid.UUID,
    uidvalidity: int,
    uid: int,
    own_id: str | None,
    raw: bytes,
    now: datetime,
) -> str | None:
    """Record one message and its receipt in one transaction; its outcome, or None when
    another poller handled it first."""
    written: list[tuple[InboxReceipt, str]] = []

    def write_receipt(outcome: str) -> None:
        receipt = _receipt(workspace, mailbox_id, uidvalidity, uid, own_id, outcome, now)
        db.session.add(receipt)
        written.append((receipt, outcome))

    try:
        inbound.receive(workspace, raw, now, on_record=write_receipt)
    except inbound.InboundError:
        db.session.rollback()
        return _only_receipt(workspace, mailbox_id, uidvalidity, uid, own_id, "unreadable", now)
    except IntegrityError:  # an unmatched email whose receipt another poller wrote first
        db.session.rollback()
        return None
    if written and sa_inspect(written[-1][0]).persistent:
        return written[-1][1]
    # Rolled back: another poller holds this UID, or its event was being recorded by
    # another path at the same moment (the API): a receipt alone says so.
    if _receipted(mailbox_id, uidvalidity, [uid]):
        return None
    return _only_receipt(workspace, mailbox_id, uidvalidity, uid, own_id, "duplicate", now)


def _receipt(
    workspace: Workspace,
    mailbox_id: uuid.UUID,
    uidvalidity: int,
    uid: int,
    own_id: str | None,
    outcome: str,
    now: datetime,
) -> InboxReceipt:
    return InboxReceipt(
        tenant_id=workspace.tenant_id,
        workspace_id=workspace.id,
        mailbox_id=mailbox_id,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=own_id,
        outcome=outcome,
        processed_at=now,
    )


def _only_receipt(
    workspace: Workspace,
    mailbox_id: uuid.UUID,
    uidvalidity: int,
    uid: int,
    own_id: str | None,
    outcome: str,
    now: datetime,
) -> str | None:
    """Store a receipt with nothing else: the outcome, or None when another poller stored
    one first."""
    db.session.add(_receipt(workspace, mailbox_id, uidvalidity, uid, own_id, outcome, now))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return outcome


def _receipted(mailbox_id: uuid.UUID, uidvalidity: int, uids: list[int]) -> set[int]:
    if not uids:
        return set()
    return set(
        db.session.scalars(
            select(InboxReceipt.uid).where(
                InboxReceipt.mailbox_id == mailbox_id,
                InboxReceipt.uidvalidity == uidvalidity,
                InboxReceipt.uid.in_(uids),
            )
        )
    )


def _receipted_message_ids(mailbox_id: uuid.UUID, raws: Iterable[bytes]) -> set[str]:
    """Which of these messages' own Message-IDs already have a receipt of this mailbox."""
    wanted = {own for raw in raws if (own := _own_id(raw)) is not None}
    if not wanted:
        return set()
    return set(
        db.session.scalars(
            select(InboxReceipt.message_id).where(
                InboxReceipt.mailbox_id == mailbox_id, InboxReceipt.message_id.in_(wanted)
            )
        )
    )


def _own_id(raw: bytes) -> str | None:
    """The message's own Message-ID, read from its header block alone."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0][: inbound.MAX_HEADER * 4]
    try:
        message = inbound.parse_message(head + b"\r\n\r\n")
    except inbound.InboundError:
        return None
    return inbound.own_message_id(message)
