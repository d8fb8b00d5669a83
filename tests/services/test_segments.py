"""Segments: rule evaluation and membership diffs, join/leave events, static lists,
workspace isolation and rule errors naming the field. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Contact, ContactEvent, Segment, SegmentMembership, Workspace
from app.services import accounts, contacts, segments

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
TRIAL = {"type": "field", "field": "plan", "op": "eq", "value": "trial"}
OPENED = {"type": "email_event", "email_step_id": "email_1", "event": "opened"}


@pytest.fixture
def acme(app) -> Workspace:
    return accounts.create_workspace("Acme")


def person(workspace: Workspace, email: str, **data: Any) -> uuid.UUID:
    contact, _ = contacts.upsert_contact(workspace, {"email": email, **data})
    return contact.id


def set_fields(contact_id: uuid.UUID, **values: Any) -> None:
    contact = db.session.get(Contact, contact_id)
    contact.fields = {**contact.fields, **values}
    db.session.commit()


def member_emails(segment_id: uuid.UUID) -> set[str]:
    rows = db.session.scalars(
        select(Contact.email)
        .join(SegmentMembership, SegmentMembership.contact_id == Contact.id)
        .where(SegmentMembership.segment_id == segment_id)
    )
    return set(rows)


def segment_events(kind: str) -> list[tuple[str, dict[str, Any], str]]:
    rows = db.session.execute(
        select(Contact.email, ContactEvent.properties, ContactEvent.source)
        .join(Contact, Contact.id == ContactEvent.contact_id)
        .where(ContactEvent.type == kind)
        .order_by(ContactEvent.id)
    )
    return [tuple(row) for row in rows]


def test_a_rule_segment_fills_on_creation_and_follows_field_changes(acme):
    ada = person(acme, "ada@example.com", fields={"plan": "trial"})
    bob = person(acme, "bob@example.com", fields={"plan": "free"})
    person(acme, "cy@example.com")

    segment = segments.create_segment(acme, "Trials", "rule", {"all": [TRIAL]}, NOW)
    assert member_emails(segment.id) == {"ada@example.com"}
    assert segment_events("segment_joined") == [
        ("ada@example.com", {"segment": "Trials"}, "engine")
    ]

    set_fields(ada, plan="paid")
    set_fields(bob, plan="trial")
    later = NOW + timedelta(minutes=5)
    changes = segments.refresh_contacts(acme.id, [ada, bob], later)

    assert member_emails(segment.id) == {"bob@example.com"}
    assert changes.joined == {segment.id: [bob]} and changes.left == {segment.id: [ada]}
    assert segment_events("segment_left") == [("ada@example.com", {"segment": "Trials"}, "engine")]
    assert [e for e, _, _ in segment_events("segment_joined")] == [
        "ada@example.com",
        "bob@example.com",
    ]


def test_staying_in_a_segment_records_nothing_more(acme):
    ada = person(acme, "ada@example.com", fields={"plan": "trial"})
    segments.create_segment(acme, "Trials", "rule", TRIAL, NOW)
    set_fields(ada, company="Acme")
    assert segments.refresh_contacts(acme.id, [ada], NOW + timedelta(minutes=1)).count == 0
    assert segments.refresh_contacts(acme.id, [ada], NOW + timedelta(minutes=2)).count == 0
    assert len(segment_events("segment_joined")) == 1


def test_tags_events_with_a_lookback_and_not_and_the_periodic_refresh(acme):
    ada = person(acme, "ada@example.com", tags=["vip"])
    bob = person(acme, "bob@example.com", tags=["vip", "churned"])
    db.session.add(
        ContactEvent(
            tenant_id=acme.tenant_id,
            workspace_id=acme.id,
            contact_id=ada,
            type="purchase",
            properties={"sku": "A1"},
            occurred_at=NOW - timedelta(days=2),
            recorded_at=NOW - timedelta(days=2),
            source="api",
        )
    )
    db.session.commit()
    rule = {
        "all": [
            {"type": "tag", "tag": "vip"},
            {"not": {"type": "tag", "tag": "churned"}},
            {"type": "event", "event": "purchase", "lookback_window": "7 days"},
        ]
    }
    recent = segments.create_segment(acme, "Recent VIP buyers", "rule", rule, NOW)
    loyal = segments.create_segment(
        acme, "Not churned", "rule", {"not": {"type": "tag", "tag": "churned"}}, NOW
    )
    assert member_emails(recent.id) == {"ada@example.com"}
    assert member_emails(loyal.id) == {"ada@example.com"}

    assert segments.refresh_all(NOW + timedelta(days=4)) == 0
    assert segments.refresh_all(NOW + timedelta(days=6)) == 1  # the purchase is 8 days old
    assert member_emails(recent.id) == set()
    assert member_emails(loyal.id) == {"ada@example.com"}
    assert segments.refresh_contacts(acme.id, [bob], NOW + timedelta(days=6)).count == 0


def test_static_lists_add_and_remove_by_hand(acme):
    ada = person(acme, "ada@example.com")
    bob = person(acme, "bob@example.com")
    vip = segments.create_segment(acme, "VIP", "static", None, NOW)

    assert sorted(segments.add_members(vip, [ada, bob, ada], NOW)) == sorted([ada, bob])
    assert segments.add_members(vip, [ada], NOW) == []
    assert segments.remove_members(vip, [ada], NOW) == [ada]
    assert segments.remove_members(vip, [ada], NOW) == []

    assert member_emails(vip.id) == {"bob@example.com"}
    assert sorted((e, s) for e, _, s in segment_events("segment_joined")) == [
        ("ada@example.com", "ui"),
        ("bob@example.com", "ui"),
    ]
    assert segment_events("segment_left") == [("ada@example.com", {"segment": "VIP"}, "ui")]
    assert segments.list_segments(acme.id)[0][1] == 1


def test_a_rule_segment_cannot_be_edited_by_hand(acme):
    ada = person(acme, "ada@example.com")
    rule = segments.create_segment(acme, "Trials", "rule", TRIAL, NOW)
    with pytest.raises(segments.SegmentError) as error:
        segments.add_members(rule, [ada], NOW)
    assert "rule segment" in str(error.value)
    assert member_emails(rule.id) == set()


def test_workspaces_never_mix(acme):
    other = accounts.create_workspace("Other")
    ours = person(acme, "ada@example.com", fields={"plan": "trial"})
    theirs = person(other, "eve@example.com", fields={"plan": "trial"})
    trials = segments.create_segment(acme, "Trials", "rule", TRIAL, NOW)
    vip = segments.create_segment(acme, "VIP", "static", None, NOW)

    segments.refresh_contacts(acme.id, [ours, theirs], NOW)
    assert segments.add_members(vip, [theirs], NOW) == []
    segments.refresh_all(NOW)

    assert member_emails(trials.id) == {"ada@example.com"}
    assert member_emails(vip.id) == set()
    assert segments.get_segment(other.id, trials.id) is None
    # the same name is free in another workspace
    assert segments.create_segment(other, "Trials", "rule", TRIAL, NOW).workspace_id == other.id
    assert db.session.scalars(select(Segment.name).where(Segment.workspace_id == other.id)).all()


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        ({"all": [{**TRIAL, "op": "equals"}]}, "rule.all[0].op", "'equals'"),
        ({"any": [TRIAL, {"type": "segment", "segment": "VIP"}]}, "rule.any[1].type", "'segment'"),
        ({"not": OPENED}, "rule.not.type", "email_event"),
        ({"type": "tag"}, "rule.tag", "required"),
        ({"type": "field", "field": "plan", "op": "eq"}, "rule.value", "needs a 'value'"),
        ('{"type": "tag", "tag": }', "rule", "invalid JSON at line 1"),
        ("type: tag\n  tag: [", "rule", "invalid YAML"),
        ("[1, 2]", "rule", "must be a mapping"),
        ("", "rule", "needs a rule"),
    ],
)
def test_a_bad_rule_names_the_field_and_saves_nothing(acme, rule, field, words):
    with pytest.raises(segments.SegmentError) as error:
        segments.create_segment(acme, "Broken", "rule", rule, NOW)
    assert error.value.field == field
    assert words in str(error.value)
    assert segments.list_segments(acme.id) == []


def test_rules_from_yaml_and_names_checked(acme):
    person(acme, "ada@example.com", tags=["vip"])
    vip = segments.create_segment(acme, " VIPs ", "rule", "type: tag\ntag: vip\n", NOW)
    assert vip.name == "VIPs" and vip.rule == {"type": "tag", "tag": "vip"}
    assert member_emails(vip.id) == {"ada@example.com"}
    for name, words in (("VIPs", "already a segment named"), ("  ", "needs a name")):
        with pytest.raises(segments.SegmentError) as error:
            segments.create_segment(acme, name, "static", None, NOW)
        assert error.value.field == "name" and words in str(error.value)
    segments.rename_segment(vip, "Very important")
    segments.delete_segment(vip)
    assert segments.list_segments(acme.id) == []
    assert db.session.scalar(select(Contact.email)) == "ada@example.com"


def test_builtin_columns_are_fields_to_a_rule(acme):
    person(acme, "ada@gmail.example", first_name="Ada")
    person(acme, "bob@corp.example")
    rule = {"type": "field", "field": "email", "op": "contains", "value": "@GMAIL"}
    gmail = segments.create_segment(acme, "Gmail", "rule", rule, NOW)
    assert member_emails(gmail.id) == {"ada@gmail.example"}
