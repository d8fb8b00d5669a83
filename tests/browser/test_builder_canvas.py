"""The builder's canvas in a real browser: palette drops, connections, rules, delete and undo,
untrusted names, and two tabs editing the same sequence. Every edit is checked in the rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, Request, expect

from app.core.steps import KINDS
from app.extensions import db
from app.models import Sequence, Workspace
from app.services import builder, sequences
from tests.browser.builder_data import (
    builder_workspace,
    create,
    email,
    stored_links,
    stored_steps,
)
from tests.browser.builder_page import (
    click_link,
    connect,
    drag_link,
    drawn_links,
    drawn_position,
    drop_step,
    has_class,
    is_graph_call,
    move_node,
    node,
    open_builder,
)

pytestmark = pytest.mark.browser


# ---- data ---------------------------------------------------------------------------------


@pytest.fixture
def workspace_id(live_app: Flask) -> uuid.UUID:
    """A workspace with one marketer, who signs in through the form."""
    return builder_workspace(live_app)


def stored_version(app: Flask, sequence_id: str) -> int:
    with app.app_context():
        return db.session.get(Sequence, uuid.UUID(sequence_id)).version


@pytest.fixture
def graph_requests(page: Page) -> Iterator[list[Request]]:
    """Every canvas request the page sends."""
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if "/graph" in r.url else None)
    yield seen


# ---- tests --------------------------------------------------------------------------------


def test_drawing_a_sequence_is_stored_and_drawn_again_after_a_reload(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    with live_app.app_context():
        workspace = db.session.get(Workspace, workspace_id)
        sequence_id = str(sequences.create_blank(workspace, "Fresh draft", None).id)
    open_builder(page, live_server, sequence_id)

    first = drop_step(page, "email", 200, 150)
    wait = drop_step(page, "delay", 480, 150)
    second = drop_step(page, "email", 760, 150)
    assert stored_steps(live_app, sequence_id) == {
        first: ("email", 90, 120),
        wait: ("delay", 370, 120),
        second: ("email", 650, 120),
    }
    expect(node(page, first).locator(".step-type")).to_have_text("Email")
    expect(node(page, wait).locator(".step-type")).to_have_text("Delay")

    connect(page, first, wait)
    connect(page, wait, second)
    with page.expect_response(is_graph_call("PATCH", f"/steps/{wait}")) as moved:
        move_node(page, wait, 30, 140)
    assert moved.value.ok

    steps = stored_steps(live_app, sequence_id)
    assert steps[wait] == ("delay", 400, 260)
    links = {(first, None, wait), (wait, None, second)}
    assert stored_links(live_app, sequence_id) == links
    before = {step_id: drawn_position(page, step_id) for step_id in steps}
    assert before == {step_id: (x, y) for step_id, (_, x, y) in steps.items()}
    assert drawn_links(page) == links

    page.reload()
    expect(page.locator("#drawflow .drawflow-node")).to_have_count(3)
    assert {step_id: drawn_position(page, step_id) for step_id in steps} == before
    assert drawn_links(page) == links
    expect(node(page, wait).locator(".step-summary")).to_have_text("Wait 1 day")


def test_every_kind_is_drawn_with_the_label_and_colour_the_server_sends(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    with live_app.app_context():
        workspace = db.session.get(Workspace, workspace_id)
        sequence = sequences.create_blank(workspace, "Every kind", None)
        sequence_id = str(sequence.id)
        step_ids = {}
        for index, step_type in enumerate(KINDS):
            version = sequence.version
            step_ids[step_type], _ = builder.add_step(
                sequence, step_type, (40, 40 + 120 * index), version
            )
    open_builder(page, live_server, sequence_id)

    for step_type, kind in KINDS.items():
        drawn = node(page, step_ids[step_type])
        expect(drawn.locator(".step-type")).to_have_text(kind.label)
        colour = drawn.evaluate(
            "el => getComputedStyle(el).getPropertyValue('--step-color').trim()"
        )
        assert colour == kind.colour, step_type
        palette_item = page.locator(f'.palette-item[data-step-type="{step_type}"]')
        expect(palette_item.locator("strong")).to_have_text(kind.label)
        border = palette_item.evaluate("el => getComputedStyle(el).borderLeftColor")
        assert border == drawn.evaluate("el => getComputedStyle(el).borderLeftColor"), step_type


def test_connection_rules_answer_at_once_and_problems_follow_the_graph(
    page: Page,
    live_server: str,
    live_app: Flask,
    workspace_id: uuid.UUID,
    graph_requests: list[Request],
):
    wait = {
        "id": "wait",
        "type": "wait_until",
        "name": "Waits for a login",
        "config": {"conditions": [{"event": "user_login", "timeout": "3 days"}]},
        "position": {"x": 640, "y": 40},
    }
    sequence_id = create(
        live_app,
        workspace_id,
        [
            email("intro", "Intro", 40, 40),
            email("follow", "Follow-up", 340, 40),
            wait,
            email("done", "Logged in", 940, 0),
            email("late", "Still waiting", 940, 240),
            email("other", "Other", 340, 280),
        ],
        [
            {"source": "intro", "target": "follow"},
            {"source": "follow", "target": "wait"},
            {"source": "wait", "target": "done", "label": "met"},
            {"source": "wait", "target": "late", "label": "timeout"},
            {"source": "late", "target": "other"},
        ],
    )
    open_builder(page, live_server, sequence_id)
    card = node(page, "wait")
    expect(card.locator(".output_1")).to_have_attribute("data-label", "met")
    expect(card.locator(".output_2")).to_have_attribute("data-label", "timeout")
    expect(card).not_to_have_class(has_class("has-error"))

    # One connection per output: refused on the spot, nothing sent, nothing stored.
    drag_link(page, "intro", "other")
    expect(page.locator("#canvas-message")).to_contain_text("Intro already has a next step")
    assert ("intro", None, "other") not in drawn_links(page)
    drag_link(page, "follow", "follow")
    assert ("intro", None, "other") not in stored_links(live_app, sequence_id)

    # Removing the timeout path (select it, press Delete) makes the wait step incomplete.
    with page.expect_response(is_graph_call("DELETE", "/connections")) as removed:
        click_link(page, "wait", "late")
        page.keyboard.press("Delete")
    assert removed.value.ok
    assert [r.method for r in graph_requests] == ["DELETE"]  # the refused ones never left
    assert ("wait", "timeout", "late") not in stored_links(live_app, sequence_id)
    expect(card).to_have_class(has_class("has-error"))
    expect(card.locator(".step-problems")).to_contain_text("no 'timeout' path")
    expect(card).to_have_attribute("title", re.compile("no 'timeout' path"))

    connect(page, "wait", "late", port=2)
    assert ("wait", "timeout", "late") in stored_links(live_app, sequence_id)
    expect(card.locator(".step-problems")).not_to_contain_text("timeout")
    expect(card).not_to_have_class(has_class("has-error"))


def test_deleting_a_middle_step_reconnects_and_undo_restores_it(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    sequence_id = create(
        live_app,
        workspace_id,
        [email("a", "First", 40, 40), email("b", "Middle", 340, 40), email("c", "Last", 640, 40)],
        [{"source": "a", "target": "b"}, {"source": "b", "target": "c"}],
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_builder(page, live_server, sequence_id)

    node(page, "b").locator(".step-name").click()
    expect(node(page, "b")).to_have_class(has_class("selected"))
    page.keyboard.press("Delete")
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("[data-step-name]")).to_have_text("Middle")
    with page.expect_response(is_graph_call("DELETE", "/steps/b")) as answer:
        dialog.get_by_role("button", name="Delete and reconnect").click()
    assert answer.value.ok
    expect(dialog).to_be_hidden()

    assert set(stored_steps(live_app, sequence_id)) == {"a", "c"}
    assert stored_links(live_app, sequence_id) == {("a", None, "c")}
    expect(node(page, "b")).to_have_count(0)
    assert drawn_links(page) == {("a", None, "c")}

    undo_bar = page.locator("#undo-bar")
    expect(undo_bar).to_be_visible()
    expect(undo_bar).to_contain_text("Middle")
    with page.expect_response(is_graph_call("POST", "/restore")) as restored:
        undo_bar.get_by_role("button", name="Undo").click()
    assert restored.value.ok
    expect(undo_bar).to_be_hidden()

    assert stored_steps(live_app, sequence_id)["b"] == ("email", 340, 40)
    links = {("a", None, "b"), ("b", None, "c")}
    assert stored_links(live_app, sequence_id) == links
    expect(node(page, "b").locator(".step-name")).to_have_text("Middle")
    assert drawn_links(page) == links
    assert dialogs == []


def test_the_last_step_is_deleted_from_its_button_after_a_plain_confirmation(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    sequence_id = create(
        live_app,
        workspace_id,
        [email("a", "First", 40, 40), email("b", "Last", 340, 40)],
        [{"source": "a", "target": "b"}],
    )
    open_builder(page, live_server, sequence_id)
    delete_button = node(page, "b").get_by_role("button", name="Delete Last")
    expect(delete_button).to_be_hidden()  # only the selected card shows it
    node(page, "b").locator(".step-name").click()
    expect(delete_button).to_be_visible()
    delete_button.click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Delete and reconnect")).to_be_hidden()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert set(stored_steps(live_app, sequence_id)) == {"a", "b"}

    delete_button.click()
    with page.expect_response(is_graph_call("DELETE", "/steps/b")):
        dialog.get_by_role("button", name="Delete", exact=True).click()
    assert set(stored_steps(live_app, sequence_id)) == {"a"}
    assert stored_links(live_app, sequence_id) == set()
    expect(node(page, "b")).to_have_count(0)


def test_untrusted_step_names_are_shown_as_text(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    names = {
        "img": "<img src=x onerror=alert(1)>",
        "script": "<script>alert(2)</script>",
        "htmx": '<b hx-get="/sequences" hx-trigger="load">x</b>',
    }
    sequence_id = create(
        live_app,
        workspace_id,
        [email(step_id, name, 40 + 300 * i, 40) for i, (step_id, name) in enumerate(names.items())],
        [{"source": "img", "target": "script"}, {"source": "script", "target": "htmx"}],
    )
    dialogs: list[str] = []
    list_requests: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on(
        "request", lambda r: list_requests.append(r.url) if r.url.endswith("/sequences") else None
    )
    open_builder(page, live_server, sequence_id)
    page.wait_for_load_state("networkidle")

    for step_id, name in names.items():
        expect(node(page, step_id).locator(".step-name")).to_have_text(name)
    canvas = page.locator("#drawflow")
    expect(canvas.locator("img, script, b")).to_have_count(0)

    with page.expect_response(lambda r: r.url.endswith("/steps/htmx/panel")):
        node(page, "htmx").locator(".step-name").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#panel-body b[hx-get]")).to_have_count(0)
    assert dialogs == []
    assert list_requests == []


def test_a_second_tab_learns_it_is_stale_and_changes_nothing(
    page: Page,
    context: BrowserContext,
    live_server: str,
    live_app: Flask,
    workspace_id: uuid.UUID,
):
    sequence_id = create(
        live_app,
        workspace_id,
        [email("a", "First", 40, 40), email("b", "Second", 340, 40)],
        [{"source": "a", "target": "b"}],
    )
    open_builder(page, live_server, sequence_id)
    other = context.new_page()
    open_builder(other, live_server, sequence_id)

    page.bring_to_front()  # a background tab gets its input slowly
    with page.expect_response(is_graph_call("PATCH", "/steps/a")) as first:
        move_node(page, "a", 0, 120)
    assert first.value.ok
    other.bring_to_front()
    with other.expect_response(is_graph_call("PATCH", "/steps/b")) as second:
        move_node(other, "b", 0, 200)
    assert second.value.status == 409

    message = other.locator("#canvas-message")
    expect(message).to_contain_text("changed in another tab")
    expect(message.get_by_role("button", name="Reload")).to_be_visible()
    steps = stored_steps(live_app, sequence_id)
    assert steps["a"] == ("email", 40, 160)
    assert steps["b"] == ("email", 340, 40)
    version = stored_version(live_app, sequence_id)

    # The stale tab sends nothing more until it is reloaded.
    sent: list[str] = []
    other.on("request", lambda r: sent.append(r.url) if "/graph" in r.url else None)
    move_node(other, "a", 0, 100)
    other.locator(".palette-item[data-step-type='email']").click()
    expect(message).to_contain_text("changed in another tab")

    with other.expect_navigation():
        message.get_by_role("button", name="Reload").click()
    expect(node(other, "a")).to_be_visible()
    assert sent == []
    assert stored_version(live_app, sequence_id) == version
    assert drawn_position(other, "a") == (40, 160)
    expect(other.locator("#canvas-message")).to_be_empty()


def test_a_panel_save_redraws_the_card_and_keeps_the_version_in_step(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    sequence_id = create(
        live_app,
        workspace_id,
        [email("a", "First", 40, 40), email("b", "Second", 340, 40)],
        [{"source": "a", "target": "b"}],
    )
    open_builder(page, live_server, sequence_id)
    with page.expect_response(lambda r: r.url.endswith("/steps/a/panel")):
        node(page, "a").locator(".step-name").click()
    panel = page.locator("#panel-body")
    panel.get_by_label("Step name").fill("Welcome <b>aboard</b>")
    with page.expect_response(lambda r: r.request.method == "POST" and "/panel" in r.url) as saved:
        panel.get_by_role("button", name="Save", exact=True).click()
    assert saved.value.ok
    expect(node(page, "a").locator(".step-name")).to_have_text("Welcome <b>aboard</b>")

    # The canvas took the new version from the panel's event: its next edit is accepted.
    with page.expect_response(is_graph_call("PATCH", "/steps/b")) as moved:
        move_node(page, "b", 0, 100)
    assert moved.value.ok
    assert stored_steps(live_app, sequence_id)["b"] == ("email", 340, 140)


def test_an_active_sequence_is_shown_but_not_editable(
    page: Page,
    live_server: str,
    live_app: Flask,
    workspace_id: uuid.UUID,
    graph_requests: list[Request],
):
    sequence_id = create(
        live_app,
        workspace_id,
        [email("a", "First", 40, 40), email("b", "Second", 340, 40)],
        [{"source": "a", "target": "b"}],
    )
    with live_app.app_context():
        sequences.set_status(
            db.session.get(Sequence, uuid.UUID(sequence_id)), "activate", datetime.now(UTC)
        )
    open_builder(page, live_server, sequence_id)
    expect(page.locator(".palette-item").first).to_have_attribute("draggable", "false")

    with page.expect_response(lambda r: r.url.endswith("/steps/b/panel")):
        node(page, "b").locator(".step-name").click()
    expect(node(page, "b")).to_have_class(has_class("selected"))
    move_node(page, "b", 0, 100)
    drag_link(page, "b", "a")
    page.keyboard.press("Delete")
    with page.expect_response(lambda r: r.url.endswith("/settings")):
        page.locator("#drawflow").click(position={"x": 600, "y": 600})
    expect(page.locator("#drawflow .drawflow-node.selected")).to_have_count(0)

    expect(page.locator("#drawflow .drawflow-node")).to_have_count(2)
    assert drawn_position(page, "b") == (340, 40)
    assert graph_requests == []
    assert stored_steps(live_app, sequence_id)["b"] == ("email", 340, 40)
