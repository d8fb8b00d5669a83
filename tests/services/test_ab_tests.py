"""The A/B test service: the evaluation's fixed number of statements, picking and stopping
by hand (replacing a decision, refusing what does not exist), and sends after a decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.core import experiments
from app.extensions import db
from app.models import AbTestDecision, ContactEvent, ContactSequence, OutboundMessage, Workspace
from app.services import ab_tests, contacts, enrollment, sequences
from app.services.contact_changes import record_events
from tests.helpers import tick
from tests.sql_statements import statements_sent

T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def definition(name: str, ab_test: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "subject": "Hello",
        "body": "<p>Hi</p>",
        "variants": [
            {"key": "A", "weight": 50, "subject": "From A"},
            {"key": "B", "weight": 50, "subject": "From B", "from_name": "Bea"},
        ],
    }
    if ab_test is not None:
        config["ab_test"] = ab_test
    return {
        "name": name,
        "steps": [
            {"id": "email_1", "type": "email", "config": config},
            {"id": "plain", "type": "email", "config": {"subject": "s", "body": "b"}},
        ],
        "connections": [{"source": "email_1", "target": "plain"}],
    }


def running(api, name: str, people: int, ab_test: dict[str, Any] | None = None):
    """A running sequence whose `people` contacts were each sent (captured) Email 1."""
    workspace = db.session.get(Workspace, api.workspace_id)
    sequence = sequences.create_sequence(
        workspace, sequences.parse_input(definition(name, ab_test))
    )
    sequences.set_status(sequence, "activate", T0)
    found = [
        contacts.upsert_contact(workspace, {"email": f"{name}{n}@x.test"})[0] for n in range(people)
    ]
    enrollment.enroll_contacts(sequence, found, T0)
    return sequence


def sent_with_clicks(app: Flask, api, name: str, people: int, clicks: dict[str, int]):
    sequence = running(api, name, people, {"metric": "click_rate", "min_sends": 10})
    tick(app, T0)
    messages = db.session.scalars(
        select(OutboundMessage).where(OutboundMessage.sequence_id == sequence.id)
    ).all()
    events = []
    for key, wanted in clicks.items():
        for message in [m for m in messages if m.variant_key == key][:wanted]:
            properties = {"url": "https://example.com"}
            at = T0 + timedelta(hours=1)
            events.append(ContactEvent.about_message(message, "clicked_link", properties, at, "t"))
    record_events(events, T0 + timedelta(hours=1))
    return sequence


def statements_of(work) -> int:
    with statements_sent() as seen:
        work()
    return len(seen)


def test_the_evaluation_issues_as_many_statements_for_many_sends_as_for_few(
    app: Flask, api
) -> None:
    sent_with_clicks(app, api, "small", 20, {"A": 1, "B": 1})
    few = statements_of(lambda: ab_tests.evaluate_tests(T0 + timedelta(hours=2)))
    sent_with_clicks(app, api, "large", 200, {"A": 1, "B": 1})
    many = statements_of(lambda: ab_tests.evaluate_tests(T0 + timedelta(hours=2)))
    assert few == many <= 6
    assert db.session.scalars(select(AbTestDecision)).all() == []  # no difference: collecting


def test_a_winner_picked_by_hand_replaces_the_tests_decision_and_takes_later_sends(
    app: Flask, api
) -> None:
    sequence = sent_with_clicks(app, api, "hand", 60, {"A": 2, "B": 10})
    assert ab_tests.evaluate_tests(T0 + timedelta(hours=2)) == 1
    auto = db.session.scalars(select(AbTestDecision)).one()
    assert (auto.winner, auto.decided_by) == ("B", "auto")

    picked = ab_tests.pick_winner(sequence, "email_1", "A", "ann@acme.test", T0 + timedelta(days=1))
    assert (picked.state, picked.winner, picked.decided_by, picked.actor) == (
        "decided",
        "A",
        "hand",
        "ann@acme.test",
    )
    assert {v["key"]: v["successes"] for v in picked.figures["variants"]} == {"A": 2, "B": 10}
    assert db.session.scalars(select(AbTestDecision)).all() == [picked]

    workspace = db.session.get(Workspace, api.workspace_id)
    late = [contacts.upsert_contact(workspace, {"email": f"late{n}@x.test"})[0] for n in range(20)]
    enrollment.enroll_contacts(sequence, late, T0 + timedelta(days=1))
    tick(app, T0 + timedelta(days=1))
    variants = db.session.scalars(
        select(OutboundMessage.variant_key).where(
            OutboundMessage.to_email.like("late%"), OutboundMessage.variant_key.is_not(None)
        )
    ).all()
    assert variants and set(variants) == {"A"}


def test_a_stopped_test_decides_nothing_more_and_sends_stay_split(app: Flask, api) -> None:
    sequence = sent_with_clicks(app, api, "stop", 60, {"A": 2, "B": 10})
    stopped = ab_tests.stop_test(sequence, "email_1", "ann@acme.test", T0 + timedelta(minutes=5))
    assert (stopped.state, stopped.winner) == ("stopped", None)
    assert ab_tests.evaluate_tests(T0 + timedelta(hours=2)) == 0
    assert db.session.scalars(select(AbTestDecision)).one().state == "stopped"


def test_picking_by_hand_names_what_does_not_exist(app: Flask, api) -> None:
    sequence = running(api, "bad", 1, {"metric": "open_rate"})
    with pytest.raises(ab_tests.AbTestError, match="step 'nope' is not in this sequence"):
        ab_tests.pick_winner(sequence, "nope", "A", None, T0)
    with pytest.raises(ab_tests.AbTestError, match="step 'plain': it has no A/B test"):
        ab_tests.pick_winner(sequence, "plain", "A", None, T0)
    with pytest.raises(ab_tests.AbTestError, match="step 'email_1': variant 'C' is not one of"):
        ab_tests.pick_winner(sequence, "email_1", "C", None, T0)


def test_variants_without_a_test_split_sends_and_never_decide(app: Flask, api) -> None:
    sequence = running(api, "plain", 30)
    tick(app, T0)
    assert ab_tests.evaluate_tests(T0 + timedelta(days=30)) == 0
    variants = db.session.scalars(
        select(OutboundMessage.variant_key).where(OutboundMessage.sequence_id == sequence.id)
    ).all()
    assert set(variants) == {"A", "B", None}  # None: the plain second email


def test_a_variant_overrides_subject_and_sender_name_when_sent(app: Flask, api, smtp_sink) -> None:
    running(api, "sender", 12)
    tick(app, T0)
    senders: dict[str, set[str]] = {}
    for message in smtp_sink.messages:
        name = message["From"].addresses[0].display_name
        senders.setdefault(str(message["Subject"]), set()).add(name)
    assert senders["From B"] == {"Bea"}
    assert "Bea" not in senders["From A"]


def test_each_run_takes_the_next_draw_number_and_the_holdout_takes_one_in_every_five(
    app: Flask, api
) -> None:
    workspace = db.session.get(Workspace, api.workspace_id)
    document = definition("draws")
    document["settings"] = {"holdout_percent": 20}
    document["re_enrollment"] = {"mode": "always"}
    sequence = sequences.create_sequence(workspace, sequences.parse_input(document))
    sequences.set_status(sequence, "activate", T0)
    people = [contacts.upsert_contact(workspace, {"email": f"d{n}@x.test"})[0] for n in range(7)]
    enrollment.enroll_contacts(sequence, people[:4], T0)
    enrollment.enroll_contacts(sequence, people[4:], T0)
    rows = db.session.execute(
        select(ContactSequence.contact_id, ContactSequence.draw, ContactSequence.holdout)
    ).all()
    assert sorted(draw for _, draw, _ in rows) == list(range(7))
    assert sum(held for _, _, held in rows) == sum(
        experiments.in_holdout(20, draw, f"holdout:{sequence.id}") for _, draw, _ in rows
    )

    tick(app, T0)  # everyone finishes the two emails
    enrollment.enroll_contacts(sequence, people[:1], T0 + timedelta(days=1))
    again = db.session.scalar(
        select(ContactSequence.draw).where(ContactSequence.contact_id == people[0].id)
    )
    assert again == 7  # a re-enrollment is a new run with the next number

    more = [contacts.upsert_contact(workspace, {"email": f"m{n}@x.test"})[0] for n in range(92)]
    enrollment.enroll_contacts(sequence, more, T0 + timedelta(days=1))
    held = db.session.scalar(
        select(func.count()).where(
            ContactSequence.sequence_id == sequence.id, ContactSequence.holdout.is_(True)
        )
    )
    # Draws 0..99 were handed out, one in every five held out; draw 0's run was replaced by
    # the re-enrollment's draw 7, so the rows hold 19 or 20 of them.
    salt = f"holdout:{sequence.id}"
    expected = sum(experiments.in_holdout(20, draw, salt) for draw in range(1, 100))
    assert held == expected and 19 <= held <= 20
