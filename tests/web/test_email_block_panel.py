"""The email panel's block editor over HTTP: switching to blocks, adding, moving and removing
blocks (answered unsaved, marked for autosave), saving them as generated HTML, refusals
next to the block's field, the preview, and "Edit HTML" back to the author's own HTML."""

from __future__ import annotations

import re
from typing import Any

from app.core.email_blocks import BLOCK_TYPES
from app.web.steps.email import BLOCK_FIELDS
from tests.web.test_panels import (
    _unescape,
    controls,
    field_error,
    graph_event,
    panel_values,
    seed,
)

PANEL = "steps/email_1/panel"


def values_of(html: str) -> dict[str, Any]:
    """What the browser posts: the panel's usual boxes plus the block editor's hidden and
    url/colour inputs."""
    values = panel_values(html)
    for kind, name, value in re.findall(
        r'<input type="(hidden|url|color)"(?: id="[^"]*")? name="([^"]+)" value="([^"]*)"', html
    ):
        if kind != "hidden" or name == "editor" or name.startswith("blocks."):
            values[name] = _unescape(value)
    return values


def block_types(html: str) -> list[str]:
    return re.findall(r'<li class="block" data-block-type="([^"]*)">', html)


def op(seeded: Any, html: str, name: str, **extra: str) -> str:
    response = seeded.web.submit(seeded.url(PANEL), data=values_of(html) | extra | {"_op": name})
    assert response.status_code == 200 and "HX-Trigger" not in response.headers
    assert "data-pending-save" in response.text, "the change is autosaved at once"
    return response.text


def in_blocks(seeded: Any) -> str:
    html = seeded.web.get(seeded.url(PANEL)).text
    assert "Switch to blocks" in html and 'name="editor"' not in html
    html = op(seeded, html, "blocks")
    assert 'name="editor" value="blocks"' in html and 'name="body"' not in html
    return html


def test_blocks_are_added_moved_and_removed_with_labelled_controls(app):
    seeded = seed(app)
    html = in_blocks(seeded)
    for block_type in ("text", "heading", "button"):
        html = op(seeded, html, "add:blocks", _new_block=block_type)
    assert block_types(html) == ["text", "heading", "button"]
    assert 'name="blocks.1.level"' in html  # a heading's size

    html = op(seeded, html, "up:blocks.1")
    assert block_types(html) == ["heading", "text", "button"]
    html = op(seeded, html, "down:blocks.1")
    assert block_types(html) == ["heading", "button", "text"]
    assert 'aria-label="Move block 2 (Button) up"' in html
    html = op(seeded, html, "remove:blocks.2")
    assert block_types(html) == ["heading", "button"]

    found = controls(html)
    assert all(attrs.get("id") in found.labelled for _, attrs in found.controls)
    assert seeded.step("email_1").config["body"] == "<p>Welcome</p>"  # nothing saved yet


def test_saved_blocks_store_their_html_as_the_body(app):
    seeded = seed(app)
    html = in_blocks(seeded)
    for block_type in ("heading", "text", "button"):
        html = op(seeded, html, "add:blocks", _new_block=block_type)
    typed = {
        "blocks.0.text": "Welcome, {{ contact.first_name }}",
        "blocks.1.text": "Hello <there>\r\n\r\nSecond",
        "blocks.2.label": "Start",
        "blocks.2.url": "https://app.test/start",
    }

    response = seeded.web.submit(seeded.url(PANEL), data=values_of(html) | typed)

    assert graph_event(response)  # saved
    config = seeded.step("email_1").config
    assert config["blocks"] == [
        {"type": "heading", "text": "Welcome, {{ contact.first_name }}", "level": 1},
        {"type": "text", "text": "Hello <there>\n\nSecond"},
        {"type": "button", "label": "Start", "url": "https://app.test/start"},
    ]
    assert config["style"] == {"brand_colour": "#1f6feb", "font": "Arial"}
    assert "Hello &lt;there&gt;" in config["body"] and "mj-column-per-100" in config["body"]
    assert block_types(response.text) == ["heading", "text", "button"]  # shown as saved

    preview = seeded.web.submit(seeded.url("steps/email_1/preview"), data=values_of(response.text))
    assert "Welcome, Alex" in _unescape(preview.text)


def test_a_bad_block_is_named_next_to_its_field_and_nothing_is_saved(app):
    seeded = seed(app)
    html = op(seeded, in_blocks(seeded), "add:blocks", _new_block="button")
    typed = {"blocks.0.label": "Go", "blocks.0.url": "http://app.test"}

    response = seeded.web.submit(seeded.url(PANEL), data=values_of(html) | typed)

    assert "HX-Trigger" not in response.headers
    assert field_error(response.text, "blocks.0.url") == (
        "Link: block 1 (button): url must start with https://"
    )
    assert "blocks" not in seeded.step("email_1").config


def test_edit_html_turns_the_blocks_into_the_body(app):
    seeded = seed(app)
    html = op(seeded, in_blocks(seeded), "add:blocks", _new_block="heading")
    html = op(seeded, html, "html", **{"blocks.0.text": "Big <news>"})
    assert 'name="editor"' not in html and "blocks.0" not in html
    body = values_of(html)["body"]
    assert "Big &lt;news&gt;" in body and "mj-column-per-100" in body

    response = seeded.web.submit(seeded.url(PANEL), data=values_of(html))
    config = seeded.step("email_1").config
    assert graph_event(response) and "blocks" not in config and config["body"] == body


def test_every_block_type_shows_its_boxes(app):
    seeded = seed(app)
    html = in_blocks(seeded)
    for block_type in BLOCK_TYPES:
        html = op(seeded, html, "add:blocks", _new_block=block_type)
    assert block_types(html) == list(BLOCK_TYPES)
    names = set(values_of(html))
    for index, block_type in enumerate(BLOCK_TYPES):
        expected = {f"blocks.{index}.{key}" for key in BLOCK_FIELDS[block_type]}
        assert expected <= names, block_type
