"""The draft of a published sequence's next version: a hidden draft sequence row.

A live (or paused) sequence is never edited in place: its rows are the version that runs.
Its edits go to a draft, which is an ordinary draft sequence (status "draft", `draft_of_id`
set), so the builder, its panels and its checks work on it unchanged; publishing it
(services/publishing.py) replaces the live version and deletes the draft. One draft per
sequence; it is listed nowhere but on its sequence's page.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.draft import check_draft
from app.core.format.problems import DefinitionError
from app.extensions import db
from app.models import Sequence, SequenceVersion
from app.services.builder import draft_of
from app.services.publishing import publish
from app.services.sequences import (
    copy_sequence,
    export_definition,
    parse_input,
    store_definition,
)


class NoDraftHere(Exception):
    """The sequence is not one a draft of the next version can be made of."""


def draft_for(sequence: Sequence) -> Sequence | None:
    """The draft of this sequence's next version, if someone started one."""
    return db.session.scalar(select(Sequence).where(Sequence.draft_of_id == sequence.id))


def live_of(draft: Sequence) -> Sequence | None:
    if draft.draft_of_id is None:
        return None
    return db.session.get(Sequence, draft.draft_of_id)


def open_draft(sequence: Sequence, created_by: uuid.UUID | None) -> Sequence:
    """The existing draft of the next version, or a new one copied from the live version."""
    if sequence.published_version is None or sequence.status == "archived":
        raise NoDraftHere(f"a {sequence.status} sequence is edited in place or not at all")
    found = draft_for(sequence)
    if found is not None:
        return found
    try:
        draft = copy_sequence(sequence, sequence.name, created_by, draft_of=sequence)
        db.session.commit()
    except IntegrityError:  # another request made it first (draft_of_id is unique)
        db.session.rollback()
        return draft_for(sequence) or open_draft(sequence, created_by)
    return draft


def restore_as_draft(
    sequence: Sequence, version: SequenceVersion, created_by: uuid.UUID | None
) -> Sequence:
    """The draft of the next version, its content replaced by an earlier version's."""
    draft = open_draft(sequence, created_by)
    store_definition(draft, parse_input(version.definition))
    draft.version += 1  # open builder tabs on the replaced draft learn they are stale
    db.session.commit()
    return draft


def discard_draft(draft: Sequence) -> Sequence | None:
    """Delete the draft; the live sequence it belonged to, to go back to."""
    live = live_of(draft)
    if live is None:
        raise NoDraftHere("only the draft of a next version can be discarded")
    db.session.delete(draft)
    db.session.commit()
    return live


def publish_draft(
    draft: Sequence,
    choices: Mapping[str, Any],
    *,
    actor: str | None,
    note: str | None,
    now: datetime,
) -> SequenceVersion:
    """Publish the draft over its live sequence (DefinitionError while it is unfinished,
    MigrationNeeded while a removed step's contacts have no choice) and delete it."""
    live = live_of(draft)
    if live is None:
        raise NoDraftHere("this sequence is not the draft of a next version")
    if live.status == "archived":
        raise NoDraftHere("the sequence is archived: its draft cannot be published")
    marked = [f.problem for f in check_draft(draft_of(draft)) if f.severity == "error"]
    if marked:  # what the canvas marks as errors would also stop an activation
        raise DefinitionError(marked)
    definition = parse_input(export_definition(draft))
    draft_id = draft.id
    # Published against the live version as it is now, even if another went live since
    # the draft was started: the plan is computed (and shown) against that one.
    version = publish(live, definition, choices, actor=actor, note=note, now=now)
    db.session.delete(db.session.get_one(Sequence, draft_id))
    db.session.commit()
    return version
