"""Open and click tracking on rendered HTML: pure string work, no app or database.

`rewrite_links` swaps every http(s) link for a tracked one and returns the original URLs by
position, and drops the href of a link that a variable turned into script (`javascript:`);
`add_open_pixel` appends the 1x1 image. Links that are not http(s) (mailto:, tel:, anchors,
template leftovers) and the links named in `keep` (the unsubscribe link) stay as they are.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Container

TRACKED_SCHEMES = ("http://", "https://")
# Schemes that run code when clicked. Saved bodies cannot hold them (the definition refuses
# them), but a template variable can still produce one, e.g. a contact field used as a URL.
UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:")

# An <a> start tag; quoted attribute values may contain ">".
_ANCHOR = re.compile(r"""<a(?=[\s/>])((?:"[^"]*"|'[^']*'|[^'">])*)>""", re.IGNORECASE)
# One attribute: name, then an optional double-quoted, single-quoted or bare value.
ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
# Browsers ignore ASCII tabs and newlines inside URLs, and leading/trailing spaces.
_URL_NOISE = re.compile(r"[\t\n\r]")


def link_target(raw_value: str) -> str:
    """The URL an href attribute value means: entities decoded, ignorable whitespace gone."""
    return _URL_NOISE.sub("", html.unescape(raw_value)).strip()


def rewrite_links(
    body: str, tracked_url: Callable[[int], str], keep: Container[str] = ()
) -> tuple[str, list[str]]:
    """Replace the href of every http(s) link with `tracked_url(position)`.

    Returns the new HTML and the original URLs, where index = position.
    """
    links: list[str] = []

    def anchor(match: re.Match[str]) -> str:
        attrs = match.group(1)
        for attribute in ATTRIBUTE.finditer(attrs):
            if attribute.group(1).lower() != "href":
                continue
            if attribute.group(2) is None:
                return match.group(0)
            url = link_target(attribute.group(2).strip("\"'"))
            start, end = attribute.span()
            if url.lower().startswith(UNSAFE_SCHEMES):
                return f"<a{attrs[:start]}{attrs[end:]}>"  # the text stays, the link goes
            if not url.lower().startswith(TRACKED_SCHEMES) or url in keep:
                return match.group(0)
            replaced = f'href="{html.escape(tracked_url(len(links)), quote=True)}"'
            links.append(url)
            return f"<a{attrs[:start]}{replaced}{attrs[end:]}>"
        return match.group(0)  # the first href counts; an <a> without one is left alone

    return _ANCHOR.sub(anchor, body), links


def open_pixel(url: str) -> str:
    return f'<img src="{html.escape(url, quote=True)}" width="1" height="1" alt="">'


def add_open_pixel(body: str, url: str) -> str:
    """The open pixel just before the last </body>, or at the end when there is none."""
    pixel = open_pixel(url)
    ends = list(_BODY_END.finditer(body))
    if not ends:
        return body + pixel
    at = ends[-1].start()
    return body[:at] + pixel + body[at:]
