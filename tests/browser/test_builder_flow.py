"""The builder's acceptance flows in Chromium, as a marketer works: create a sequence, build
it by drag and drop, fill every panel, reload, send the test email to a real SMTP server,
activate; and the seed's demo scenario drawn with a wait_until on a click."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, Request, expect
from sqlalchemy import select

from app.extensions import db
from app.models import Sequence, SequenceStep
from app.services import accounts, segments
from tests.browser.builder_page import (
    EMAIL,
    PASSWORD,
    connect,
    drawn_links,
    drawn_position,
    drop_step,
    node,
)
from tests.smtp_sink import SmtpSink, running_sink

pytestmark = pytest.mark.browser


@pytest.fixture
def marketer(live_app: Flask) -> None:
    with live_app.app_context():
        workspace = accounts.create_workspace("Penguin Co")
        accounts.create_user(EMAIL, workspace, PASSWORD, name="Bea Builder")
        segments.create_segment(workspace, "New Signups", "static", None, datetime.now(UTC))


@pytest.fixture
def sink(live_app: Flask) -> Iterator[SmtpSink]:
    for running in running_sink():
        live_app.config["SMTP_URL"] = running.url
        yield running


def new_sequence(page: Page, base: str, name: str) -> str:
    """Sign in and create a sequence from the list page; the builder opens on it."""
    page.goto(f"{base}/sequences")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_placeholder("New sequence name").fill(name)
    page.get_by_role("button", name="Create sequence").click()
    expect(page.locator("#sequence-name")).to_have_text(name)
    expect(page.locator("#drawflow .drawflow")).to_be_attached()
    return page.url.rsplit("/", 1)[1]


def open_panel(page: Page, step_id: str) -> None:
    node(page, step_id).locator(".step-name").click()
    expect(page.locator(f'#step-panel[data-step="{step_id}"]')).to_be_visible()
    settled(page)


def save_panel(page: Page, form: str = "#step-panel") -> None:
    with page.expect_response(lambda r: r.request.method == "POST" and "/preview" not in r.url):
        page.locator(form).get_by_role("button", name="Save").click()
    expect(page.locator(form).locator(".saved")).to_have_text("All changes saved")


def fill_email(page: Page, step_id: str, name: str, subject: str, body: str) -> None:
    open_panel(page, step_id)
    panel = page.locator("#step-panel")
    panel.get_by_label("Step name").fill(name)
    panel.get_by_label("Subject", exact=True).fill(subject)
    panel.get_by_label("Body (HTML)", exact=True).fill(body)
    save_panel(page)


def fill_delay(page: Page, step_id: str, duration: str) -> None:
    open_panel(page, step_id)
    page.locator("#step-panel").get_by_label("Duration").fill(duration)
    save_panel(page)


def choose_segment_trigger(page: Page, segment: str) -> None:
    page.locator("#drawflow").click(position={"x": 40, "y": 600})  # empty canvas: settings
    form = page.locator("#panel-body form").first
    choose(page, "trigger.type", "segment_join")  # a type first, then its own inputs
    settled(page)
    form.get_by_label("Segment", exact=True).select_option(segment)
    with page.expect_response(lambda r: r.request.method == "POST"):
        form.get_by_role("button", name="Save").click()
    expect(page.locator('#checklist [data-check="trigger"]')).to_have_class("check done")


def settled(page: Page) -> None:
    """The response is in before htmx has swapped it in: the next action must be made on
    the new form, or it is lost with the old one."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def choose(page: Page, name: str, value: str) -> None:
    """Pick an option that re-renders the form; the form may already suggest it."""
    select = page.locator(f'[name="{name}"]')
    if select.input_value() != value:
        with page.expect_response(lambda r: r.request.method == "POST"):
            select.select_option(value)
        settled(page)
    expect(select).to_have_value(value)


def stored(app: Flask, sequence_id: str) -> tuple[Sequence, dict[str, SequenceStep], set[Any]]:
    with app.app_context():
        sequence = db.session.get(Sequence, uuid.UUID(sequence_id))
        steps = {
            s.key: s
            for s in db.session.scalars(
                select(SequenceStep).where(SequenceStep.sequence_id == sequence.id)
            )
        }
        key_of = {s.id: key for key, s in steps.items()}
        links = {
            (key_of[c.source_step_id], c.condition_label, key_of[c.target_step_id])
            for c in sequence.connections
        }
        db.session.expunge_all()
        return sequence, steps, links


def test_onboarding_built_by_drag_and_drop_is_tested_by_email_and_activated(
    page: Page, live_server: str, live_app: Flask, marketer: None, sink: SmtpSink
):
    sequence_id = new_sequence(page, live_server, "New User Onboarding")
    e1 = drop_step(page, "email", 140, 140)
    d1 = drop_step(page, "delay", 400, 140)
    e2 = drop_step(page, "email", 660, 140)
    d2 = drop_step(page, "delay", 400, 380)
    e3 = drop_step(page, "email", 660, 380)
    for source, target in ((e1, d1), (d1, e2), (e2, d2), (d2, e3)):
        connect(page, source, target)
    expect(node(page, e1)).to_contain_text("Write a subject for the email")

    welcome = "<p>Hi {{ contact.first_name }}, welcome aboard.</p>"
    fill_email(page, e1, "Welcome", "Welcome, {{ contact.first_name }}!", welcome)
    fill_delay(page, d1, "2 days")
    fill_email(page, e2, "Getting started", "Your first steps", "<p>Three things to try today.</p>")
    fill_delay(page, d2, "3 days")
    fill_email(page, e3, "Tips", "Tips from power users", "<p>Power users do this.</p>")
    choose_segment_trigger(page, "New Signups")
    expect(node(page, e1)).not_to_contain_text("needs a")
    expect(node(page, e1).locator(".step-name")).to_have_text("Welcome")

    sequence, steps, links = stored(live_app, sequence_id)
    expected_links = {(e1, None, d1), (d1, None, e2), (e2, None, d2), (d2, None, e3)}
    assert links == expected_links
    assert {k: (s.type, s.name) for k, s in steps.items()} == {
        e1: ("email", "Welcome"),
        d1: ("delay", None),
        e2: ("email", "Getting started"),
        d2: ("delay", None),
        e3: ("email", "Tips"),
    }
    assert steps[d1].config == {"duration": "2 days"}
    assert steps[e2].config["subject"] == "Your first steps"
    assert sequence.trigger_config == {"type": "segment_join", "segment": "New Signups"}

    page.reload()
    expect(node(page, e3)).to_be_visible()
    assert drawn_links(page) == expected_links
    for key, step in steps.items():
        assert drawn_position(page, key) == (step.ui_position_x, step.ui_position_y)
        expect(node(page, key).locator(".step-problems")).to_be_empty()

    activate = page.locator("#checklist").get_by_role("button", name="Activate")
    expect(activate).to_be_disabled()
    page.locator("#checklist").get_by_role("button", name="Send test email").click()
    expect(page.locator("#checklist .test-report")).to_contain_text(
        f"Sent 3 test email(s) to {EMAIL}"
    )
    received = sink.wait_for(3)
    assert [m["Subject"] for m in received] == [
        "[Test 1/3] Welcome, Alex!",
        "[Test 2/3] Your first steps",
        "[Test 3/3] Tips from power users",
    ]
    assert all(EMAIL in m["To"] for m in received)

    page.locator("#checklist").get_by_role("button", name="Activate").click()
    expect(page.locator("#sequence-status")).to_have_text("active")
    assert stored(live_app, sequence_id)[0].status == "active"


def test_demo_branch_with_wait_until_shows_the_missing_path_until_it_is_connected(
    page: Page, live_server: str, live_app: Flask, marketer: None
):
    sequence_id = new_sequence(page, live_server, "Demo fast-track")
    intro = drop_step(page, "email", 140, 160)
    wait = drop_step(page, "wait_until", 400, 160)
    sales = drop_step(page, "email", 660, 60)
    nurture = drop_step(page, "email", 660, 320)
    link = '<p><a href="https://example.com/book-demo">Book a demo</a></p>'
    fill_email(page, intro, "Product Intro", "Meet the product", link)

    open_panel(page, wait)
    panel = page.locator("#step-panel")
    if page.locator('[name="conditions.0.kind"]').count() == 0:
        with page.expect_response(lambda r: r.request.method == "POST"):
            panel.get_by_role("button", name="+ Add condition").click()
        settled(page)
    choose(page, "conditions.0.kind", "email")
    choose(page, "conditions.0.email_event", "clicked_link")
    page.locator('[name="conditions.0.email_step_id"]').select_option(intro)
    page.locator('[name="conditions.0.link_url_contains"]').fill("/book-demo")
    page.locator('[name="conditions.0.timeout"]').fill("3 days")
    save_panel(page)

    connect(page, intro, wait)
    connect(page, wait, sales, port=1)
    expect(node(page, wait)).to_contain_text("has no 'timeout' path")
    expect(node(page, nurture)).to_contain_text("cannot be reached from the first step")
    expect(page.locator('#checklist [data-check="graph"]')).to_have_class("check todo")

    connect(page, wait, nurture, port=2)
    expect(node(page, wait).locator(".step-problems")).to_be_empty()
    expect(node(page, nurture)).not_to_contain_text("cannot be reached")

    _, steps, links = stored(live_app, sequence_id)
    assert links == {(intro, None, wait), (wait, "met", sales), (wait, "timeout", nurture)}
    assert steps[wait].config == {
        "conditions": [
            {
                "event": "clicked_link",
                "timeout": "3 days",
                "email_step_id": intro,
                "link_url_contains": "/book-demo",
            }
        ]
    }


def test_hostile_email_content_is_inert_in_panel_and_preview(
    page: Page, live_server: str, live_app: Flask, marketer: None
):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sequence_id = new_sequence(page, live_server, "Hostile")
    step = drop_step(page, "email", 200, 160)
    hostile = (
        '<img src=x onerror="alert(1)"><script>alert(2)</script>'
        '<b hx-get="/sequences" hx-trigger="load">x</b>'
    )
    fill_email(page, step, '<img src=x onerror="alert(3)">', "<script>alert(4)</script>", hostile)

    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.reload()
    open_panel(page, step)
    frame = page.locator("#email-preview iframe")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("#email-preview iframe").locator("b")).to_have_text("x")
    page.wait_for_timeout(500)  # give any injected handler the chance to fire

    assert dialogs == []
    assert not [r for r in requests if r.url.rstrip("/").endswith("/sequences")]
    expect(node(page, step).locator(".step-name")).to_have_text('<img src=x onerror="alert(3)">')
    assert page.locator("#drawflow img, #panel-body > form img").count() == 0
    assert stored(live_app, sequence_id)[1][step].config["body"] == hostile
