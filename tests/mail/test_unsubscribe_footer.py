"""Every email carries a visible unsubscribe link, whether or not its author added one."""

from __future__ import annotations

from app.mail.rendering import RenderedEmail, ensure_unsubscribe_link

URL = "https://mail.example.com/u/abc.def"


def test_a_footer_is_added_before_the_end_of_the_body_and_to_the_text() -> None:
    rendered = RenderedEmail("Hi", "<html><body><p>Hello</p></body></html>", "Hello")
    out = ensure_unsubscribe_link(rendered, URL)
    assert out.html.endswith(f'<a href="{URL}">Unsubscribe</a>.</p></body></html>')
    assert out.text == f"Hello\n\n--\nUnsubscribe: {URL}\n"
    assert out.subject == "Hi"


def test_a_fragment_without_body_gets_the_footer_at_the_end() -> None:
    out = ensure_unsubscribe_link(RenderedEmail("s", "<p>Hi</p>", "Hi"), URL)
    assert out.html.startswith("<p>Hi</p><p ") and out.html.endswith("</p>")


def test_an_author_placed_link_is_left_alone() -> None:
    placed = RenderedEmail("s", f'<p><a href="{URL}">Leave</a></p>', f"Leave: {URL}")
    assert ensure_unsubscribe_link(placed, URL) == placed
