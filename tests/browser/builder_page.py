"""Driving the builder page in Playwright: sign in, drop steps, connect ports, read the canvas."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, Response, expect

EMAIL = "builder@penguinmails.test"
PASSWORD = "penguin-builder"


def open_builder(page: Page, base: str, sequence_id: str) -> None:
    """Sign in through the real form on the way to the builder (once per browser context)."""
    page.goto(f"{base}/sequences/{sequence_id}")
    if "/sign-in" in page.url:
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/sequences/{sequence_id}")
    expect(page.locator("#drawflow .drawflow")).to_be_attached()


def node(page: Page, step_id: str) -> Locator:
    return page.locator(f'#drawflow .drawflow-node[data-step-id="{step_id}"]')


def is_graph_call(method: str, suffix: str) -> Callable[[Response], bool]:
    """Matches the answer to one canvas request, e.g. ("POST", "/steps")."""
    return lambda r: r.request.method == method and r.url.split("/graph", 1)[-1] == suffix


def drop_step(page: Page, step_type: str, x: int, y: int) -> str:
    """Drag a palette item onto the canvas; the new step's id as the server named it."""
    with page.expect_response(is_graph_call("POST", "/steps")) as answer:
        page.locator(f'.palette-item[data-step-type="{step_type}"]').drag_to(
            page.locator("#drawflow"), target_position={"x": x, "y": y}
        )
    assert answer.value.status == 201
    step_id = answer.value.json()["step"]
    expect(node(page, step_id)).to_be_visible()
    return step_id


def connect(page: Page, source: str, target: str, port: int = 1) -> None:
    """Drag from an output port to an input port; the server must store it."""
    with page.expect_response(is_graph_call("POST", "/connections")) as answer:
        drag_link(page, source, target, port)
    assert answer.value.status == 201


def drag_link(page: Page, source: str, target: str, port: int = 1) -> None:
    node(page, source).locator(f".output_{port}").drag_to(node(page, target).locator(".input_1"))


def link_path(page: Page, source: str, target: str) -> Locator:
    """The drawn line of a connection (Drawflow names its ends by node element id)."""
    out_id = node(page, source).get_attribute("id")
    in_id = node(page, target).get_attribute("id")
    return page.locator(f"svg.connection.node_out_{out_id}.node_in_{in_id} path.main-path")


def click_link(page: Page, source: str, target: str) -> None:
    """Click a connection a quarter of the way along (its middle holds the "+" button)."""
    point = link_path(page, source, target).evaluate(
        """path => {
            const p = path.getPointAtLength(path.getTotalLength() / 4);
            const at = new DOMPoint(p.x, p.y).matrixTransform(path.getScreenCTM());
            return [at.x, at.y];
        }"""
    )
    page.mouse.click(point[0], point[1])


def move_node(page: Page, step_id: str, dx: int, dy: int) -> None:
    handle = node(page, step_id).locator(".step-name")
    box = handle.bounding_box()
    assert box is not None
    x, y = box["x"] + 10, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=6)
    page.mouse.up()


def has_class(css_class: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(css_class)}(\s|$)")


def drawn_position(page: Page, step_id: str) -> tuple[int, int]:
    left, top = node(page, step_id).evaluate("el => [el.style.left, el.style.top]")
    return round(float(left.removesuffix("px"))), round(float(top.removesuffix("px")))


def drawn_links(page: Page) -> set[tuple[str, str | None, str]]:
    """(source, port label, target) for every connection drawn on the canvas."""
    rows = page.evaluate(
        """() => [...document.querySelectorAll('#drawflow svg.connection')].map(svg => {
            const cls = [...svg.classList];
            const out = cls.find(c => c.startsWith('node_out_')).slice('node_out_'.length);
            const inn = cls.find(c => c.startsWith('node_in_')).slice('node_in_'.length);
            const port = cls.find(c => c.startsWith('output_'));
            const from = document.getElementById(out);
            return [from.dataset.stepId, from.querySelector('.' + port).getAttribute('data-label'),
                    document.getElementById(inn).dataset.stepId];
        })"""
    )
    return {(source, label, target) for source, label, target in rows}
