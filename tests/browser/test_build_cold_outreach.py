"""Issue 20's first acceptance point, in Chromium: a new user builds Cold Outreach (an
email, a two-business-day delay inside business hours, a branch on "replied", two
follow-ups) from an empty sequence with the keyboard alone, and again with the mouse in at
most 35 actions; both end with the same saved graph and a launch checklist with no canvas
problem."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, Response, Route, expect

from tests.browser.builder_data import (
    builder_workspace,
    create,
    email,
    stored_links,
    stored_step,
    stored_steps,
)
from tests.browser.builder_page import (
    EMAIL,
    PASSWORD,
    connect,
    drop_step,
    has_class,
    is_graph_call,
    node,
    open_builder,
)

pytestmark = pytest.mark.browser

MAX_MOUSE_ACTIONS = 35

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
# Only inside business hours (Mon-Fri 09:00-17:00 the contact's time), else the next window.
BUSINESS_HOURS = {
    "window": {"weekdays": WEEKDAYS, "start": "09:00", "end": "17:00", "timezone": "recipient"},
    "if_window_missed": "next_window",
}
INTRO = {
    "subject": "Quick question, {{ contact.first_name }}",
    "body": "<p>Are you the right person for outbound tooling?</p>",
}
NUDGE = {"subject": "Re: quick question", "body": "<p>Bumping this up.</p>"}
BREAKUP = {"subject": "Should I close your file?", "body": "<p>Last note from me.</p>"}

# Cold Outreach as both tests must save it, by step id (the server numbers steps by type in
# the order they are added): type and settings; then the connections.
COLD_OUTREACH_STEPS = {
    "email_1": ("email", INTRO),
    "delay_1": ("delay", {"duration": "2 business days", **BUSINESS_HOURS}),
    "branch_1": (
        "branch",
        {"condition": {"type": "email_event", "email_step_id": "email_1", "event": "replied"}},
    ),
    "end_1": ("end", {}),
    "email_2": ("email", NUDGE),
    "delay_2": ("delay", {"duration": "3 business days"}),
    "email_3": ("email", BREAKUP),
}
COLD_OUTREACH_LINKS = {
    ("email_1", None, "delay_1"),
    ("delay_1", None, "branch_1"),
    ("branch_1", "true", "end_1"),
    ("branch_1", "false", "email_2"),
    ("email_2", None, "delay_2"),
    ("delay_2", None, "email_3"),
}


@pytest.fixture
def workspace_id(live_app: Flask) -> uuid.UUID:
    return builder_workspace(live_app)


def saved_flow(app: Flask, sequence_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every stored step's type and settings, by step id."""
    return {
        key: (step_type, stored_step(app, sequence_id, key)[1])
        for key, (step_type, _, _) in stored_steps(app, sequence_id).items()
    }


def assert_cold_outreach_saved(page: Page, app: Flask, sequence_id: str) -> None:
    assert saved_flow(app, sequence_id) == COLD_OUTREACH_STEPS
    assert stored_links(app, sequence_id) == COLD_OUTREACH_LINKS
    checklist = page.locator("#checklist")
    for check in ("graph", "content", "delays"):
        expect(checklist.locator(f'[data-check="{check}"]')).to_have_class(has_class("done"))


# ---- the keyboard -------------------------------------------------------------------------


def tab_to(page: Page, selector: str, limit: int = 150) -> None:
    """Press Tab until the focused element matches `selector`, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def type_into(page: Page, selector: str, text: str) -> None:
    """Tab to a field and type; in a select, typing an option's first letters picks it."""
    tab_to(page, selector)
    page.keyboard.type(text)


def field(element_id: str) -> str:
    """A selector for an element id holding dots (the panels' dotted field names)."""
    return f'[id="{element_id}"]'


def sign_in_and_create(page: Page, base: str, name: str) -> str:
    """From the sequences page: the sign-in form, then "Create sequence"; the new id."""
    page.goto(f"{base}/sequences")
    type_into(page, 'input[name="email"]', EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{base}/sequences")
    type_into(page, "#new-name", name)
    page.keyboard.press("Enter")
    expect(page.locator("#drawflow .drawflow")).to_be_attached()
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def add_step_from_palette(page: Page, step_type: str, name: str) -> str:
    """Tab to the palette item, Enter (the new step's settings take the focus), its name."""
    tab_to(page, f'.palette-item[data-step-type="{step_type}"]')
    with page.expect_response(is_graph_call("POST", "/steps")) as answer:
        page.keyboard.press("Enter")
    step_id = answer.value.json()["step"]
    expect(page.locator(f'#step-panel[data-step="{step_id}"] #pf-name')).to_be_focused()
    page.keyboard.type(name)
    return step_id


def connect_by_keyboard(page: Page, source: str, target: str, path: str | None = None) -> None:
    """Tab to the source's card, Enter for its settings, then "Connect to…" by name."""
    tab_to(page, f'#drawflow .drawflow-node[data-step-id="{source}"]')
    page.keyboard.press("Enter")
    expect(page.locator(f'#step-panel[data-step="{source}"] #pf-name')).to_be_focused()
    if path is not None:
        type_into(page, "#pc-port", path)
    type_into(page, "#pc-target", target)
    tab_to(page, "[data-connect-button]")
    with page.expect_response(is_graph_call("POST", "/connections")) as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 201, answer.value.text()
    # The canvas has drawn the link when it says so (a redraw replaces the cards).
    expect(page.locator("#canvas-message")).to_contain_text(f"to {target}.")
    page.keyboard.press("Escape")  # back to the card


def build_with_the_keyboard(page: Page) -> None:
    """Cold Outreach, step by step, from the palette and the panels; then its connections."""
    intro = add_step_from_palette(page, "email", "Intro")
    type_into(page, "#pf-subject", INTRO["subject"])
    type_into(page, "#pf-body", INTRO["body"])

    wait = add_step_from_palette(page, "delay", "Business wait")
    type_into(page, "#pf-duration", "2 business days")
    tab_to(page, field("pf-window.enabled-on"))
    page.keyboard.press("Space")  # business hours: Mon-Fri 09:00-17:00, the window's defaults
    expect(page.locator(field("pf-window.start"))).to_have_value("09:00")

    branch = add_step_from_palette(page, "branch", "Replied?")
    type_into(page, field("pf-cond.email_step_id"), "Intro")
    type_into(page, field("pf-cond.event"), "Replied")
    expect(page.locator(field("pf-cond.event"))).to_have_value("replied")

    add_step_from_palette(page, "end", "Stop")
    nudge = add_step_from_palette(page, "email", "Follow-up 1")
    type_into(page, "#pf-subject", NUDGE["subject"])
    type_into(page, "#pf-body", NUDGE["body"])
    pause = add_step_from_palette(page, "delay", "Pause")
    type_into(page, "#pf-duration", "3 business days")
    add_step_from_palette(page, "email", "Follow-up 2")
    type_into(page, "#pf-subject", BREAKUP["subject"])
    type_into(page, "#pf-body", BREAKUP["body"])

    connect_by_keyboard(page, intro, "Business wait")
    connect_by_keyboard(page, wait, "Replied?")
    connect_by_keyboard(page, branch, "Stop", path="true")
    connect_by_keyboard(page, branch, "Follow-up 1", path="false")
    connect_by_keyboard(page, nudge, "Pause")
    connect_by_keyboard(page, pause, "Follow-up 2")


def test_a_new_user_builds_cold_outreach_with_the_keyboard_alone(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    sequence_id = sign_in_and_create(page, live_server, "Cold Outreach")
    build_with_the_keyboard(page)
    assert_cold_outreach_saved(page, live_app, sequence_id)


# ---- the mouse ----------------------------------------------------------------------------


class MouseActions:
    """The marketer's actions, counted: each click, drag, select and field typed is one."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0

    def click(self, target: Locator) -> None:
        self.count += 1
        target.click()

    def type_in(self, target: Locator, text: str) -> None:
        """Click into a field and type over what it holds (a delay's "1 day"): one action."""
        self.count += 1
        target.click(click_count=3)
        self.page.keyboard.type(text)

    def select(self, target: Locator, value: str) -> None:
        self.count += 1
        target.select_option(value)

    def drop(self, step_type: str, x: int, y: int) -> str:
        self.count += 1
        return drop_step(self.page, step_type, x, y)

    def connect(self, source: str, target: str, port: int = 1) -> None:
        self.count += 1
        connect(self.page, source, target, port)


def panel(page: Page, step_id: str) -> Locator:
    form = page.locator(f'#step-panel[data-step="{step_id}"]')
    expect(form).to_be_visible()
    return form


def fill_email(mouse: MouseActions, step_id: str, content: dict[str, str]) -> None:
    form = panel(mouse.page, step_id)
    mouse.type_in(form.get_by_label("Subject", exact=True), content["subject"])
    mouse.type_in(form.get_by_label("Body (HTML)"), content["body"])


def test_a_new_user_builds_cold_outreach_with_the_mouse_in_at_most_35_actions(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    mouse = MouseActions(page)
    page.goto(f"{live_server}/sequences")
    mouse.type_in(page.get_by_label("Email"), EMAIL)
    mouse.type_in(page.get_by_label("Password"), PASSWORD)
    mouse.click(page.get_by_role("button", name="Sign in"))
    mouse.type_in(page.get_by_label("Name of the new sequence"), "Cold Outreach")
    mouse.click(page.get_by_role("button", name="Create sequence"))
    expect(page.locator("#drawflow .drawflow")).to_be_attached()
    sequence_id = page.url.rstrip("/").rsplit("/", 1)[-1]

    # The main line down the left, the "no reply" path to the right of the branch.
    intro = mouse.drop("email", 220, 100)
    fill_email(mouse, intro, INTRO)
    wait = mouse.drop("delay", 220, 250)
    form = panel(page, wait)
    mouse.type_in(form.get_by_label("Duration"), "2 business days")
    mouse.click(form.get_by_label("Only continue inside a delivery window"))
    expect(panel(page, wait).get_by_label("From")).to_have_value("09:00")
    mouse.connect(intro, wait)

    branch = mouse.drop("branch", 220, 400)
    form = panel(page, branch)
    mouse.select(form.get_by_label("Email", exact=True), intro)
    mouse.select(form.get_by_label("Activity"), "replied")
    mouse.connect(wait, branch)

    stop = mouse.drop("end", 100, 570)
    mouse.connect(branch, stop, port=1)  # true: they replied
    nudge = mouse.drop("email", 380, 570)
    fill_email(mouse, nudge, NUDGE)
    mouse.connect(branch, nudge, port=2)  # false
    pause = mouse.drop("delay", 660, 400)
    mouse.type_in(panel(page, pause).get_by_label("Duration"), "3 business days")
    mouse.connect(nudge, pause)
    breakup = mouse.drop("email", 660, 700)
    fill_email(mouse, breakup, BREAKUP)
    mouse.connect(pause, breakup)
    # The last panel saves itself after a pause, as every panel does.
    expect(panel(page, breakup).locator("[data-save-state]")).to_have_text("All changes saved")

    with page.expect_response(is_graph_call("POST", "/layout")):
        mouse.click(page.get_by_role("button", name="Tidy up"))
    positions = stored_steps(live_app, sequence_id)
    for source, _, target in stored_links(live_app, sequence_id):
        assert positions[target][2] > positions[source][2], (source, target)

    print(f"Cold Outreach by mouse: {mouse.count} actions")
    assert mouse.count <= MAX_MOUSE_ACTIONS
    assert_cold_outreach_saved(page, live_app, sequence_id)


# ---- a panel saving while the canvas changes ------------------------------------------------


def is_panel_save(response: Response) -> bool:
    return response.request.method == "POST" and response.url.endswith("/panel")


def test_a_step_added_while_the_panel_is_saving_waits_for_that_save_instead_of_conflicting(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    # Typing, a pause (the autosave goes), then a palette Enter: both carried one version.
    sequence_id = create(live_app, workspace_id, [email("a", "First", 60, 60)], [])
    open_builder(page, live_server, sequence_id)
    held: list[Route] = []  # the panel's save, kept in flight until released

    def hold_saves(route: Route) -> None:
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route("**/steps/a/panel", hold_saves)
    node(page, "a").focus()
    page.keyboard.press("Enter")
    expect(page.locator('#step-panel[data-step="a"] #pf-name')).to_be_focused()
    page.keyboard.press("End")
    page.keyboard.type(" touch")
    expect(page.locator("[data-save-state]")).to_have_text("Saving…")

    page.locator('.palette-item[data-step-type="delay"]').focus()
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    with page.expect_response(is_graph_call("POST", "/steps"), timeout=5000) as added:
        for route in held:
            route.continue_()
    assert added.value.status == 201
    expect(page.locator('#step-panel[data-step="delay_1"]')).to_be_visible()
    assert stored_step(live_app, sequence_id, "a")[0] == "First touch"
    assert set(stored_steps(live_app, sequence_id)) == {"a", "delay_1"}
    expect(page.locator("#canvas-message")).not_to_contain_text("changed somewhere else")


def test_a_panel_save_due_while_a_canvas_change_is_in_flight_waits_for_it(
    page: Page, live_server: str, live_app: Flask, workspace_id: uuid.UUID
):
    sequence_id = create(live_app, workspace_id, [email("a", "First", 60, 60)], [])
    open_builder(page, live_server, sequence_id)
    node(page, "a").focus()
    page.keyboard.press("Enter")
    expect(page.locator('#step-panel[data-step="a"] #pf-name')).to_be_focused()
    held: list[Route] = []  # Tidy up's request, kept in flight until released
    page.route("**/graph/layout", lambda route: held.append(route))
    page.get_by_role("button", name="Tidy up").click()
    page.locator("#pf-name").click()
    page.keyboard.press("End")
    page.keyboard.type(" touch")
    page.wait_for_timeout(1200)  # past the autosave's pause
    with page.expect_response(is_panel_save, timeout=5000) as saved:
        for route in held:
            route.continue_()
    assert saved.value.status == 200
    expect(page.locator("[data-save-state]")).to_have_text("All changes saved")
    assert stored_step(live_app, sequence_id, "a")[0] == "First touch"
    expect(page.locator("#canvas-message")).not_to_contain_text("changed somewhere else")
