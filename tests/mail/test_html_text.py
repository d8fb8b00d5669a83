"""The plain-text alternative's strict reader must read every document as HTMLParser does:
compared on generated documents, well-formed and not."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.mail import html_text
from app.mail.html_text import html_to_text

TAGS = ["p", "div", "br", "li", "ul", "span", "h2", "td", "tr", "table", "b", "o:p", "body"]
ATTRIBUTES = [
    "",
    ' class="x"',
    " class='a > b'",
    " data-x=bare",
    " hidden",
    ' style="color: red" id=z',
    ' title="&lt;a&gt; &amp; &#39;b&#39;"',
]
HREFS = [
    '"https://x.example/?a=1&amp;b=2"',
    "'https://x.example/page'",
    "https://bare.example/",
    '"mailto:ann@example.com"',
    '"#top"',
    '""',
    '" https://spaced.example "',
]
TEXT = st.sampled_from(
    ["Hello", " ", "\n  ", "Ann &amp; Bob", "&lt;tag&gt;", "caf&eacute;", "&#8212;", "a\tb", "x"]
)
WELL_FORMED = st.one_of(
    TEXT,
    st.builds(lambda t, a: f"<{t}{a}>", st.sampled_from(TAGS), st.sampled_from(ATTRIBUTES)),
    st.builds(lambda t: f"</{t}>", st.sampled_from(TAGS)),
    st.builds(lambda t: f"<{t}/>", st.sampled_from(TAGS)),
    st.builds(lambda t: f"</{t.upper()} >", st.sampled_from(TAGS)),
    st.builds(lambda h, label: f"<a href={h}>{label}</a>", st.sampled_from(HREFS), TEXT),
    st.builds(lambda h: f"<A HREF={h} class=x>", st.sampled_from(HREFS)),
    st.sampled_from(
        [
            "<!DOCTYPE html>",
            "<!-- a comment <p> -->",
            "<!--[if mso]><table><tr><td><![endif]-->",
            "<!--[if !mso]><!-->",
            "<!--<![endif]-->",
            "<style>p > a { color: red } </p></style>",
            "<script type='x'>if (a < b) {}</script >",
            "<head><title>T</title></head>",
        ]
    ),
)
ANYTHING = st.one_of(
    WELL_FORMED,
    st.sampled_from(
        [
            "<",
            "< p>",
            "a < b",
            '<a href=x"y>',
            "<!x>",
            "<?xml v?>",
            "</ p>",
            "&",
            "&am",
            "<p",
            "<style>",
        ]
    ),
    st.text(alphabet="<>/!-='\" &;apbr\n", max_size=12),
)


def parsed_by_htmlparser(html: str) -> str:
    extractor = html_text._TextExtractor()
    extractor.feed(html)
    extractor.close()
    return html_text.text_of(extractor)


@settings(max_examples=400, deadline=None)
@given(st.lists(WELL_FORMED, max_size=40).map("".join))
def test_well_formed_markup_is_read_by_the_strict_reader_as_htmlparser_reads_it(html):
    assert html_text._read_strict(html, html_text._TextExtractor())
    assert html_to_text(html) == parsed_by_htmlparser(html)


@settings(max_examples=400, deadline=None)
@given(st.lists(ANYTHING, max_size=40).map("".join))
def test_any_markup_reads_as_htmlparser_reads_it(html):
    assert html_to_text(html) == parsed_by_htmlparser(html)


@pytest.mark.parametrize("space", ["\n", "\t", "&nbsp;", "\u2028", "\r\n", "\x0b", "  ", " \n "])
def test_whitespace_of_any_kind_in_text_collapses_to_one_space(space):
    assert html_to_text(f"<p>one{space}two</p><p>three</p>") == "one two\n\nthree"
