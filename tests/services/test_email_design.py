"""Blocks made into HTML by mrml: responsive MJML output, the author's text escaped, and
template tags that still render in the sandbox for each contact."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from app.mail.rendering import render_email
from app.services.dispatcher import template_context
from app.services.email_design import blocks_html, with_generated_body

BLOCKS = [
    {"type": "heading", "text": "Welcome, {{ contact.first_name }}"},
    {"type": "text", "text": "Say <script>alert(1)</script> & hello.\n\nSecond paragraph."},
    {"type": "button", "label": "Book a demo", "url": "https://x.test/book?e={{ contact.email }}"},
    {"type": "image", "src": "https://x.test/logo.png", "alt": "Acme logo", "width": 120},
    {"type": "divider"},
    {"type": "footer", "text": "Acme Inc, 1 Main St"},
]


def test_blocks_become_responsive_email_html() -> None:
    html = blocks_html(BLOCKS)
    assert html.startswith("<!doctype html>")
    assert "@media only screen and (min-width:480px)" in html  # columns stack on phones
    assert "mj-column-per-100" in html and "<!--[if mso | IE]>" in html  # Outlook tables
    assert 'alt="Acme logo"' in html and 'width="120"' in html
    assert "fonts.googleapis.com" not in html  # system fonts only: nothing loaded


def test_text_is_escaped_not_run() -> None:
    html = blocks_html(BLOCKS)
    assert "<script>" not in html
    assert "Say &lt;script&gt;alert(1)&lt;/script&gt; &amp; hello." in html


def test_template_tags_render_for_each_contact_in_the_sandbox() -> None:
    contact = SimpleNamespace(
        email="ann@x.test", first_name="<Ann>", last_name="", timezone=None, fields={}, tags=[]
    )
    context = template_context(contact, "https://app.test/u/1")
    rendered = render_email("Hi", blocks_html(BLOCKS), None, context)
    assert "Welcome, &lt;Ann&gt;" in rendered.html  # the contact's value is escaped too
    assert 'href="https://x.test/book?e=ann@x.test"' in rendered.html
    assert 'href="https://app.test/u/1"' in rendered.html  # the footer's unsubscribe link
    assert "Book a demo (https://x.test/book?e=ann@x.test)" in rendered.text
    assert "@media" not in rendered.text  # the derived text has no CSS


def test_the_body_is_generated_only_for_an_email_with_blocks() -> None:
    raw = {"subject": "Hi", "body": "<p>mine</p>"}
    assert with_generated_body(raw) == raw
    generated = with_generated_body({**raw, "blocks": BLOCKS[:1]})
    assert "Welcome, {{ contact.first_name }}" in generated["body"]
    assert with_generated_body({**raw, "blocks": []})["body"] == ""  # flagged as empty


def test_invalid_blocks_are_refused_not_compiled() -> None:
    with pytest.raises(ValidationError, match="must start with https://"):
        blocks_html([{"type": "button", "label": "Go", "url": "javascript:alert(1)"}])
