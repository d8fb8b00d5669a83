"""Inbound email: replies to our messages, delivery status notifications (bounces) and
feedback-loop complaints.

A message is matched to one of the workspace's sent emails by the Message-IDs it refers to
(In-Reply-To and References; for a bounce also the returned original's headers), in one
query. What happens is recorded as a ContactEvent attributed to that email, its step and
its enrollment:

- `replied`: a person answered; the enrollment exits when its sequence says `on_reply`.
- `auto_reply`: an out-of-office or other automatic answer; nothing else happens.
- `bounced`: a DSN; a permanent failure (5.x.x) puts the address on the suppression list
  and ends every active enrollment of the contact.
- `complained`: a feedback-loop report in ARF (RFC 5965: `multipart/report;
  report-type=feedback-report`) returning one of our emails: the recipient marked it as
  spam, so the address is suppressed (`complained`) and every active enrollment of the
  contact ends (`exited`, reason `complained`).

The event is recorded like every other (`contact_changes.record_events`: waits woken,
goals and segments reacting), with the email's Message-ID as its receipt: a retried
delivery of the same inbound message within a day is answered as a duplicate and recorded
once. Everything is one transaction, committed here; a caller that keeps its own record of
what it handled (the connected inbox's receipts) writes it in that transaction through
`on_record`.

The work per message is bounded whatever it carries: the standard library's header parser
takes time quadratic in a header's length, so every header is cut to MAX_HEADER characters
as it is read (References to its newest end), Message-IDs are found by one regex scan of
the raw value, and at most MAX_REFERENCES of them are looked up, in one query.
"""

from __future__ import annotations

import email
import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.events import AUTO_REPLY, BOUNCED, COMPLAINED, REPLIED
from app.extensions import db
from app.models import ContactEvent, OutboundMessage, Sequence, SequenceStep, Workspace
from app.services.contact_changes import Receipt, ReceiptConflict, record_events
from app.services.suppression import exit_enrollments, suppress

MAX_REFERENCES = 100
MAX_SUBJECT = 998  # RFC 5322's line limit: a longer "subject" is not one
MAX_HEADER = 16_000
"""Characters of a header kept for parsing (RFC 5322 allows 998 per line; folded headers
of real mail stay well under this)."""
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
_REFERENCES_TAIL = MAX_REFERENCES * 256
"""Characters kept from the end of References: room for MAX_REFERENCES ids of up to 252."""
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:"
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response)\b|auto:"
    r"|autoreply|away from (?:the|my) office|on vacation|vacation reply"
    r"|abwesenheitsnotiz|automatische antwort|abwesend"
    r"|réponse automatique|reponse automatique|absence du bureau|absent du bureau"
    r"|respuesta automática|respuesta automatica|fuera de la oficina"
    r"|risposta automatica|fuori sede|fuori ufficio"
    r"|afwezig|automatisch antwoord|niet aanwezig"
    r"|resposta automática|resposta automatica|ausente do escritório"
    r"|automatiskt svar|frånvaro|automatisk svar|poza biurem|odpowiedź automatyczna"
    r")",
    re.IGNORECASE,
)
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})


class InboundError(ValueError):
    """The request carried no readable email; `field` names what was wrong."""

    def __init__(self, message: str, field: str = "message") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class InboundResult:
    matched: bool
    event: str | None = None  # replied | auto_reply | bounced | complained
    enrollment_exited: bool = False
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        if not self.matched:
            return {"matched": False}
        body: dict[str, Any] = {
            "matched": True,
            "event": self.event,
            "enrollment_exited": self.enrollment_exited,
        }
        if self.duplicate:
            body["duplicate"] = True
        return body


@dataclass(frozen=True)
class Bounce:
    original_ids: list[str]
    status: str | None
    hard: bool
    recipient: str | None


@dataclass(frozen=True)
class Complaint:
    original_ids: list[str]
    feedback_type: str | None
    recipient: str | None


OnRecord = Callable[[str], None]
"""Called inside the recording transaction with what the email turned out to be: the
event's type, `duplicate` (already recorded) or `unmatched` (not about our emails)."""


# --- parsing ------------------------------------------------------------------------------


class _BoundedPolicy(EmailPolicy):
    """email.policy.default with each header cut to a bounded length as it is read, so no
    header can make parsing it slow; References keeps its end, where the newest ids are."""

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        if name.lower() == "references":
            return name, value[-_REFERENCES_TAIL:]
        return name, value[:MAX_HEADER]


_POLICY = _BoundedPolicy()


def parse_message(raw: bytes | None) -> EmailMessage:
    """The email in these bytes, or InboundError when there is none to read."""
    if not raw or not raw.strip():
        raise InboundError("send the raw email (message/rfc822) as the body or as 'message'")
    try:
        message = email.message_from_bytes(raw, policy=_POLICY)
    except Exception:  # the parser is lenient; anything it still refuses is unreadable
        raise InboundError("message is not a readable RFC 5322 email") from None
    if not message.keys() or not any(
        _header(message, name) for name in ("From", "Message-ID", "In-Reply-To", "Subject")
    ):
        raise InboundError("message is not a readable RFC 5322 email (no headers found)")
    assert isinstance(message, EmailMessage)
    return message


def _header(message: Message, name: str) -> str:
    """A header's value as text; '' when missing or too broken to read."""
    try:
        value = message.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    try:
        return str(value)
    except Exception:
        return ""


def _raw_header(message: Message, name: str) -> str:
    """A header's value as received, unparsed ('' when missing): Message-IDs are ASCII
    tokens a regex finds, with no need for the (slow) structured header parser."""
    wanted = name.lower()
    return next((str(v) for k, v in message.raw_items() if k.lower() == wanted), "")


def _ids(value: str) -> list[str]:
    """The distinct Message-IDs in a header value, in order (one linear scan)."""
    return list(dict.fromkeys(_MESSAGE_ID.findall(value)))


def referenced_ids(message: Message) -> list[str]:
    """The Message-IDs this one answers, most specific first: In-Reply-To, then References
    from the newest (last) to the oldest; at most MAX_REFERENCES."""
    in_reply_to = _ids(_raw_header(message, "In-Reply-To"))
    references = _ids(_raw_header(message, "References"))
    ordered = dict.fromkeys(in_reply_to[:MAX_REFERENCES])
    for token in reversed(references):
        if len(ordered) >= MAX_REFERENCES:
            break
        ordered.setdefault(token)
    return list(ordered)


def is_automatic(message: Message) -> bool:
    """An out-of-office or other machine-made answer (RFC 3834 and common practice)."""
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return True
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return True
    if _header(message, "Precedence").strip().lower() == "auto_reply":
        return True
    if _sender_local_part(message) in _DAEMONS:
        return True
    return bool(_AUTO_SUBJECT.search(_header(message, "Subject")))


def _sender_local_part(message: Message) -> str:
    sender = _header(message, "From")
    found = re.search(r"([^<\s@]+)@", sender)
    return found.group(1).lower() if found else ""


def is_delivery_report(message: Message) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and (message.get_param("report-type") or "").lower() == "delivery-status"
    )


def is_feedback_report(message: Message) -> bool:
    """An ARF feedback-loop report (RFC 5965)."""
    return (
        message.get_content_type() == "multipart/report"
        and (message.get_param("report-type") or "").lower() == "feedback-report"
    )


def _returned_ids(message: Message) -> list[str]:
    """The Message-IDs of the original a report returns (in full or as headers only)."""
    original: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                original += _ids(_raw_header(inner, "Message-ID"))
        elif kind == "text/rfc822-headers":
            headers = email.message_from_string(_text(part), policy=_POLICY)
            original += _ids(_raw_header(headers, "Message-ID"))
    return list(dict.fromkeys(original[:MAX_REFERENCES] + referenced_ids(message)))[:MAX_REFERENCES]


def parse_bounce(message: Message) -> Bounce:
    """The original Message-IDs, the Status and the Final-Recipient of a DSN (RFC 3464)."""
    fields: list[Message] = []
    for part in message.walk():
        if part.get_content_type() == "message/delivery-status":
            fields.extend(_status_blocks(part))
    status, recipient, failed = None, None, False
    for block in fields:
        found = _STATUS.search(_header(block, "Status"))
        if found is None:
            continue
        action = _header(block, "Action").strip().lower()
        if status is None or (action == "failed" and not failed):
            status, failed = found.group(0), action == "failed"
            recipient = _address(_header(block, "Final-Recipient")) or _address(
                _header(block, "Original-Recipient")
            )
    hard = bool(status and status[0] == "5")
    return Bounce(_returned_ids(message), status, hard, recipient)


def parse_complaint(message: Message) -> Complaint:
    """The original Message-IDs, Feedback-Type and Original-Rcpt-To of an ARF report."""
    feedback_type, recipient = None, None
    for part in message.walk():
        if part.get_content_type() != "message/feedback-report":
            continue
        for block in _status_blocks(part):
            feedback_type = feedback_type or _header(block, "Feedback-Type").strip()[:64] or None
            recipient = recipient or _address(_header(block, "Original-Rcpt-To"))
    return Complaint(_returned_ids(message), feedback_type, recipient)


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    # some parsers leave it as text: blocks of header fields separated by blank lines
    text = payload if isinstance(payload, str) else _text(part)
    blocks = re.split(r"\r?\n\s*\r?\n", text)
    return [email.message_from_string(b.strip() + "\n", policy=_POLICY) for b in blocks]


def _text(part: Message) -> str:
    try:
        content = part.get_payload(decode=True)
    except Exception:
        content = None
    if isinstance(content, bytes):
        return content.decode("utf-8", "replace")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _address(value: str) -> str | None:
    """`rfc822; user@example.com` (or a bare address) -> `user@example.com`."""
    _, _, address = value.rpartition(";")
    address = address.strip().strip("<>").strip()
    return address[:320] if "@" in address else None


# --- recording ----------------------------------------------------------------------------


def receive(
    workspace: Workspace, raw: bytes | None, now: datetime, on_record: OnRecord | None = None
) -> InboundResult:
    """Parse, match and record one inbound email; commits. InboundError if unreadable."""
    message = parse_message(raw)
    report: Bounce | Complaint | None = None
    if is_delivery_report(message):
        report = parse_bounce(message)
    elif is_feedback_report(message):
        report = parse_complaint(message)
    wanted = report.original_ids if report is not None else referenced_ids(message)
    outbound = _match(workspace.id, wanted)
    if outbound is None:
        if on_record is not None:
            on_record("unmatched")
            db.session.commit()
        return InboundResult(matched=False)
    kind = _kind(message, report)
    try:
        return _record(workspace, outbound, message, kind, report, now, on_record)
    except (IntegrityError, ReceiptConflict):  # the same inbound email, delivered again
        db.session.rollback()
        return InboundResult(matched=True, event=kind, duplicate=True)


def _kind(message: Message, report: Bounce | Complaint | None) -> str:
    if isinstance(report, Bounce):
        return BOUNCED
    if isinstance(report, Complaint):
        return COMPLAINED
    return AUTO_REPLY if is_automatic(message) else REPLIED


def _match(workspace_id: uuid.UUID, wanted: list[str]) -> OutboundMessage | None:
    """The first of these ids (in their order) that is one of the workspace's emails."""
    if not wanted:
        return None
    found = {
        m.message_id: m
        for m in db.session.scalars(
            OutboundMessage.in_workspace(workspace_id, OutboundMessage.message_id.in_(wanted))
        )
    }
    return next((found[i] for i in wanted if i in found), None)


def own_message_id(message: Message) -> str | None:
    """The email's own Message-ID, if it has one."""
    found = _ids(_raw_header(message, "Message-ID"))
    return found[0] if found else None


def _receipt(message: Message, kind: str) -> Receipt | None:
    """The email's own Message-ID as the event's receipt: a retried delivery repeats it."""
    own_id = own_message_id(message)
    if own_id is None:
        return None
    key = "inbound:" + hashlib.sha256(own_id.encode()).hexdigest()
    return Receipt(key, hashlib.sha256(kind.encode()).hexdigest())


def _record(
    workspace: Workspace,
    outbound: OutboundMessage,
    message: Message,
    kind: str,
    report: Bounce | Complaint | None,
    now: datetime,
    on_record: OnRecord | None,
) -> InboundResult:
    """Record the event through the shared path, which drops a repeated delivery; only a
    new one exits enrollments or suppresses the address, in the event's transaction."""
    step_key = db.session.scalar(
        select(SequenceStep.key).where(SequenceStep.id == outbound.step_id)
    )
    properties: dict[str, Any] = {"email_step_id": step_key, "message_id": outbound.message_id}
    if isinstance(report, Bounce):
        properties |= {
            "status": report.status,
            "hard": report.hard,
            "recipient": report.recipient or outbound.to_email,
        }
    elif isinstance(report, Complaint):
        properties |= {
            "feedback_type": report.feedback_type,
            "recipient": report.recipient or outbound.to_email,
        }
    else:
        properties["subject"] = _header(message, "Subject")[:MAX_SUBJECT]
    event = ContactEvent.about_message(outbound, kind, properties, now, "inbound")
    exited: list[bool] = []

    def consequences(stored: list[dict[str, Any]]) -> None:
        if stored:
            exited.append(_consequences(workspace, outbound, kind, report, now))
        if on_record is not None:
            on_record(kind if stored else "duplicate")

    recorded = record_events(
        [event], now, receipts=[_receipt(message, kind)], before_commit=consequences
    )
    if not recorded.stored:
        return InboundResult(matched=True, event=kind, duplicate=True)
    return InboundResult(matched=True, event=kind, enrollment_exited=any(exited))


def _consequences(
    workspace: Workspace,
    outbound: OutboundMessage,
    kind: str,
    report: Bounce | Complaint | None,
    now: datetime,
) -> bool:
    """A reply ends the enrollment when its sequence says `on_reply`; a hard bounce puts the
    address on the suppression list and ends every active enrollment of the contact as
    `failed`, with the bounce as the reason; a complaint suppresses the address too and
    ends them as `exited` (reason `complained`). Whether an enrollment ended."""
    if kind == REPLIED:
        exit_config = db.session.scalar(
            select(Sequence.exit_config).where(Sequence.id == outbound.sequence_id)
        )
        if isinstance(exit_config, dict) and exit_config.get("on_reply") is True:
            ended = exit_enrollments(
                workspace.id,
                [outbound.contact_id],
                "replied",
                now,
                sequence_ids=[outbound.sequence_id],
            )
            return ended > 0
    elif isinstance(report, Bounce) and report.hard:
        suppress(workspace.id, outbound.to_email, "bounced", now, detail=_bounce_detail(report))
        reason = f"bounced ({_bounce_detail(report)})"
        ended = exit_enrollments(workspace.id, [outbound.contact_id], reason, now, status="failed")
        return ended > 0
    elif isinstance(report, Complaint):
        detail = f"feedback report ({report.feedback_type or 'abuse'})"
        suppress(workspace.id, outbound.to_email, COMPLAINED, now, detail=detail)
        return exit_enrollments(workspace.id, [outbound.contact_id], COMPLAINED, now) > 0
    return False


def _bounce_detail(bounce: Bounce) -> str:
    return f"status {bounce.status}" + (f" for {bounce.recipient}" if bounce.recipient else "")
