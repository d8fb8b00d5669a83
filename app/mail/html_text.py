"""The plain-text alternative of an HTML body, made for every message that has no text of
its own.

Through Python's `HTMLParser` it was most of the CPU time of preparing a designed email
(5 ms for 34 KB and 1,300 tags). Well-formed markup, which is what editors and our own
templates write, is read here by one regular expression into the events the parser would
produce (2.9 ms; `bench/dispatcher.py --body-kb 20`'s email 2.43 -> 1.15 ms, once text is
collapsed only where it has more than single spaces); anything else (a bare `<`, a
processing instruction, a declaration other than the doctype, an unclosed script or style,
an attribute the strict pattern does not know) goes through `HTMLParser` itself, so no
input reads differently (`tests/mail/test_html_text.py` compares both on generated
documents).
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

from app.mail.tracking import ATTRIBUTE

_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figure",
        "footer", "header", "hr", "li", "main", "nav", "ol", "pre", "section", "table",
        "td", "th", "tr", "ul",
    }
)  # fmt: skip
_SKIPPED_TAGS = frozenset({"head", "script", "style", "template", "title"})
_WHITESPACE = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Collects visible text; block boundaries become line breaks, merged when adjacent."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive already unescaped
        self.chunks: list[str] = []
        self._pending_breaks = 0  # newlines owed before the next text: 1 = line, 2 = paragraph
        self._skip_depth = 0
        self._link: tuple[str, int] | None = None  # href, index of its label's first chunk

    def _break(self, newlines: int) -> None:
        self._pending_breaks = max(self._pending_breaks, newlines)

    def _text(self, text: str) -> None:
        if self._skip_depth:
            return
        if self._pending_breaks:
            if text.isspace():
                return  # indentation between blocks
            if self.chunks:
                self.chunks.append("\n" * self._pending_breaks)
            self._pending_breaks = 0
        self.chunks.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth += 1
        elif tag == "body":
            self._skip_depth = 0  # a <head> whose end tag was omitted ends here
        elif tag == "br":
            self._text("\n")
        elif tag == "li":
            self._break(1)
            self._text("- ")
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
        elif tag in _BLOCK_TAGS:
            self._break(1)
        elif tag == "a":
            self._link = ((dict(attrs).get("href") or "").strip(), len(self.chunks))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
        elif tag in _BLOCK_TAGS:
            self._break(1)
        elif tag == "a" and self._link is not None:
            self._close_link(*self._link)
            self._link = None

    def handle_data(self, data: str) -> None:
        # Whitespace but a single space is never printable: most text needs no collapsing.
        if not data.isprintable() or "  " in data:
            data = _WHITESPACE.sub(" ", data)
        self._text(data)

    def _close_link(self, href: str, start: int) -> None:
        if not href or href.startswith(("#", "javascript:")):
            return
        label = " ".join("".join(self.chunks[start:]).split())
        if not label:
            self._text(href)
        elif label not in (href, href.removeprefix("mailto:")):
            self._text(f" ({href})")


# One piece of a document: text, or markup written strictly (a start tag: name, attributes
# each after whitespace, optional "/"; an end tag; a comment; the doctype), or a "<" that
# is neither. HTMLParser reads text and strict markup the same way; its lenient forms
# (attributes after "/", values with quotes inside, "<" followed by a space) are left to it.
_PIECE = re.compile(
    r"""(?P<text>[^<]+)
    | <(?:
        (?P<tag>[a-zA-Z][a-zA-Z0-9:-]*)
        (?P<attrs>(?:\s+"""
    + ATTRIBUTE.pattern
    + r""")*)
        \s*(?P<empty>/?)>
      | /(?P<end>[a-zA-Z][-.a-zA-Z0-9:_]*)\s*>
      | !--.*?--\s*>
      | !(?i:doctype)[^>]*>
      | (?P<other>)
    )""",
    re.DOTALL | re.VERBOSE,
)
# HTMLParser's CDATA_CONTENT_ELEMENTS: their content is text up to their end tag.
_RAW_TEXT_END = {tag: re.compile(rf"</\s*{tag}\s*>", re.IGNORECASE) for tag in ("script", "style")}


def _attributes(text: str) -> list[tuple[str, str | None]]:
    """As HTMLParser gives them: names lower-cased, values unquoted and unescaped, None
    for an attribute without a value."""
    pairs: list[tuple[str, str | None]] = []
    for name, raw in ATTRIBUTE.findall(text):
        value = raw[1:-1] if raw[:1] in ("'", '"') else raw
        pairs.append((name.lower(), unescape(value) if raw else None))
    return pairs


def _read_strict(html: str, reader: HTMLParser) -> bool:
    """Hand `reader` the events HTMLParser would for strictly written markup; False (part
    of the events handed) at the first piece that is not, to leave the input to HTMLParser."""
    at, size = 0, len(html)
    while at < size:
        piece = _PIECE.match(html, at)
        at = piece.end()
        if piece["text"] is not None:
            reader.handle_data(unescape(piece["text"]))
        elif piece["end"]:
            reader.handle_endtag(piece["end"].lower())
        elif piece["other"] is not None:
            return False
        elif piece["tag"]:
            tag = piece["tag"].lower()
            reader.handle_starttag(tag, _attributes(piece["attrs"]) if tag == "a" else [])
            if piece["empty"]:
                reader.handle_endtag(tag)
            elif tag in _RAW_TEXT_END:
                closing = _RAW_TEXT_END[tag].search(html, at)
                if closing is None:
                    return False
                if closing.start() > at:
                    reader.handle_data(html[at : closing.start()])
                reader.handle_endtag(tag)
                at = closing.end()
        # else a comment or the doctype, which the text leaves out
    return True


def html_to_text(html: str) -> str:
    """Plain-text alternative of an HTML body: readable lines, links spelled out, no wrapping."""
    extractor = _TextExtractor()
    if not _read_strict(html, extractor):
        extractor = _TextExtractor()
        extractor.feed(html)
        extractor.close()
    return text_of(extractor)


def text_of(extractor: _TextExtractor) -> str:
    """The extractor's text in lines, each with its whitespace collapsed."""
    lines = (" ".join(line.split()) for line in "".join(extractor.chunks).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()  # at most one blank line
