"""Link rewriting and the open pixel on rendered HTML: pure string work."""

from __future__ import annotations

from app.mail.tracking import add_open_pixel, rewrite_links


def tracked(position: int) -> str:
    return f"https://pm.test/t/c/tok{position}"


def test_http_links_are_rewritten_in_order_and_their_urls_returned() -> None:
    body = (
        '<p><a href="https://example.com/a?x=1&amp;y=2">A</a> '
        "<A class='btn' HREF='http://example.com/b'>B</A> "
        '<a title="a > b" href=https://example.com/c>C</a></p>'
    )
    html, links = rewrite_links(body, tracked)
    assert links == [
        "https://example.com/a?x=1&y=2",
        "http://example.com/b",
        "https://example.com/c",
    ]
    assert '<a href="https://pm.test/t/c/tok0">A</a>' in html
    assert "<a class='btn' href=\"https://pm.test/t/c/tok1\">B</A>" in html
    assert '<a title="a > b" href="https://pm.test/t/c/tok2">C</a>' in html
    assert "example.com" not in html


def test_mailto_anchors_relative_and_kept_links_are_left_alone() -> None:
    body = (
        '<a href="mailto:help@example.com">mail</a><a href="#top">top</a>'
        '<a href="/relative">rel</a><a name="x">no href</a>'
        '<a href="https://pm.test/u/abc">unsubscribe</a>'
        '<a data-href="https://example.com/nope" href="https://example.com/yes">y</a>'
    )
    html, links = rewrite_links(body, tracked, keep={"https://pm.test/u/abc"})
    assert links == ["https://example.com/yes"]
    assert 'data-href="https://example.com/nope"' in html
    for untouched in ('"mailto:help@example.com"', '"#top"', '"/relative"', "/u/abc"):
        assert untouched in html


def test_an_attribute_value_that_mentions_href_is_not_mistaken_for_it() -> None:
    html, links = rewrite_links(
        '<a title="href=https://x.example" href="https://y.example">', tracked
    )
    assert links == ["https://y.example"]
    assert 'title="href=https://x.example"' in html


def test_the_pixel_goes_before_the_closing_body_or_at_the_end() -> None:
    pixel = '<img src="https://pm.test/t/o/t.gif" width="1" height="1" alt="">'
    assert add_open_pixel("<html><body><p>x</p></BODY></html>", "https://pm.test/t/o/t.gif") == (
        f"<html><body><p>x</p>{pixel}</BODY></html>"
    )
    assert add_open_pixel("<p>x</p>", "https://pm.test/t/o/t.gif") == f"<p>x</p>{pixel}"


def test_a_link_that_a_variable_made_into_script_loses_its_href_but_keeps_its_text() -> None:
    body = (
        '<p><a href="javascript:alert(1)">Join</a> <a class="x" href=" JaVaScRiPt:alert(2)">B</a>'
        ' <a href="data:text/html,hi">C</a> <a href="https://example.com/ok">OK</a></p>'
    )
    html, links = rewrite_links(body, tracked)
    assert "script:" not in html.lower() and "data:" not in html
    assert "<a >Join</a>" in html and '<a class="x" >B</a>' in html and "<a >C</a>" in html
    assert links == ["https://example.com/ok"]
