"""Renaming a segment keeps the sequences that name it working: the rename rewrites the
name in triggers, step conditions and published versions in the same commit."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.core.segment_names import renamed
from app.extensions import db
from app.models import ContactSequence, Sequence, SequenceVersion
from app.services import accounts, contacts, segments, sequences
from tests.helpers import onboarding_definition

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
ENTERPRISE = {"type": "tag", "tag": "enterprise"}


def test_renaming_enterprise_keeps_its_sequence_enrolling_new_joiners(app):
    acme = accounts.create_workspace("Acme")
    definition = {
        **onboarding_definition(),
        "trigger": {"type": "segment_join", "segment": "Enterprise"},
    }
    sequence = sequences.create_sequence(acme, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", NOW)
    enterprise = segments.create_segment(acme, "Enterprise", "rule", ENTERPRISE, NOW)

    assert segments.rename_segment(enterprise, "Enterprise accounts") == 1
    contacts.upsert_contact(acme, {"email": "ada@example.com", "tags": ["enterprise"]})

    db.session.expire_all()
    [enrollment] = db.session.scalars(select(ContactSequence)).all()
    assert enrollment.sequence_id == sequence.id
    assert enrollment.enroll_reason == "joined segment 'Enterprise accounts'"
    live = db.session.get(Sequence, sequence.id)
    assert live.trigger_config == {"type": "segment_join", "segment": "Enterprise accounts"}
    [version] = db.session.scalars(select(SequenceVersion)).all()
    assert version.definition["trigger"]["segment"] == "Enterprise accounts"


def test_a_rename_rewrites_segment_conditions_at_any_depth_and_nothing_else():
    condition = {
        "all": [
            {"type": "segment", "segment": "Enterprise"},
            {"not": {"type": "segment", "segment": "Enterprise"}},
            {"type": "segment", "segment": "Trials"},
            {"type": "tag", "tag": "Enterprise"},
        ]
    }
    plan = [{"id": "b", "config": {"condition": condition}}]

    out, changed = renamed(plan, "Enterprise", "Enterprise accounts")

    assert changed
    assert out[0]["config"]["condition"]["all"] == [
        {"type": "segment", "segment": "Enterprise accounts"},
        {"not": {"type": "segment", "segment": "Enterprise accounts"}},
        {"type": "segment", "segment": "Trials"},
        {"type": "tag", "tag": "Enterprise"},
    ]
    assert plan[0]["config"]["condition"]["all"][0]["segment"] == "Enterprise"
    assert renamed(plan, "Nobody", "x") == (plan, False)
