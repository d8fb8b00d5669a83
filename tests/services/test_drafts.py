"""The draft of a published sequence's next version: one per sequence, never published
while unfinished or once its sequence is archived, gone with the archive."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.core.format.problems import DefinitionError
from app.extensions import db
from app.models import Sequence
from app.services import accounts, drafts, sequences
from tests.helpers import onboarding_definition

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def live_sequence() -> Sequence:
    workspace = accounts.create_workspace("Drafts")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(onboarding_definition()))
    return sequences.set_status(sequence, "activate", NOW)


def drafts_of(sequence: Sequence) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Sequence).where(Sequence.draft_of_id == sequence.id)
    )


def test_a_sequence_has_at_most_one_draft_of_its_next_version(app):
    sequence = live_sequence()
    first = drafts.open_draft(sequence, None)
    assert drafts.open_draft(sequence, None).id == first.id
    with pytest.raises(IntegrityError):  # what a second concurrent request would hit
        sequences.copy_sequence(sequence, "Twin", None, draft_of=sequence)
        db.session.commit()
    db.session.rollback()
    assert drafts_of(sequence) == 1


def test_a_draft_with_errors_on_its_canvas_is_not_published(app):
    sequence = live_sequence()
    draft = drafts.open_draft(sequence, None)
    draft.steps[0].config = {**draft.steps[0].config, "subject": ""}
    db.session.commit()
    with pytest.raises(DefinitionError) as refused:
        drafts.publish_draft(draft, {}, actor="t", note=None, now=NOW)
    assert any(p.step == "email_1" for p in refused.value.problems)
    assert sequence.published_version == 1


def test_archiving_a_sequence_discards_its_draft(app):
    sequence = live_sequence()
    drafts.open_draft(sequence, None)
    sequences.set_status(sequence, "pause", NOW)
    sequences.archive_sequence(sequence, NOW)
    assert drafts_of(sequence) == 0
