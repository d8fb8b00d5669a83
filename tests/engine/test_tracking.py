"""Open and click tracking on real sent mail: tracked links, the pixel, scanners, no open
redirect."""

from __future__ import annotations

import copy
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.core.format.parse import parse_definition, step_config_problems
from app.core.format.problems import DefinitionError
from app.extensions import db
from app.models import ContactEvent, ContactSequence, Conversion, OutboundMessage, TrackingHit
from app.services import tracking
from app.services.links import unsubscribe_url
from app.services.tracking import click_token, open_token
from jobs.tasks import purge_event_receipts
from tests.conftest import api_for
from tests.engine.test_dispatcher import launch, single_email
from tests.helpers import THE_DAY_WRITTEN_FOR, onboarding_definition, tick
from tests.smtp_sink import running_sink

pytestmark = pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
BODY = """<html><body><p>Hi {{ contact.first_name }}</p>
<a href="https://example.com/docs?a=1&amp;b=2">Docs</a>
<a href="https://example.com/pricing">Pricing</a>
<a href="mailto:help@example.com">Mail us</a>
<a href="{{ unsubscribe_url }}">Unsubscribe</a>
</body></html>"""
PERSON = "ada@example.com"
EVIL = "https://evil.example/phish"


def request(app: Flask, method: str, path: str, **kwargs: Any) -> TestResponse:
    """As a mail client would: a new client (no cookies), its own app context."""
    with app.app_context():
        return app.test_client().open(path, method=method, **kwargs)


def send(app, api, smtp_sink, sent_ago: timedelta = timedelta(minutes=1)):
    """Send BODY to Ada over SMTP; returns (the HTML as received, the message row)."""
    launch(api, single_email("Hello", BODY), [(PERSON, "Ada")])
    tick(app, NOW)
    received = smtp_sink.wait_for(1)[0]
    html = received.get_body(("html",)).get_content()
    message = db.session.scalars(select(OutboundMessage)).one()
    # The dispatcher ran at a fixed NOW; the routes read the real clock.
    message.sent_at = datetime.now(UTC) - sent_ago
    db.session.commit()
    return html, message


def tracked_paths(html: str) -> list[str]:
    return re.findall(r'href="http://pm\.test(/t/c/[^"]+)"', html)


def events(kind: str | None = None) -> list[ContactEvent]:
    db.session.expire_all()
    query = select(ContactEvent).where(ContactEvent.source == "tracking").order_by(ContactEvent.id)
    found = list(db.session.scalars(query))
    return [e for e in found if kind is None or e.type == kind]


def test_sent_html_has_tracked_links_and_the_pixel_and_a_working_unsubscribe(app, api, smtp_sink):
    html, message = send(app, api, smtp_sink)

    assert len(tracked_paths(html)) == 2
    assert "example.com/docs" not in html and "example.com/pricing" not in html
    assert 'href="mailto:help@example.com"' in html
    assert f'href="{unsubscribe_url(message.id)}"' in html
    pixel = re.search(
        r'<img src="http://pm\.test(/t/o/[^"]+\.gif)" width="1" height="1" alt="">', html
    )
    assert pixel and html.index(pixel.group(0)) < html.index("</body>")
    assert message.links == ["https://example.com/docs?a=1&b=2", "https://example.com/pricing"]
    assert message.html == html.replace("\r\n", "\n").rstrip("\n")  # stored as sent
    assert (
        request(app, "GET", unsubscribe_url(message.id).removeprefix("http://pm.test")).status_code
        == 200
    )


def test_a_click_redirects_to_the_stored_url_and_records_it(app, api, smtp_sink):
    html, message = send(app, api, smtp_sink)
    docs, pricing = tracked_paths(html)

    response = request(
        app, "GET", f"{pricing}?url={EVIL}&next={EVIL}", headers={"User-Agent": "Mozilla/5.0"}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/pricing"
    assert request(app, "GET", docs).headers["Location"] == "https://example.com/docs?a=1&b=2"
    first, second = events("clicked_link")
    assert first.properties == {
        "email_step_id": "only",
        "url": "https://example.com/pricing",
        "message_id": message.message_id,
    }
    assert (first.contact_id, first.enrollment_id) == (message.contact_id, message.enrollment_id)
    assert (first.step_id, first.message_id) == (message.step_id, message.id)
    assert second.properties["url"] == "https://example.com/docs?a=1&b=2"
    assert events("bot_click") == []


def test_bad_click_tokens_get_a_plain_404_and_no_redirect(app, api, smtp_sink):
    html, message = send(app, api, smtp_sink)
    good = tracked_paths(html)[0].removeprefix("/t/c/")
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    paths = [
        f"/t/c/{tampered}?url={EVIL}",
        f"/t/c/{click_token(message.id, 2)}?url={EVIL}",  # a position the message has not
        f"/t/c/{click_token(message.id, -1)}",
        f"/t/c/{click_token(uuid.UUID(int=1), 0)}",
        "/t/c/<script>alert(1)</script>",
    ]
    for path in paths:
        response = request(app, "GET", path)
        assert response.status_code == 404, path
        assert "Location" not in response.headers
        body = response.get_data(as_text=True)
        assert "evil" not in body and "script" not in body and tampered not in body
    assert events() == []


@pytest.mark.parametrize(
    ("method", "agent", "sent_ago"),
    [
        ("HEAD", "Mozilla/5.0", timedelta(minutes=1)),
        ("GET", "Mozilla/5.0 (compatible; Mimecast URL Protect)", timedelta(minutes=1)),
        ("GET", "Barracuda Sentinel", timedelta(minutes=1)),
        ("GET", "Mozilla/5.0", timedelta(seconds=1)),  # faster than a person reads
    ],
)
def test_scanners_are_recorded_as_bot_clicks_and_still_redirected(
    app, api, smtp_sink, method, agent, sent_ago
):
    html, _ = send(app, api, smtp_sink, sent_ago)

    response = request(app, method, tracked_paths(html)[1], headers={"User-Agent": agent})

    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/pricing"
    assert [e.type for e in events()] == ["bot_click"]


def test_the_too_fast_rule_can_be_turned_off(app, api, smtp_sink):
    app.config["BOT_CLICK_SECONDS"] = 0
    app.config["MACHINE_OPEN_SECONDS"] = 0
    html, _ = send(app, api, smtp_sink, timedelta(seconds=0))
    assert request(app, "GET", tracked_paths(html)[0]).status_code == 302
    assert [e.type for e in events()] == ["clicked_link"]


def assert_pixel(response: TestResponse) -> None:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert "no-store" in response.headers["Cache-Control"]
    gif = response.data
    assert gif[:6] == b"GIF89a" and gif[-1:] == b";"
    assert int.from_bytes(gif[6:8], "little") == int.from_bytes(gif[8:10], "little") == 1


def test_the_pixel_records_an_open(app, api, smtp_sink):
    html, message = send(app, api, smtp_sink)
    path = re.search(r'src="http://pm\.test(/t/o/[^"]+)"', html).group(1)

    assert_pixel(request(app, "GET", path))

    (opened,) = events()
    assert opened.type == "opened" and opened.message_id == message.id
    assert opened.properties == {"email_step_id": "only", "message_id": message.message_id}
    assert opened.enrollment_id == message.enrollment_id


def test_the_pixel_always_answers_the_gif(app, api, smtp_sink, monkeypatch):
    _, message = send(app, api, smtp_sink)
    assert_pixel(request(app, "GET", "/t/o/garbage.gif"))
    assert_pixel(request(app, "GET", f"/t/o/{click_token(message.id, 0)}.gif"))  # wrong salt

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database is gone")

    monkeypatch.setattr(tracking, "_record", broken)
    assert_pixel(request(app, "GET", f"/t/o/{open_token(message.id)}.gif"))
    assert events() == []


def test_a_click_still_redirects_when_recording_fails(app, api, smtp_sink, monkeypatch):
    html, _ = send(app, api, smtp_sink)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("database is gone")

    monkeypatch.setattr(tracking, "_record", broken)
    response = request(app, "GET", tracked_paths(html)[0])
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/docs?a=1&b=2"


def test_a_click_wakes_a_contact_waiting_for_it(app, api, smtp_sink):
    definition = copy.deepcopy(onboarding_definition())
    definition["name"] = "Click wait"
    definition["steps"] = [
        {"id": "mail", "type": "email", "config": {"subject": "Hi", "body": BODY}},
        {
            "id": "wait",
            "type": "wait_until",
            "config": {
                "conditions": [
                    {"event": "clicked_link", "email_step_id": "mail", "timeout": "7 days"}
                ]
            },
        },
        {"id": "clicked", "type": "end", "config": {}},
        {"id": "no_click", "type": "end", "config": {}},
    ]
    definition["connections"] = [
        {"source": "mail", "target": "wait"},
        {"source": "wait", "target": "clicked", "label": "met"},
        {"source": "wait", "target": "no_click", "label": "timeout"},
    ]
    launch(api, definition, [(PERSON, "Ada")])
    tick(app, NOW)
    html = smtp_sink.wait_for(1)[0].get_body(("html",)).get_content()
    enrollment = db.session.scalars(select(ContactSequence)).one()
    enrollment.next_execution_at = NOW + timedelta(days=7)
    message = db.session.scalars(select(OutboundMessage)).one()
    message.sent_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()

    assert request(app, "GET", tracked_paths(html)[0]).status_code == 302

    db.session.expire_all()
    assert db.session.get(ContactSequence, enrollment.id).next_execution_at < NOW


@pytest.mark.parametrize(
    "href",
    ["javascript:alert(1)", " JavaScript:alert(1)", "java&#115;cript:alert(1)", "data:text/html,x"],
)
def test_an_email_with_an_unsafe_link_scheme_is_refused(href):
    body = f'<p><a href="{href}">x</a></p>'
    definition = single_email("Hi", body)
    with pytest.raises(DefinitionError) as raised:
        parse_definition(definition)
    problem = raised.value.first
    assert (problem.step, problem.field) == ("only", "config.body")
    assert "config.body" in str(problem) and "http" in problem.message

    (problem,) = step_config_problems("email", {"subject": "Hi", "body": body}, "only")
    assert problem.field == "config.body"
    variants = [{"key": "a", "weight": 1, "body": body}, {"key": "b", "weight": 1}]
    (problem,) = step_config_problems("email", {"subject": "Hi", "body": "", "variants": variants})
    assert problem.field == "config.variants[0].body"


def test_safe_links_and_placeholders_are_accepted():
    body = '<a href="https://x.example">a</a><a href="mailto:a@b.example">b</a><a href="#top">c</a>'
    body += '<a href="{{ unsubscribe_url }}">d</a><a href="/relative">e</a>'
    assert step_config_problems("email", {"subject": "Hi", "body": body}) == []


def test_saving_an_unsafe_link_through_the_api_is_refused(api):
    response = api.post("/api/sequences", json=single_email("Hi", '<a href="javascript:x()">x</a>'))
    assert response.status_code in (400, 422)
    assert "config.body" in response.get_data(as_text=True)


# --- repeats by one client are not stored again -------------------------------------------


def pixel_path(html: str) -> str:
    return re.search(r'src="http://pm\.test(/t/o/[^"]+)"', html).group(1)


def test_a_thousand_requests_for_the_same_pixel_serve_the_gif_and_store_one_open(
    app, api, smtp_sink
):
    html, _ = send(app, api, smtp_sink)
    client = {"headers": {"User-Agent": "Mail/1.0"}, "environ_base": {"REMOTE_ADDR": "192.0.2.1"}}

    for _ in range(1000):
        assert_pixel(request(app, "GET", pixel_path(html), **client))

    assert [e.type for e in events()] == ["opened"]
    assert db.session.scalar(select(func.count()).select_from(TrackingHit)) == 1


def test_repeated_clicks_always_redirect_and_store_one_click_per_link_and_client(
    app, api, smtp_sink
):
    html, _ = send(app, api, smtp_sink)
    docs, pricing = tracked_paths(html)
    ada = {"headers": {"User-Agent": "Mozilla/5.0"}, "environ_base": {"REMOTE_ADDR": "192.0.2.1"}}
    other_agent = {**ada, "headers": {"User-Agent": "Mozilla/5.0 (Phone)"}}
    other_address = {**ada, "environ_base": {"REMOTE_ADDR": "192.0.2.2"}}

    for _ in range(100):
        response = request(app, "GET", docs, **ada)
        assert response.status_code == 302
        assert response.headers["Location"] == "https://example.com/docs?a=1&b=2"
    for path, client in ((pricing, ada), (docs, other_agent), (docs, other_address)):
        assert request(app, "GET", path, **client).status_code == 302

    urls = [e.properties["url"] for e in events("clicked_link")]
    assert sorted(urls) == ["https://example.com/docs?a=1&b=2"] * 3 + [
        "https://example.com/pricing"
    ]


def test_a_scanner_check_does_not_hide_the_persons_click_from_the_same_client(app, api, smtp_sink):
    html, _ = send(app, api, smtp_sink)
    path = tracked_paths(html)[0]
    for method in ("HEAD", "HEAD", "GET", "GET"):
        assert request(app, method, path, headers={"User-Agent": "Mozilla/5.0"}).status_code == 302

    assert [e.type for e in events()] == ["bot_click", "clicked_link"]


@pytest.mark.local_time  # the window is measured between stored instants
def test_the_same_client_is_recorded_again_once_the_window_has_passed(app, api, smtp_sink):
    _, message = send(app, api, smtp_sink)
    token = open_token(message.id)
    later = NOW + timedelta(seconds=60)

    with app.test_request_context():
        assert tracking.record_open(token, "192.0.2.1", "Mail/1.0", NOW) is True
        assert (
            tracking.record_open(token, "192.0.2.1", "Mail/1.0", later - timedelta(1e-3)) is False
        )
        assert tracking.record_open(token, "192.0.2.1", "Mail/1.0", later) is True

    assert [e.occurred_at for e in events("opened")] == [NOW, later]


def test_the_dedup_window_can_be_turned_off(app, api, smtp_sink):
    app.config["TRACKING_DEDUP_SECONDS"] = 0
    html, _ = send(app, api, smtp_sink)
    for _ in range(3):
        assert_pixel(request(app, "GET", pixel_path(html)))

    assert [e.type for e in events()] == ["opened"] * 3
    assert db.session.scalar(select(func.count()).select_from(TrackingHit)) == 0


@pytest.mark.local_time  # the window is measured between stored instants
def test_the_hourly_purge_forgets_tracking_hits_older_than_the_window(app, api, smtp_sink):
    _, message = send(app, api, smtp_sink)
    token = open_token(message.id)
    with app.test_request_context():
        tracking.record_open(token, "192.0.2.1", "Mail/1.0", NOW)
        tracking.record_open(token, "192.0.2.2", "Mail/1.0", NOW + timedelta(seconds=30))

    result = purge_event_receipts(now=(NOW + timedelta(seconds=61)).isoformat())

    assert result == "purged 0 event receipt(s), 1 tracking hit(s)"
    db.session.expire_all()
    assert [h.recorded_at for h in db.session.scalars(select(TrackingHit))] == [
        NOW + timedelta(seconds=30)
    ]
    assert len(events("opened")) == 2  # the events stay; only the dedup memory goes


def test_concurrent_requests_for_the_same_pixel_store_one_open(pg_app):
    for sink in running_sink():
        pg_app.config["SMTP_URL"] = sink.url
        html, _ = send(pg_app, api_for(pg_app, "Acme"), sink)
    start = threading.Barrier(8)

    def fetch() -> list[int]:
        start.wait()
        return [request(pg_app, "GET", pixel_path(html)).status_code for _ in range(10)]

    with ThreadPoolExecutor(8) as pool:
        statuses = [code for codes in pool.map(lambda _: fetch(), range(8)) for code in codes]

    assert statuses == [200] * 80
    assert [e.type for e in events()] == ["opened"]


def test_a_persons_click_converts_a_url_goal_once_and_a_scanners_click_never(app, api, smtp_sink):
    """Clicks are recorded through the one event path: a person's click reaches the goal at
    once and a repeat stores nothing; a scanner's click is stored but reaches nothing."""
    definition = single_email("Hello", BODY, name="Pricing interest")
    definition["steps"].append({"id": "later", "type": "delay", "config": {"duration": "3 days"}})
    definition["connections"] = [{"source": "only", "target": "later"}]
    goal = {"type": "url_visit", "url_contains": "/pricing"}
    definition["goals"] = [{"name": "Saw pricing", "when": goal, "action": {"type": "exit"}}]
    definition["exit"]["goals"] = []
    launch(api, definition, [(PERSON, "Ada")])
    tick(app, NOW)
    html = smtp_sink.wait_for(1)[0].get_body(("html",)).get_content()
    pricing = tracked_paths(html)[1]
    sent = db.session.scalars(select(OutboundMessage)).one()
    sent.sent_at = datetime.now(UTC) - timedelta(minutes=1)  # the routes read the real clock
    db.session.commit()
    person = {
        "headers": {"User-Agent": "Mozilla/5.0"},
        "environ_base": {"REMOTE_ADDR": "192.0.2.1"},
    }

    assert request(app, "HEAD", pricing, **person).status_code == 302
    assert enrollments()[0].status == "active"  # the scanner's look changed nothing

    for _ in range(3):
        assert request(app, "GET", pricing, **person).status_code == 302

    [ended] = enrollments()
    assert (ended.status, ended.exit_reason) == ("exited", "goal 'Saw pricing' reached")
    assert [e.type for e in events()] == ["bot_click", "clicked_link"]
    [conversion] = db.session.scalars(select(Conversion)).all()
    assert conversion.event_id == events("clicked_link")[0].id


def enrollments() -> list[ContactSequence]:
    db.session.expire_all()
    return list(db.session.scalars(select(ContactSequence)))
