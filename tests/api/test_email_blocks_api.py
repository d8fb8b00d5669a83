"""An email written as blocks through the API: stored with the HTML made from its blocks,
given back as it came (blocks and body), and refused with the block's path when wrong."""

from __future__ import annotations

from typing import Any

from tests.helpers import onboarding_definition

BLOCKS = [
    {"type": "heading", "text": "Welcome, {{ contact.first_name }}", "level": 1},
    {"type": "text", "text": "Glad to have you. <b>not bold</b>"},
    {"type": "button", "label": "Get started", "url": "https://app.test/start"},
]


def with_blocks(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    definition = onboarding_definition()
    definition["steps"][0]["config"] = {"subject": "Welcome", "blocks": blocks}
    return definition


def test_a_sequence_with_blocks_is_stored_with_their_html(api):
    created = api.post("/api/sequences", json=with_blocks(BLOCKS))
    assert created.status_code == 201, created.json
    config = api.get(f"/api/sequences/{created.json['id']}").json["steps"][0]["config"]
    assert config["blocks"] == BLOCKS
    assert "@media only screen and (min-width:480px)" in config["body"]
    assert "Welcome, {{ contact.first_name }}" in config["body"]
    assert "&lt;b&gt;not bold&lt;/b&gt;" in config["body"]
    assert 'href="https://app.test/start"' in config["body"]


def test_the_get_output_patches_back_unchanged_and_a_block_edit_remakes_the_body(api):
    seq = api.post("/api/sequences", json=with_blocks(BLOCKS)).json
    again = api.patch(f"/api/sequences/{seq['id']}", json=seq)
    assert again.status_code == 200, again.json
    assert again.json["steps"] == seq["steps"]  # export, import: the same blocks and body
    steps = again.json["steps"]
    steps[0]["config"]["blocks"][2]["url"] = "https://app.test/other"
    changed = api.patch(f"/api/sequences/{seq['id']}", json={"steps": steps, "version": 2})
    assert changed.status_code == 200, changed.json
    body = changed.json["steps"][0]["config"]["body"]
    assert 'href="https://app.test/other"' in body and "app.test/start" not in body


def test_a_bad_block_is_refused_naming_its_path(api):
    bad = [*BLOCKS[:2], {"type": "button", "label": "Go", "url": "http://app.test"}]
    response = api.post("/api/sequences", json=with_blocks(bad))
    assert response.status_code == 422
    error = response.json["error"]
    assert error["step"] == "email_1"
    assert error["field"] == "config.blocks[2].url"
    assert "block 3 (button): url must start with https://" in error["message"]
