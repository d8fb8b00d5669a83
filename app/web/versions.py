"""Published versions in the browser: the draft of the next version (open, discard, review
and publish), the history of versions, one version's graph, and the diff of two.

A published sequence is never edited in place (services/drafts.py): its builder page is
read-only and offers a draft of the next version, which is an ordinary draft in the
builder. Publishing shows what happens to the contacts in flight before anything changes:
the plan (app/core/migration_plan.py) for the draft as it stands, with a choice for every
removed step that has contacts on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.core.draft import check_draft
from app.core.format.problems import DefinitionError
from app.core.graph import Problem
from app.core.migration_plan import MigrationPlan, PlanEntry, plan_migration
from app.core.problem_words import in_words, step_names
from app.extensions import db
from app.http.numbers import INT32_MAX
from app.models import Sequence, SequenceVersion
from app.services import builder, drafts, publishing
from app.services import versions as version_service
from app.services.sequences import NOTE_MAX, export_definition, parse_input
from app.web import web_bp
from app.web.builder import owned_sequence
from app.web.version_canvas import diff_canvas, version_canvas

CHOICE_PREFIX = "choice:"
"""Form fields `choice:<removed step id>` carry where that step's contacts go."""


# --- The draft of the next version ---------------------------------------------------------------


@web_bp.post("/sequences/<uuid:sequence_id>/draft")
@login_required
def open_draft(sequence_id: uuid.UUID) -> Any:
    """ "Edit a draft of version N+1": the existing draft, or a new copy of the live version."""
    sequence = owned_sequence(sequence_id)
    try:
        draft = drafts.open_draft(sequence, current_user.id)
    except drafts.NoDraftHere as exc:
        flash(f"No draft opened: {exc}.", "error")
        return redirect(url_for("web.builder_page", sequence_id=sequence.id))
    return redirect(url_for("web.builder_page", sequence_id=draft.id))


@web_bp.post("/sequences/<uuid:draft_id>/discard")
@login_required
def discard_draft(draft_id: uuid.UUID) -> Any:
    draft, live = _draft_and_live(draft_id)
    number = (live.published_version or 0) + 1
    drafts.discard_draft(draft)
    flash(f"Discarded the draft of version {number}; version {number - 1} stays live.", "ok")
    return redirect(url_for("web.builder_page", sequence_id=live.id))


@web_bp.route("/sequences/<uuid:draft_id>/publish", methods=["GET", "POST"])
@login_required
def publish_draft(draft_id: uuid.UUID) -> Any:
    """The publish dialog: the impact on the contacts in flight, the changes, a note; a
    refused publish shows it again with the errors inline and the choices kept."""
    draft, live = _draft_and_live(draft_id)
    choices = _choices(request.form)
    note = request.form.get("note", "")[:NOTE_MAX]
    if request.method == "GET":
        return _publish_page(review(draft, live, choices), note)
    current = review(draft, live, choices)
    if request.form.get("live_version", "") != str(current.live_number):
        errors = [
            f"Version {current.live_number} went live since this page was opened: "
            "check the impact below and publish again."
        ]
        return _publish_page(current, note, errors), 409
    if current.unfinished:
        return _publish_page(current, note), 422
    try:
        version = drafts.publish_draft(
            draft, choices, actor=current_user.email, note=note, now=datetime.now(UTC)
        )
    except publishing.MigrationNeeded as exc:
        return _publish_page(review(draft, live, choices, exc.plan), note), 422
    except DefinitionError as exc:
        names = step_names((step.key, step.name, step.type) for step in draft.steps)
        errors = [in_words(problem, names) for problem in exc.problems]
        return _publish_page(review(draft, live, choices), note, errors), 422
    except publishing.PublishConflict as exc:
        return _publish_page(review(draft, live, choices), note, [str(exc)]), 409
    flash(published_message(version), "ok")
    return redirect(url_for("web.versions_page", sequence_id=live.id))


# --- History ------------------------------------------------------------------------------------


@web_bp.get("/sequences/<uuid:sequence_id>/versions")
@login_required
def versions_page(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    if sequence.draft_of_id is not None:
        return redirect(url_for("web.versions_page", sequence_id=sequence.draft_of_id))
    return render_template(
        "versions/list.html",
        sequence=sequence,
        versions=version_service.list_versions(sequence),
        runs=version_service.runs_per_version(sequence),
        draft=drafts.draft_for(sequence),
    )


@web_bp.get("/sequences/<uuid:sequence_id>/versions/<int:number>")
@login_required
def version_page(sequence_id: uuid.UUID, number: int) -> Any:
    sequence = owned_sequence(sequence_id)
    version = _version_or_404(sequence, number)
    return render_template(
        "versions/view.html",
        sequence=sequence,
        version=version,
        canvas=version_canvas(version.definition),
    )


@web_bp.get("/sequences/<uuid:sequence_id>/versions/<int:a>/diff/<int:b>")
@login_required
def version_diff_page(sequence_id: uuid.UUID, a: int, b: int) -> Any:
    sequence = owned_sequence(sequence_id)
    old, new = _version_or_404(sequence, a), _version_or_404(sequence, b)
    diff = version_service.diff_versions(old, new)
    return render_template(
        "versions/diff.html",
        sequence=sequence,
        old=old,
        new=new,
        diff=diff,
        canvas=diff_canvas(old.definition, new.definition, diff),
        names={**_names(old.definition), **_names(new.definition)},
    )


@web_bp.post("/sequences/<uuid:sequence_id>/versions/<int:number>/restore")
@login_required
def restore_version(sequence_id: uuid.UUID, number: int) -> Any:
    """Version `number`'s content as the draft of the next version (replacing the draft's)."""
    sequence = owned_sequence(sequence_id)
    version = _version_or_404(sequence, number)
    try:
        draft = drafts.restore_as_draft(sequence, version, current_user.id)
    except drafts.NoDraftHere as exc:
        flash(f"Not restored: {exc}.", "error")
        return redirect(url_for("web.versions_page", sequence_id=sequence.id))
    flash(
        f"Version {number} restored as the draft of version {sequence.published_version + 1}: "
        "review it and publish.",
        "ok",
    )
    return redirect(url_for("web.builder_page", sequence_id=draft.id))


# --- The publish dialog's content ---------------------------------------------------------------


@dataclass
class Review:
    """What publishing the draft now would do, as the publish dialog shows it."""

    draft: Sequence
    live: Sequence
    live_number: int
    plan: MigrationPlan
    unfinished: list[Problem]
    targets: list[tuple[str, str | None]]
    names: dict[str, str]
    choices: Mapping[str, str]

    @property
    def next_number(self) -> int:
        return self.live_number + 1

    @property
    def stale_base(self) -> bool:
        return self.draft.draft_base != self.live_number

    @property
    def in_flight(self) -> int:
        return sum(entry.contacts for entry in self.plan.entries)

    def removed(self, entry: PlanEntry) -> bool:
        return entry.step in self.plan.diff.keys("removed")

    @property
    def other_problems(self) -> list[Problem]:
        """Plan problems not shown next to a removed step's choice (a foreign step id)."""
        shown = {f"migrate.{e.step}" for e in self.plan.entries if self.removed(e) and e.contacts}
        return [p for p in self.plan.problems if p.field not in shown]


def review(
    draft: Sequence,
    live: Sequence,
    choices: Mapping[str, str],
    plan: MigrationPlan | None = None,
) -> Review:
    """The plan for the draft as it stands. An unfinished draft (one the definition format
    refuses, or with errors marked on its canvas, which would also stop an activation)
    cannot be published, but its impact is still drawn from its raw export."""
    live_version = version_service.live_version(live)
    if live_version is None:
        abort(404)
    raw = export_definition(draft)
    unfinished = [f.problem for f in check_draft(builder.draft_of(draft)) if f.severity == "error"]
    try:
        definition = parse_input(raw)
    except DefinitionError as exc:
        unfinished += [problem for problem in exc.problems if problem not in unfinished]
        counts = publishing.contacts_on_steps(live_version)
        plan = plan or plan_migration(live_version.definition, raw, counts, choices)
    else:
        plan = plan or publishing.plan_publish(live, definition, choices)
    return Review(
        draft=draft,
        live=live,
        live_number=live_version.number,
        plan=plan,
        unfinished=unfinished,
        targets=[(step["id"], step.get("name")) for step in raw["steps"]],
        names={**_names(live_version.definition), **_names(raw)},
        choices=choices,
    )


def published_message(version: SequenceVersion) -> str:
    """ "Version 3 is live: 312 contacts moved to 'Follow-up 2'", from the plan it applied."""
    names = _names(version.definition)
    parts = []
    for row in version.plan:
        count, action = row.get("contacts") or 0, row.get("action")
        if not count or action in ("keep", None):
            continue
        who = f"{count} contact{'' if count == 1 else 's'}"
        if action == "move":
            target = row.get("target") or ""
            parts.append(f"{who} moved to '{names.get(target, target)}'")
        elif action == "exit":
            parts.append(f"{who} exited")
        elif action == "stay":
            parts.append(f"{who} finish on version {version.number - 1}")
        elif action == "retime":
            step = row.get("name") or row.get("step")
            parts.append(f"{who} at '{step}' retimed")
    detail = "; ".join(parts)
    return f"Version {version.number} is live" + (f": {detail}." if detail else ".")


def drafts_by_live(workspace_id: uuid.UUID) -> set[uuid.UUID]:
    """The sequences of a workspace that have a draft of their next version, in one query
    (the sequences list marks them)."""
    found = select(Sequence.draft_of_id).where(
        Sequence.workspace_id == workspace_id, Sequence.draft_of_id.is_not(None)
    )
    return set(db.session.scalars(found))


def _publish_page(review: Review, note: str, errors: list[str] | None = None) -> str:
    """The dialog; after a refused POST, removed steps still without a choice say so."""
    return render_template(
        "versions/publish.html",
        review=review,
        note=note,
        errors=errors or [],
        refused=request.method == "POST",
    )


def _choices(form: Mapping[str, str]) -> dict[str, str]:
    return {
        name.removeprefix(CHOICE_PREFIX): value
        for name, value in form.items()
        if name.startswith(CHOICE_PREFIX) and value
    }


def _draft_and_live(draft_id: uuid.UUID) -> tuple[Sequence, Sequence]:
    """The draft of a next version in this workspace and its live sequence, else 404."""
    draft = owned_sequence(draft_id)
    live = drafts.live_of(draft)
    if live is None or live.published_version is None:
        abort(404)
    return draft, live


def _version_or_404(sequence: Sequence, number: int) -> SequenceVersion:
    found = version_service.get_version(sequence, number) if number <= INT32_MAX else None
    if found is None:
        abort(404)
    return found


def _names(definition: Mapping[str, Any]) -> dict[str, str]:
    """Step id -> what to call it on a page: its name, else its id."""
    return {step["id"]: step.get("name") or step["id"] for step in definition.get("steps", [])}
