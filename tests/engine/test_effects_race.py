"""An action's tag change and an API change to the same contact during one batch: both stay.

The processor claims, the API adds a tag and commits, then the batch writes its effects:
they are replayed on the contact as stored, under a row lock, not on the claimed copy."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, select, text

from app.extensions import db
from app.models import Contact
from app.services import accounts, contacts, enrollment, processor, sequences

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
TAG_THEM = {
    "format": "sequence/v1",
    "name": "Tagger",
    "trigger": {"type": "manual"},
    "steps": [
        {"id": "tag", "type": "action", "config": {"action": "add_tag", "tag": "High Intent"}},
        {
            "id": "set",
            "type": "action",
            "config": {"action": "update_field", "field": "stage", "value": "hot"},
        },
    ],
    "connections": [{"source": "tag", "target": "set"}],
}


def test_a_tag_added_by_the_api_mid_batch_is_kept(pg_app, monkeypatch):
    workspace = accounts.create_workspace("Race Co")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(TAG_THEM))
    sequences.set_status(sequence, "activate", T0)
    person = contacts.upsert_contact(workspace, {"email": "race@x.test", "fields": {"a": 1}})[0]
    enrollment.enroll_contacts(sequence, [person], T0)

    other = create_engine(pg_app.config["SQLALCHEMY_DATABASE_URI"])
    advance = processor._advance

    def advance_while_someone_edits(*args, **kwargs):
        with other.begin() as conn:  # another request commits after the claim
            conn.execute(
                text(
                    """UPDATE contacts SET tags = '["VIP"]', fields = '{"a": 2}' WHERE id = :id"""
                ),
                {"id": person.id},
            )
        return advance(*args, **kwargs)

    monkeypatch.setattr(processor, "_advance", advance_while_someone_edits)
    try:
        processor.process_due(T0)
    finally:
        other.dispose()

    stored = db.session.execute(select(Contact.tags, Contact.fields)).one()
    assert stored.tags == ["VIP", "High Intent"]
    assert stored.fields == {"a": 2, "stage": "hot"}
