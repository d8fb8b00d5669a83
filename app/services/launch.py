"""The launch checklist (the seed's Step 4) and the test send that completes it.

Blocking items must be done before the builder activates a sequence; warnings (a trigger
segment not created yet) are shown but do not block, so an API user may activate first
and create the segment after. The API's activation answers with the same warnings.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select

from app.config import current_settings
from app.core.draft import DraftStep, check_draft
from app.core.field_needs import Provided, field_needs, gaps
from app.core.format.parse import ab_test_goal_problem, step_config_problems
from app.core.graph import Problem
from app.core.steps import KINDS, WAITING_STEP_TYPES
from app.core.steps.email import describe_test
from app.core.variables import sequence_variables, variable_name
from app.extensions import db
from app.mail.compose import make_message_id
from app.mail.smtp import SendError
from app.models import Contact, Segment, Sequence, User, Workspace
from app.services.builder import draft_of
from app.services.dispatcher import Result, deliver_one, from_address, transport_for
from app.services.forms import ensure_form, field_is_fixed
from app.services.links import sender_domain
from app.services.panel_choices import custom_fields, goal_names
from app.services.segments import member_count
from app.services.sender_limits import domain_of
from app.services.sending_domains import find_domain, signing_keys
from app.services.template_budget import SAMPLE_CONTACT
from app.services.triggers import queued_while_paused, refused_while_paused, while_paused

MAX_TEST_RECIPIENTS = 10  # a test send, not a campaign: each gets every email step
TEST_SENT_TO_LENGTH = Sequence.__table__.c.test_sent_to.type.length
_TRIGGER_TARGET = {"segment_join": "segment", "form_submission": "form", "api_event": "event"}


@dataclass(frozen=True)
class TriggerInfo:
    """What the trigger item shows a marketer: who enters, and how to make them enter."""

    kind: str
    segment: str | None = None  # the trigger's segment name
    segment_id: uuid.UUID | None = None  # None while the segment does not exist
    members: int = 0
    form_public_id: str | None = None  # the hosted form, at /f/<public_id>
    curl: str | None = None  # an example POST /api/events for an api_event trigger


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool
    detail: str
    blocking: bool = True  # a warning when False: shown, but activation may go ahead
    trigger: TriggerInfo | None = None  # on the trigger item only


def launch_checklist(sequence: Sequence) -> list[ChecklistItem]:
    draft = draft_of(sequence)
    emails = [step for step in draft.steps if step.type == "email"]
    empty = [
        step.name or step.id
        for step in emails
        if not str(step.config.get("subject") or "").strip()
        or not str(step.config.get("body") or "").strip()
    ]
    waits = [step for step in draft.steps if step.type in WAITING_STEP_TYPES]
    bad_waits = [
        step.name or step.id
        for step in waits
        if step_config_problems(step.type, step.config_dict(), step.id)
    ]
    errors = [f for f in check_draft(draft) if f.severity == "error"]
    info = trigger_info(sequence)
    return [
        ChecklistItem(
            "trigger", "Entry trigger set", *_trigger_status(sequence.trigger_config), trigger=info
        ),
        *_segment_item(info),
        *_moves_item(sequence),
        ChecklistItem(
            "content",
            "Every email has a subject and body",
            bool(emails) and not empty,
            _missing("add an email step", "missing content", emails, empty),
        ),
        *_field_items(sequence, draft.steps, info),
        *_ab_test_items(sequence, emails),
        *_holdout_item(sequence),
        *_sending_domain_item(sequence),
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
        _test_item(sequence),
        *_paused_item(sequence),
    ]


def _test_item(sequence: Sequence) -> ChecklistItem:
    """A test send before the first activation; a sequence that has been live (now paused,
    or a draft of its next version) resumes without one."""
    sent = sequence.test_sent_at is not None
    first = sequence.published_version is None and sequence.draft_of_id is None
    detail = f"sent to {sequence.test_sent_to}" if sent else "not sent yet"
    if not sent and not first:
        detail += " (optional: this sequence has been live)"
    return ChecklistItem("test", "Test email sent to yourself", sent, detail, blocking=first)


def _paused_item(sequence: Sequence) -> list[ChecklistItem]:
    """While paused: how many joiners wait to start on resume, or were turned away."""
    if sequence.status != "paused":
        return []
    if while_paused(sequence) == "queue":
        count = queued_while_paused(sequence)
        return [
            ChecklistItem(
                "paused",
                f"{count} enrollment(s) waiting to start",
                True,
                "contacts who meet the trigger while paused are enrolled and start on resume",
            )
        ]
    count = refused_while_paused(sequence)
    return [
        ChecklistItem(
            "paused",
            f"{count} joiner(s) refused while paused",
            count == 0,
            "contacts who meet the trigger while paused are not enrolled; pause with "
            "'queue them' instead to enroll them on resume",
            blocking=False,
        )
    ]


def _field_items(
    sequence: Sequence, steps: Iterable[DraftStep], info: TriggerInfo | None
) -> list[ChecklistItem]:
    """One item per value some steps read but the trigger or the sequence's variables may
    not supply (core/field_needs.py): a delay timed from a value nothing supplies blocks,
    naming its steps; other gaps warn. Nothing when no step reads such a value."""
    needs = field_needs(steps)
    if not needs:
        return []
    found = gaps(needs, _provided(sequence, info), sequence_variables(sequence.settings))
    if not found:
        count = len({need.field for need in needs})
        return [
            ChecklistItem(
                "fields", "Every value the steps use is provided", True, f"{count} checked"
            )
        ]
    return [
        ChecklistItem(f"fields:{gap.field}", gap.label, False, gap.detail, blocking=gap.blocking)
        for gap in found
    ]


def _provided(sequence: Sequence, info: TriggerInfo | None) -> Provided:
    """What a new enrollment can have: the workspace's contact fields, plus the trigger's
    form fields (required and hidden ones always; optional ones sometimes) or the event's
    filtered properties (others may come with the event)."""
    existing = frozenset(custom_fields(sequence.workspace_id))
    if info is None or info.kind not in ("form_submission", "api_event"):
        return Provided(always=existing)
    trigger = sequence.trigger_config or {}
    if info.kind == "api_event":
        keys = frozenset(str(key) for key in trigger.get("properties") or {})
        return Provided(always=existing | keys, open_properties=True)
    form = ensure_form(sequence.workspace_id, sequence.tenant_id, str(trigger["form"]))
    always = {spec["name"] for spec in form.fields if spec.get("required") or field_is_fixed(spec)}
    sometimes = {spec["name"] for spec in form.fields} - always
    return Provided(always=existing | always, sometimes=frozenset(sometimes))


def _ab_test_items(sequence: Sequence, emails: list[DraftStep]) -> list[ChecklistItem]:
    """The plan of each email's A/B test; a conversion-rate test whose goal the sequence
    does not have blocks (it could never decide), naming the step and the field."""
    goals = goal_names(sequence)
    items = []
    for step in emails:
        try:
            config = KINDS["email"].config_adapter.validate_python(step.config_dict())
        except ValueError:  # an unfinished email: the canvas item reports it
            continue
        if config.ab_test is None or not config.variants:
            continue
        plan = describe_test(config.ab_test)
        problem = ab_test_goal_problem(step.id, config, goals)
        detail = f"step '{step.id}', {problem.field}: {problem.message}" if problem else plan
        items.append(
            ChecklistItem("ab_test", f"A/B on {step.name or step.id}", problem is None, detail)
        )
    return items


def _holdout_item(sequence: Sequence) -> list[ChecklistItem]:
    percent = (sequence.settings or {}).get("holdout_percent") or 0
    if not percent:
        return []
    detail = (
        f"{percent}% of enrollments get no email; the report compares their goal "
        "conversions with everyone else's"
    )
    return [ChecklistItem("holdout", f"Holdout group: {percent}%", True, detail)]


def _sending_domain_item(sequence: Sequence) -> list[ChecklistItem]:
    """A warning while the From domain has no verified sending domain: that mail goes out
    without a DKIM signature of its own, which receivers trust less."""
    workspace = db.session.get(Workspace, sequence.workspace_id)
    sender = (
        (sequence.settings or {}).get("from_email")
        or (workspace.from_email if workspace else None)
        or current_settings().default_from_email
    )
    name = sender.rpartition("@")[2].lower()
    domain = find_domain(sequence.workspace_id, name)
    if domain is not None and domain.verified_at is not None:
        return []
    detail = (
        "its DKIM record is not found in DNS yet: publish it, then check again in Settings"
        if domain is not None
        else "add it in Settings and publish its DKIM record, or mail goes out unsigned"
    )
    return [
        ChecklistItem(
            "sending_domain", f"Sending domain {name} not verified", False, detail, blocking=False
        )
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


def trigger_info(sequence: Sequence) -> TriggerInfo | None:
    """The facts behind a complete trigger (None while it is unfinished); a form trigger's
    form is created here if missing, so its hosted URL can be shown before activation."""
    trigger = sequence.trigger_config or {}
    done, _ = _trigger_status(trigger)
    if not done:
        return None
    kind = trigger["type"]
    if kind == "segment_join":
        name = str(trigger["segment"])
        segment_id = db.session.scalar(
            select(Segment.id).where(
                Segment.workspace_id == sequence.workspace_id, Segment.name == name
            )
        )
        members = member_count(sequence.workspace_id, segment_id) if segment_id else 0
        return TriggerInfo(kind, segment=name, segment_id=segment_id, members=members)
    if kind == "form_submission":
        form = ensure_form(sequence.workspace_id, sequence.tenant_id, str(trigger["form"]))
        return TriggerInfo(kind, form_public_id=form.public_id)
    if kind == "api_event":
        base_url = current_settings().base_url
        curl = curl_example(base_url, str(trigger["event"]), trigger.get("properties") or {})
        return TriggerInfo(kind, curl=curl)
    return TriggerInfo(kind)


def curl_example(base_url: str, event: str, properties: dict[str, Any]) -> str:
    """A `POST /api/events` that enrolls the sample contact: the event with the properties
    the trigger requires, quoted for a POSIX shell whatever characters they hold."""
    body = {"event": event, "contact": {"email": SAMPLE_CONTACT["email"]}}
    if properties:
        body["properties"] = properties
    return "\n".join(
        (
            f"curl -X POST {shlex.quote(base_url.rstrip('/') + '/api/events')} \\",
            '  -H "Authorization: Bearer $PENGUINMAILS_API_TOKEN" \\',
            "  -H 'Content-Type: application/json' \\",
            f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}",
        )
    )


def _segment_item(info: TriggerInfo | None) -> list[ChecklistItem]:
    """A warning while the trigger's segment is missing: nobody can join it, so nobody
    would enter; activation may still go ahead (the segment can be created after)."""
    if info is None or info.kind != "segment_join" or info.segment_id is not None:
        return []
    return [
        ChecklistItem(
            "segment",
            f"Segment '{info.segment}' does not exist yet",
            False,
            "create it, or no contact can join it and enter this sequence",
            blocking=False,
        )
    ]


def _moves_item(sequence: Sequence) -> list[ChecklistItem]:
    """One item for the `move_to_sequence` goals and action steps, when there are any."""
    targets = _move_targets(sequence)
    if not targets:
        return []
    problems, drafts = move_target_problems(sequence)
    notes = [problem.message for problem in problems] + [
        f"'{name}' is still a draft: activate it too, or moves there are skipped" for name in drafts
    ]
    detail = "; ".join(notes) or f"{len(targets)} move(s) to existing sequences"
    return [ChecklistItem("moves", "Every move goes to an existing sequence", not problems, detail)]


def move_target_problems(sequence: Sequence) -> tuple[list[Problem], list[str]]:
    """Moves to a sequence the workspace does not have (archived ones count as gone), each
    naming its goal or step as the definition format does; and the draft targets by name."""
    targets = _move_targets(sequence)
    names = {name for _, _, _, name in targets}
    if not names:
        return [], []
    statuses: dict[str, set[str]] = {}
    rows = db.session.execute(
        select(Sequence.name, Sequence.status).where(
            Sequence.workspace_id == sequence.workspace_id,
            Sequence.name.in_(names),
            Sequence.status != "archived",
            Sequence.listed(),
        )
    )
    for name, status in rows:
        statuses.setdefault(name, set()).add(status)
    problems = [
        Problem(f"{what} moves contacts to '{name}', which does not exist", field, step)
        for what, field, step, name in targets
        if name not in statuses
    ]
    drafts = sorted(
        name for name, found in statuses.items() if found == {"draft"} and name != sequence.name
    )
    return problems, drafts


def _move_targets(sequence: Sequence) -> list[tuple[str, str, str | None, str]]:
    """(who, field, step key, target name) of every move with a target named."""
    found: list[tuple[str, str, str | None, str]] = []
    for index, goal in enumerate(sequence.goals_config or []):
        action = goal.get("action") or {}
        name = str(action.get("sequence") or "")
        if action.get("type") == "move_to_sequence" and name.strip():
            found.append(
                (f"Goal '{goal.get('name')}'", f"goals[{index}].action.sequence", None, name)
            )
    for step in sequence.steps:
        config = step.config or {}
        name = str(config.get("sequence") or "")
        if step.type == "action" and config.get("action") == "move_to_sequence" and name.strip():
            found.append((f"Step '{step.name or step.key}'", "config.sequence", step.key, name))
    return found


def activation_warnings(sequence: Sequence) -> list[Problem]:
    """What the API's activation reports without refusing: a missing trigger segment,
    moves to missing sequences (either may be created after, in any order), and the values
    the checklist would block on (a delay timed from a date nothing supplies)."""
    info = trigger_info(sequence)
    warnings = []
    if info is not None and _segment_item(info):
        warnings.append(Problem(f"segment '{info.segment}' does not exist yet", "trigger.segment"))
    fields = [
        Problem(f"{item.label}: {item.detail}", _gap_field(item.key))
        for item in _field_items(sequence, draft_of(sequence).steps, info)
        if item.blocking and not item.done
    ]
    return warnings + move_target_problems(sequence)[0] + fields


def _gap_field(key: str) -> str | None:
    """`fields:sequence.webinar_at` -> `settings.variables.webinar_at`; a contact field's
    gap is about the trigger."""
    name = key.removeprefix("fields:")
    variable = variable_name(name)
    return f"settings.variables.{variable}" if variable is not None else "trigger"


def _missing(none: str, problem: str, items: list[Any], bad: list[str]) -> str:
    if not items:
        return none
    if bad:
        return f"{problem}: {', '.join(bad)}"
    return f"{len(items)} email(s) ready"


def ready_to_launch(items: list[ChecklistItem]) -> bool:
    return all(item.done or not item.blocking for item in items)


class _TestRow(NamedTuple):
    """The shape the dispatcher reads from the outbox, filled in for a test send."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    sequence_id: uuid.UUID
    sequence_name: str
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
    recipients: list[str]
    results: list[tuple[str, Result]]  # (step name and, for several recipients, address; outcome)

    @property
    def ok(self) -> bool:
        return all(result.status in ("sent", "captured") for _, result in self.results)

    @property
    def captured(self) -> bool:
        return any(result.status == "captured" for _, result in self.results)


def send_test_emails(
    sequence: Sequence,
    user: User,
    contact: Contact | None,
    now: datetime,
    recipients: list[str] | None = None,
) -> SendTestReport:
    """Every email step, rendered for `contact` (or the sample), through the dispatcher's
    own render-and-send path to each of `recipients` (checked addresses; default the
    signed-in user); subjects are marked as a test."""
    to = recipients or [user.email]
    person = _person(contact)
    emails = [step for step in sequence.steps if step.type == "email"]  # in sort order
    rows = [
        (
            (step.name or step.key) + (f" to {address}" if len(to) > 1 else ""),
            _test_row(sequence, user, address, person, step.config, index, len(emails)),
        )
        for address in to
        for index, step in enumerate(emails, start=1)
    ]
    keys = signing_keys((row.workspace_id, domain_of(from_address(row))) for _, row in rows)
    try:
        with transport_for(current_settings().smtp_url) as transport:
            results = [(name, deliver_one(row, transport, now, keys=keys)) for name, row in rows]
    except SendError as exc:
        results = [(name, Result(row.id, "failed", str(exc))) for name, row in rows]
    report = SendTestReport(to, results)
    if results and report.ok:
        sequence.test_sent_at, sequence.test_sent_to = now, _shown_recipients(to)
        db.session.commit()
    return report


def _shown_recipients(to: list[str]) -> str:
    """The checklist's "sent to ...", within the column's 320 characters."""
    shown = ", ".join(to)
    return shown if len(shown) <= TEST_SENT_TO_LENGTH else f"{len(to)} addresses"


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
    to_email: str,
    person: dict[str, Any],
    config: dict[str, Any],
    index: int,
    total: int,
) -> _TestRow:
    marker = f"[Test {index}/{total}]" if total > 1 else "[Test]"
    row_id = uuid.uuid4()
    return _TestRow(
        id=row_id,
        workspace_id=sequence.workspace_id,
        sequence_id=sequence.id,
        sequence_name=sequence.name,
        message_id=make_message_id(f"test.{row_id.hex}", sender_domain()),
        to_email=to_email,
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
