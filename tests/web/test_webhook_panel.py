"""The webhook step's panel: URL and JSON payload round-trip; a bad URL or payload is shown
on its own field, in words naming what is wrong."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from werkzeug.datastructures import MultiDict

from app.core import targets
from app.web.steps import config_from_form, form_from_config


@pytest.fixture
def in_a_request() -> Iterator[None]:
    """The panel runs in a request, where the app sets the address policy (here: no
    WEBHOOK_ALLOW_PRIVATE)."""
    token = targets.allow_private_targets(False)
    yield
    targets.restore_target_policy(token)


def test_url_and_payload_come_back_from_the_panel_as_they_were():
    config = {
        "url": "https://hooks.example.com/in",
        "payload": {"email": "{{ contact.email }}", "n": 1},
    }
    shown = form_from_config("webhook", config).values
    assert config_from_form("webhook", shown)[0] == config


def test_an_empty_payload_box_sends_the_default_payload():
    config, _ = config_from_form("webhook", MultiDict({"url": "https://x.example.com/"}))
    assert config == {"url": "https://x.example.com/"}


@pytest.mark.usefixtures("in_a_request")
@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"url": "http://10.0.0.1/hook"}, "url", "10.0.0.1 is a private address"),
        ({"url": "ftp://example.com/"}, "url", "not an http:// or https:// URL"),
        ({"url": "https://x.example.com/", "payload": "{nope"}, "payload", "not valid JSON"),
        ({"url": "https://x.example.com/", "payload": "[1, 2]"}, "payload", "a JSON object"),
    ],
)
def test_a_bad_url_or_payload_is_shown_on_its_field(values, field, words):
    config, form = config_from_form("webhook", MultiDict(values))
    assert config is None
    assert words in (form.error(field) or "")
