"""The sequence report page: the funnel by step in flow order, unique opens and clicks per
sent message (link scanners not counted), conversions by goal and step; scoped to the
workspace, and a fixed number of statements however many steps, variants and enrollments."""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime
from itertools import pairwise
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundMessage
from app.services import accounts
from app.services.tracking import open_token
from tests.conftest import ApiClient, api_for
from tests.helpers import iso, tick
from tests.services.test_goals import BOOKED, PAID
from tests.sql_statements import statements_sent
from tests.web.client import Web

PASSWORD = "correct-horse-battery"
PEOPLE = ("ada@example.com", "grace@example.com", "kenji@example.com")
NAME = "Q3 <Launch> & Co"
LINK = "https://acme.example/pricing"
BOOKED_FIELDS = {"deal_stage": "Meeting Booked"}


def email(key: str, name: str, body: str = "<p>Hi.</p>") -> dict[str, Any]:
    return {"id": key, "type": "email", "name": name, "config": {"subject": name, "body": body}}


DEFINITION = {
    "format": "sequence/v1",
    "name": NAME,
    "trigger": {"type": "manual"},
    "exit": {"on_reply": False, "goals": []},
    "goals": [BOOKED, PAID],
    # Author order differs from flow order: the page lists the steps as contacts meet them.
    "steps": [
        email("email_2", "Follow-up"),
        {"id": "wait_3d", "type": "delay", "name": "Wait 3 days", "config": {"duration": "3 days"}},
        email("email_1", "Welcome", f'<p>Hi.</p><p><a href="{LINK}">See pricing</a></p>'),
    ],
    "connections": [
        {"source": "email_1", "target": "wait_3d"},
        {"source": "wait_3d", "target": "email_2"},
    ],
}


@pytest.fixture
def web(app: Flask, api: ApiClient) -> Web:
    accounts.create_user("marketer@acme.test", accounts.workspace_named("Acme"), PASSWORD)
    client = Web(app)
    assert client.sign_in("marketer@acme.test", PASSWORD).status_code == 302
    return client


def launch(
    api: ApiClient, definition: dict[str, Any], people: tuple[str, ...]
) -> tuple[str, datetime, dict[str, str]]:
    """Create, activate and enroll; returns the sequence id, when its first step is due and
    the contacts' ids by address."""
    created = api.post("/api/sequences", json=definition)
    assert created.status_code == 201, created.json
    seq_id = created.json["id"]
    assert api.post(f"/api/sequences/{seq_id}/activate").status_code == 200
    ids = {}
    for address in people:
        contact = api.post("/api/contacts", json={"email": address})
        assert contact.status_code in (200, 201), contact.json
        ids[address] = contact.json["id"]
    body = {"contacts": [{"email": address} for address in people]}
    assert api.post(f"/api/sequences/{seq_id}/enroll", json=body).json["enrolled"] == len(people)
    rows = api.get(f"/api/sequences/{seq_id}/enrollments").json["enrollments"]
    return seq_id, max(iso(row["next_execution_at"]) for row in rows), ids


def local(url: str) -> str:
    return url.removeprefix("http://pm.test")


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def card(page: str, name: str) -> str:
    found = re.search(rf'data-card="{name}">(.*?)</li>', page, re.S)
    assert found, f"no {name} card"
    return text_of(found.group(1))


def rows(page: str, attribute: str) -> dict[str, list[str]]:
    """The cells' text of each table row carrying `attribute`, by its value, in page order."""
    found = re.findall(rf'<tr {attribute}="([^"]*)">(.*?)</tr>', page, re.S)
    return {
        html.unescape(key): [
            text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for key, row in found
    }


def test_the_report_counts_what_the_contacts_did(app, api, web, smtp_sink):
    app.config["BOT_CLICK_SECONDS"] = 0  # the test clicks right after the send
    app.config["MACHINE_OPEN_SECONDS"] = 0
    seq_id, t0, ids = launch(api, DEFINITION, PEOPLE)
    tick(app, t0)
    mail = {str(m["To"].addresses[0].addr_spec): m for m in smtp_sink.wait_for(3)}
    body = {who: m.get_body(("html",)).get_content() for who, m in mail.items()}
    pixel = {who: re.search(r'src="([^"]*/t/o/[^"]+\.gif)"', b).group(1) for who, b in body.items()}
    click = {who: re.search(r'href="([^"]*/t/c/[^"]+)"', b).group(1) for who, b in body.items()}

    assert web.get(local(pixel["ada@example.com"])).status_code == 200
    assert web.get(local(pixel["ada@example.com"])).status_code == 200  # opened twice: once
    assert web.get(local(click["ada@example.com"])).headers["Location"] == LINK
    assert web.get(local(pixel["grace@example.com"])).status_code == 200
    scanned = web.get(local(click["kenji@example.com"]), headers={"User-Agent": "Mimecast"})
    assert scanned.status_code == 302  # a link scanner: a bot_click, not a click
    unsubscribe = mail["kenji@example.com"]["List-Unsubscribe"].strip("<>")
    assert web.post(local(unsubscribe), data={"List-Unsubscribe": "One-Click"}).status_code == 200
    booked = api.patch(f"/api/contacts/{ids[PEOPLE[0]]}", json={"fields": BOOKED_FIELDS})
    assert booked.status_code == 200, booked.json

    page = web.get(f"/sequences/{seq_id}/report")

    assert page.status_code == 200
    text = page.text
    assert "Q3 &lt;Launch&gt; &amp; Co" in text and NAME not in text
    assert 'id="report-status">active<' in text
    assert f'href="/sequences/{seq_id}"' in text
    assert f'href="/enrollments?sequence={seq_id}"' in text
    assert card(text, "enrolled") == "Enrolled 3 1 active · 0 completed · 2 exited"
    assert card(text, "sent") == "Emails sent 3"
    assert card(text, "open-rate") == "Open rate 66.7% 2 opened"
    assert card(text, "click-rate") == "Click rate 33.3% 1 clicked"
    assert card(text, "conversions") == "Conversions 1 33.3% of enrollments converted"
    assert card(text, "replies") == "Replies 0"
    assert card(text, "unsubscribes") == "Unsubscribes 1"
    steps = rows(text, "data-step")
    assert list(steps) == ["email_1", "wait_3d", "email_2"]
    assert steps["email_1"] == [
        "Welcome email_1",
        "email",
        "3",
        "0",
        "3",
        "2 (66.7%)",
        "1 (33.3%)",
        "0",
        "0",
        "0",
        "0",
    ]
    assert steps["wait_3d"] == ["Wait 3 days wait_3d", "delay", "0", "1", *[""] * 6, "1"]
    assert steps["email_2"] == [
        "Follow-up email_2",
        "email",
        "0",
        "0",
        "0",
        "0 (—)",
        "0 (—)",
        "0",
        "0",
        "0",
        "0",
    ]
    goals = rows(text, "data-goal")
    assert goals == {
        "Booked Meeting": ["Booked Meeting", "1", "Wait 3 days: 1"],
        "Paid": ["Paid", "0", "—"],
    }

    stats = api.get(f"/api/sequences/{seq_id}/analytics").json
    [first] = [s for s in stats["steps"] if s["step"] == "email_1"]
    assert (first["sent"], first["opened"], first["clicked"], first["unsubscribed"]) == (3, 2, 1, 1)
    assert (first["open_rate"], first["click_rate"]) == (0.6667, 0.3333)
    assert stats["summary"]["converted"] == 1 and stats["summary"]["conversion_rate"] == 0.3333


def test_the_report_counts_an_email_the_server_refused_as_failed_on_its_step(
    app, api, web, smtp_sink
):
    smtp_sink.reject(PEOPLE[0], code=550, text="5.1.1 No such user")
    seq_id, t0, _ = launch(api, DEFINITION, PEOPLE[:2])
    tick(app, t0)
    text = web.get(f"/sequences/{seq_id}/report").text
    steps = rows(text, "data-step")
    failed_column = 7
    assert steps["email_1"][failed_column] == "1" and steps["email_2"][failed_column] == "0"
    assert card(text, "enrolled") == "Enrolled 2 1 active · 0 completed · 0 exited · 1 failed"


def test_links_lead_to_the_report_and_the_enrollments_filter_to_the_sequence(app, api, web):
    seq_id, _, _ = launch(api, DEFINITION, PEOPLE[:2])
    other_id, _, _ = launch(api, {**DEFINITION, "name": "Other flow"}, PEOPLE[2:])
    report = f'href="/sequences/{seq_id}/report"'
    assert report in web.get("/sequences").text
    assert report in web.get(f"/sequences/{seq_id}").text

    everyone = web.get("/enrollments").text
    assert all(address in everyone for address in PEOPLE)
    assert 'id="enrollments-filter"' not in everyone
    filtered = web.get(f"/enrollments?sequence={seq_id}").text
    assert PEOPLE[0] in filtered and PEOPLE[1] in filtered and PEOPLE[2] not in filtered
    assert "Q3 &lt;Launch&gt; &amp; Co" in filtered
    assert PEOPLE[2] in web.get(f"/enrollments?sequence={other_id}").text
    assert web.get("/enrollments?sequence=not-a-uuid").status_code == 422


def test_another_workspace_cannot_see_the_report(app, web):
    other = api_for(app, "Other")
    seq_id, _, _ = launch(other, {**DEFINITION, "name": "Theirs"}, PEOPLE[:1])
    assert web.get(f"/sequences/{seq_id}/report").status_code == 404
    assert web.get(f"/enrollments?sequence={seq_id}").status_code == 404
    assert web.get(f"/sequences/{uuid.uuid4()}/report").status_code == 404
    assert "Theirs" not in web.get("/enrollments").text


VARIANTS = [{"key": "A", "weight": 1}, {"key": "B", "weight": 1, "subject": "Other"}]


def chain(name: str, emails: int) -> dict[str, Any]:
    """`emails` emails, a one-day delay between each two; each email tests two variants."""
    steps: list[dict[str, Any]] = []
    for n in range(1, emails + 1):
        if n > 1:
            steps.append({"id": f"wait_{n}", "type": "delay", "config": {"duration": "1 day"}})
        tested = email(f"email_{n}", f"{name} {n}")
        tested["config"] |= {"variants": VARIANTS, "ab_test": {"metric": "click_rate"}}
        steps.append(tested)
    keys = [step["id"] for step in steps]
    return {
        **DEFINITION,
        "name": name,
        "goals": [BOOKED],
        "steps": steps,
        "connections": [{"source": a, "target": b} for a, b in pairwise(keys)],
    }


def report_statements(app: Flask, api: ApiClient, web: Web, name: str, emails: int, people: int):
    """Statements run by one report page of a sequence sent to `people` contacts who all
    opened the first email."""
    app.config["MACHINE_OPEN_SECONDS"] = 0  # the opens come right after the send
    addresses = tuple(f"p{n}@{name.lower()}.test" for n in range(people))
    seq_id, t0, _ = launch(api, chain(name, emails), addresses)
    tick(app, t0)
    sent = db.session.scalars(
        select(OutboundMessage.id).where(OutboundMessage.sequence_id == uuid.UUID(seq_id))
    ).all()
    assert len(sent) == people
    for message_id in sent:
        assert web.get(f"/t/o/{open_token(message_id)}.gif").status_code == 200
    counted = []
    for query in ("", f"?from={t0.date()}&to={t0.date()}"):  # a range re-counts the tests
        with statements_sent() as seen:
            page = web.get(f"/sequences/{seq_id}/report{query}")
        assert page.status_code == 200
        assert card(page.text, "open-rate") == f"Open rate 100.0% {people} opened"
        assert len(rows(page.text, "data-step")) == 2 * emails - 1
        assert len(rows(page.text, "data-funnel")) == 2 * emails - 1
        assert "Collecting: " in page.text
        assert page.text.count("<tr data-variant=") == 2 * emails
        counted.append(len(seen))
    return counted


def test_statements_do_not_grow_with_steps_variants_or_enrollments(app, api, web):
    small = report_statements(app, api, web, "Small", emails=1, people=1)
    large = report_statements(app, api, web, "Large", emails=5, people=8)
    assert small == large
    whole, within = small
    assert whole <= 18 and within == whole + 3
