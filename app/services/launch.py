"""The launch checklist (the seed's Step 4) and the test send that completes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from flask import current_app

from app.core.definition import step_config_problems
from app.core.draft import check_draft
from app.extensions import db
from app.mail.compose import make_message_id
from app.mail.smtp import SendError
from app.models import Contact, Sequence, User
from app.services.builder import draft_of
from app.services.dispatcher import Result, deliver_one, transport_for
from app.services.links import sender_domain

SAMPLE_CONTACT: dict[str, Any] = {
    "email": "alex.rivera@example.com",
    "first_name": "Alex",
    "last_name": "Rivera",
    "timezone": "America/New_York",
    "fields": {"company": "Acme Inc", "plan": "trial"},
    "tags": ["sample"],
}
"""What a preview or test send uses when no real contact is chosen."""

_TRIGGER_TARGET = {"segment_join": "segment", "form_submission": "form", "api_event": "event"}


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool
    detail: str


def launch_checklist(sequence: Sequence) -> list[ChecklistItem]:
    draft = draft_of(sequence)
    emails = [step for step in draft.steps if step.type == "email"]
    empty = [
        step.name or step.id
        for step in emails
        if not str(step.config.get("subject") or "").strip()
        or not str(step.config.get("body") or "").strip()
    ]
    waits = [step for step in draft.steps if step.type in ("delay", "wait_until")]
    bad_waits = [
        step.name or step.id
        for step in waits
        if step_config_problems(step.type, step.config_dict(), step.id)
    ]
    errors = [f for f in check_draft(draft) if f.severity == "error"]
    return [
        ChecklistItem("trigger", "Entry trigger set", *_trigger_status(sequence.trigger_config)),
        ChecklistItem(
            "content",
            "Every email has a subject and body",
            bool(emails) and not empty,
            _missing("add an email step", "missing content", emails, empty),
        ),
        ChecklistItem(
            "delays",
            "Delays and waits configured",
            not bad_waits,
            f"check {', '.join(bad_waits)}" if bad_waits else f"{len(waits)} configured",
        ),
        ChecklistItem(
            "graph",
            "No problems on the canvas",
            not errors,
            f"{len(errors)} problem(s) marked in red" if errors else "every path is connected",
        ),
        ChecklistItem(
            "test",
            "Test email sent to yourself",
            sequence.test_sent_at is not None,
            f"sent to {sequence.test_sent_to}" if sequence.test_sent_at else "not sent yet",
        ),
    ]


def _trigger_status(trigger: dict[str, Any] | None) -> tuple[bool, str]:
    if not trigger or not trigger.get("type"):
        return False, "choose how contacts enter, in the sequence settings"
    kind = trigger["type"]
    target = _TRIGGER_TARGET.get(kind)
    if target and not str(trigger.get(target) or "").strip():
        return False, f"name the {target} for {kind.replace('_', ' ')}"
    what = f": {trigger[target]}" if target else ""
    return True, f"{kind.replace('_', ' ')}{what}"


def _missing(none: str, problem: str, items: list[Any], bad: list[str]) -> str:
    if not items:
        return none
    if bad:
        return f"{problem}: {', '.join(bad)}"
    return f"{len(items)} email(s) ready"


def ready_to_launch(items: list[ChecklistItem]) -> bool:
    return all(item.done for item in items)


class _TestRow(NamedTuple):
    """The shape the dispatcher reads from the outbox, filled in for a test send."""

    id: uuid.UUID
    message_id: str
    to_email: str
    attempts: int
    send_window: None
    config: dict[str, Any]
    settings: dict[str, Any]
    workspace_from_email: str | None
    workspace_from_name: str | None
    email: str
    first_name: str | None
    last_name: str | None
    timezone: str | None
    fields: dict[str, Any]
    tags: list[str]
    unsubscribed_at: None


@dataclass(frozen=True)
class SendTestReport:
    to_email: str
    results: list[tuple[str, Result]]  # (step name, outcome)

    @property
    def ok(self) -> bool:
        return all(result.status in ("sent", "captured") for _, result in self.results)

    @property
    def captured(self) -> bool:
        return any(result.status == "captured" for _, result in self.results)


def send_test_emails(
    sequence: Sequence, user: User, contact: Contact | None, now: datetime
) -> SendTestReport:
    """Every email step, rendered for `contact` (or the sample), through the dispatcher's
    own render-and-send path to the signed-in user; subjects are marked as a test."""
    person = _person(contact)
    emails = [step for step in sequence.steps if step.type == "email"]  # in sort order
    rows = [
        (step.name or step.key, _test_row(sequence, user, person, step.config, index, len(emails)))
        for index, step in enumerate(emails, start=1)
    ]
    try:
        with transport_for(current_app.config.get("SMTP_URL")) as transport:
            results = [(name, deliver_one(row, transport, now)) for name, row in rows]
    except SendError as exc:
        results = [(name, Result(row.id, "failed", str(exc))) for name, row in rows]
    report = SendTestReport(user.email, results)
    if results and report.ok:
        sequence.test_sent_at, sequence.test_sent_to = now, user.email
        db.session.commit()
    return report


def _person(contact: Contact | None) -> dict[str, Any]:
    if contact is None:
        return SAMPLE_CONTACT
    return {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "timezone": contact.timezone,
        "fields": contact.fields or {},
        "tags": contact.tags or [],
    }


def _test_row(
    sequence: Sequence,
    user: User,
    person: dict[str, Any],
    config: dict[str, Any],
    index: int,
    total: int,
) -> _TestRow:
    marker = f"[Test {index}/{total}]" if total > 1 else "[Test]"
    row_id = uuid.uuid4()
    return _TestRow(
        id=row_id,
        message_id=make_message_id(f"test.{row_id.hex}", sender_domain()),
        to_email=user.email,
        attempts=1,
        send_window=None,
        config={**config, "subject": f"{marker} {config.get('subject', '')}"},
        settings=sequence.settings or {},
        workspace_from_email=user.workspace.from_email,
        workspace_from_name=user.workspace.from_name,
        email=person["email"],
        first_name=person["first_name"],
        last_name=person["last_name"],
        timezone=person["timezone"],
        fields=person["fields"],
        tags=person["tags"],
        unsubscribed_at=None,
    )
