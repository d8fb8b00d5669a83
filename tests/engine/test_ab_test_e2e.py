"""A/B tests and holdouts end to end: real SMTP, real clicks on the tracked links that
arrived (with a browser's user agent, after BOT_CLICK_SECONDS), the periodic evaluation
deciding, later sends using the winner, and the analytics equal to what the SMTP server
received and the test clicked; a test with no difference falls back after its time limit;
a holdout gets no email and its conversions give the lift."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import AbTestDecision, ContactSequence, OutboundMessage, StepLog, Workspace
from app.services import contacts, enrollment, sequences
from tests.helpers import tick

BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Safari/605.1.15"
)
SUBJECTS = {"A": "Three things you can do today", "B": "Your first week, in 3 steps"}


def ab_sequence(name: str, ab_test: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "sequence/v1",
        "name": name,
        "trigger": {"type": "manual"},
        "steps": [
            {
                "id": "email_1",
                "type": "email",
                "name": "Welcome",
                "config": {
                    "subject": "Welcome",
                    "body": '<p>Hi, <a href="https://example.com/start">get started</a>.</p>',
                    "variants": [
                        {"key": key, "weight": 50, "subject": subject}
                        for key, subject in SUBJECTS.items()
                    ],
                    "ab_test": ab_test,
                },
            },
            {"id": "end", "type": "end", "config": {}},
        ],
        "connections": [{"source": "email_1", "target": "end"}],
    }


def launch(api, definition: dict[str, Any], at: datetime):
    workspace = db.session.get(Workspace, api.workspace_id)
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    problems = sequences.set_status(sequence, "activate", at)
    assert sequence.status == "active", problems
    return sequence


def enroll(api, sequence, addresses: Iterable[str], at: datetime) -> None:
    workspace = db.session.get(Workspace, api.workspace_id)
    found = [contacts.upsert_contact(workspace, {"email": who})[0] for who in addresses]
    result = enrollment.enroll_contacts(sequence, found, at)
    assert len(result.enrolled) == len(found)


def variant_of(message: EmailMessage) -> str:
    return next(key for key, subject in SUBJECTS.items() if message["Subject"] == subject)


def tracked_path(message: EmailMessage) -> str:
    html = message.get_body(("html",)).get_content()
    found = re.search(r'<a href="([^"]+)"[^>]*>get started</a>', html)
    assert found, html
    return urlsplit(found.group(1)).path


def pixel_path(message: EmailMessage) -> str:
    html = message.get_body(("html",)).get_content()
    found = re.search(r'<img src="([^"]+/t/o/[^"]+)"', html)
    assert found, html
    return urlsplit(found.group(1)).path


def by_variant(messages: Iterable[EmailMessage]) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {key: [] for key in SUBJECTS}
    for message in sorted(messages, key=lambda m: str(m["To"])):
        found[variant_of(message)].append(message)
    return found


def click(app: Flask, messages: list[EmailMessage], agent: str = BROWSER) -> None:
    web = app.test_client()
    for message in messages:
        answer = web.get(tracked_path(message), headers={"User-Agent": agent})
        assert answer.status_code == 302
        assert answer.headers["Location"] == "https://example.com/start"


def step_stats(api, sequence, key: str = "email_1") -> dict[str, Any]:
    answer = api.get(f"/api/sequences/{sequence.id}/analytics")
    assert answer.status_code == 200, answer.get_json()
    return next(step for step in answer.get_json()["steps"] if step["step"] == key)


def test_the_better_variant_wins_and_takes_every_later_send(app: Flask, api, smtp_sink) -> None:
    sent_at = datetime.now(UTC) - timedelta(hours=1)  # clicks come later, on the real clock
    rule = {"metric": "click_rate", "min_sends": 200, "confidence": 0.95}
    sequence = launch(api, ab_sequence("Welcome test", rule), sent_at)
    enroll(api, sequence, [f"p{n:03}@ab.test" for n in range(600)], sent_at)
    tick(app, sent_at)

    split = by_variant(smtp_sink.messages)
    assert len(smtp_sink.messages) == 600
    assert 0.45 <= len(split["B"]) / 600 <= 0.55
    clicked = {
        "A": split["A"][: len(split["A"]) // 10],
        "B": split["B"][: len(split["B"]) * 3 // 10],
    }
    click(app, clicked["A"] + clicked["B"])
    # Neither a link scanner nor a privacy proxy's image prefetch counts.
    click(app, split["A"][-40:], agent="Mimecast URL protection")
    web = app.test_client()
    for message in split["A"][-40:]:
        assert (
            web.get(pixel_path(message), headers={"User-Agent": "Mozilla/5.0"}).status_code == 200
        )

    assert "A/B tests decided 1" in tick(app, sent_at + timedelta(minutes=70))
    decision = db.session.scalars(select(AbTestDecision)).one()
    assert (decision.state, decision.winner, decision.decided_by) == ("decided", "B", "auto")
    figures = {v["key"]: v for v in decision.figures["variants"]}
    for key in SUBJECTS:
        assert (figures[key]["sent"], figures[key]["successes"]) == (
            len(split[key]),
            len(clicked[key]),
        )
    assert decision.figures["p_value"] < 0.001

    later = datetime.now(UTC)
    enroll(api, sequence, [f"late{n:03}@ab.test" for n in range(100)], later)
    tick(app, later)
    late = [m for m in smtp_sink.messages if str(m["To"]).startswith("late")]
    assert len(late) == 100
    assert {str(m["Subject"]) for m in late} == {SUBJECTS["B"]}

    received = by_variant(smtp_sink.messages)
    stats = step_stats(api, sequence)
    variants = {v["key"]: v for v in stats["variants"]}
    for key in SUBJECTS:
        assert variants[key]["sent"] == len(received[key])
        assert variants[key]["clicked"] == len(clicked[key])
        assert variants[key]["opened"] == 0  # the prefetched pixels were machine opens
    assert stats["ab_test"]["state"] == "decided" and stats["ab_test"]["winner"] == "B"
    logged = dict(
        db.session.execute(
            select(StepLog.variant, func.count())
            .where(StepLog.variant.is_not(None))
            .group_by(StepLog.variant)
        ).all()
    )
    assert logged == {key: len(received[key]) for key in SUBJECTS}


def test_without_a_difference_the_test_collects_then_falls_back_to_the_best(
    app: Flask, api, smtp_sink
) -> None:
    sent_at = datetime.now(UTC) - timedelta(days=15)
    rule = {"metric": "click_rate", "min_sends": 40, "max_duration": "14 days"}
    sequence = launch(api, ab_sequence("Even test", rule), sent_at)
    enroll(api, sequence, [f"e{n:03}@ab.test" for n in range(120)], sent_at)
    tick(app, sent_at)
    split = by_variant(smtp_sink.messages)
    click(app, split["A"][:10] + split["B"][:10])

    tick(app, sent_at + timedelta(days=1))
    assert db.session.scalars(select(AbTestDecision)).all() == []
    assert step_stats(api, sequence)["ab_test"]["state"] == "collecting"

    tick(app, sent_at + timedelta(days=14, minutes=1))
    decision = db.session.scalars(select(AbTestDecision)).one()
    rates = {key: 10 / len(split[key]) for key in SUBJECTS}
    best = max(SUBJECTS, key=lambda key: (rates[key], key == "A"))
    assert (decision.state, decision.winner, decision.decided_by) == ("decided", best, "fallback")


def test_keep_split_stops_the_test_and_sends_stay_split(app: Flask, api, smtp_sink) -> None:
    sent_at = datetime.now(UTC) - timedelta(days=3)
    rule = {
        "metric": "open_rate",
        "min_sends": 500,
        "max_duration": "1 day",
        "fallback": "keep_split",
    }
    sequence = launch(api, ab_sequence("Split test", rule), sent_at)
    enroll(api, sequence, [f"s{n:03}@ab.test" for n in range(40)], sent_at)
    tick(app, sent_at)
    tick(app, sent_at + timedelta(days=2))
    decision = db.session.scalars(select(AbTestDecision)).one()
    assert (decision.state, decision.winner) == ("stopped", None)

    later = sent_at + timedelta(days=2, hours=1)
    enroll(api, sequence, [f"t{n:03}@ab.test" for n in range(40)], later)
    tick(app, later)
    late = [m for m in smtp_sink.messages if str(m["To"]).startswith("t")]
    assert {variant_of(m) for m in late} == {"A", "B"}


HOLDOUT = {
    "format": "sequence/v1",
    "name": "Holdout trial",
    "trigger": {"type": "manual"},
    "settings": {"holdout_percent": 20},
    "goals": [{"name": "Purchased", "when": {"type": "custom_event", "event": "purchased"}}],
    "exit": {"goals": ["Purchased"]},
    "steps": [
        {"id": "email_1", "type": "email", "config": {"subject": "Hello", "body": "<p>Hi</p>"}},
        {"id": "wait", "type": "delay", "config": {"duration": "7 days"}},
        {"id": "email_2", "type": "email", "config": {"subject": "Again", "body": "<p>Hi</p>"}},
    ],
    "connections": [
        {"source": "email_1", "target": "wait"},
        {"source": "wait", "target": "email_2"},
    ],
}


def test_a_holdout_gets_no_email_and_its_conversions_give_the_lift(
    app: Flask, api, smtp_sink
) -> None:
    start = datetime.now(UTC) - timedelta(days=8)
    sequence = launch(api, HOLDOUT, start)
    people = [f"h{n:04}@hold.test" for n in range(1000)]
    enroll(api, sequence, people, start)
    tick(app, start)

    rows = db.session.execute(
        select(ContactSequence.id, ContactSequence.holdout, OutboundMessage.id)
        .outerjoin(OutboundMessage, OutboundMessage.enrollment_id == ContactSequence.id)
        .where(ContactSequence.sequence_id == sequence.id)
    ).all()
    held = {enrollment_id for enrollment_id, holdout, _ in rows if holdout}
    assert 180 <= len(held) <= 220
    assert all(message is None for _, holdout, message in rows if holdout)
    emailed = {str(m["To"]) for m in smtp_sink.messages}
    assert len(emailed) == 1000 - len(held)

    treated = sorted(a for a in people if a in emailed)
    holdout = sorted(a for a in people if a not in emailed)
    buyers = treated[: len(treated) * 3 // 10] + holdout[: len(holdout) // 10]
    events = [{"contact": {"email": who}, "event": "purchased"} for who in buyers]
    for batch in range(0, len(events), 100):
        assert api.post("/api/events", json=events[batch : batch + 100]).status_code == 202

    tick(app, start + timedelta(days=7, minutes=1))  # the holdout waits and exits like the rest
    still = db.session.scalar(
        select(func.count()).where(
            ContactSequence.sequence_id == sequence.id, ContactSequence.status == "active"
        )
    )
    assert still == 0
    second = [m for m in smtp_sink.messages if m["Subject"] == "Again"]
    assert len(second) == len(treated) - len(treated) * 3 // 10

    answer = api.get(f"/api/sequences/{sequence.id}/analytics").get_json()
    found = answer["holdout"]
    assert found["percent"] == 20
    assert found["enrolled"] == {"holdout": len(holdout), "treated": len(treated)}
    assert found["converted"] == {
        "holdout": len(holdout) // 10,
        "treated": len(treated) * 3 // 10,
    }
    lift = found["lift"]
    expected = (len(treated) * 3 // 10) / len(treated) - (len(holdout) // 10) / len(holdout)
    assert abs(lift["difference"] - expected) < 1e-4
    assert lift["interval"][0] < expected < lift["interval"][1]
