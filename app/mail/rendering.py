"""Render user-written email templates safely.

Templates are written by users, so they run in Jinja's immutable sandbox with extra guards
against templates that build huge values, and every failure becomes a `RenderError` that the
dispatcher can record against one send instead of crashing a whole batch.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from typing import Any, NoReturn

from jinja2 import ChainableUndefined, Template
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_RENDER_CHARS = 1_000_000
MAX_SUBJECT_CHARS = 998  # RFC 5322 line limit: a longer subject cannot be a single header line.
_MAX_INT_BITS = 10_000  # ~3,000 digits: far beyond any email arithmetic, far below a CPU hog.


class RenderError(Exception):
    """A template could not be rendered; `reason` is meant for the person who wrote it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """The three rendered parts of one message, ready for `compose_message`."""

    subject: str
    html: str
    text: str


# --- sandbox guards -----------------------------------------------------------------------------
# The sandbox blocks attribute tricks but not resource use: these refuse, before they run, the
# one-expression ways to build a huge value ('a' * 10**9, 9**999999, '%999999999s',
# center(10**9)), and the streamed output is capped (see `_join_capped`). Not bounded here: loops
# that burn CPU without output, and values grown step by step (namespace concatenation in a
# loop). Callers rendering untrusted templates should also run under a job timeout.

_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_FORMAT_METHODS = frozenset({"format", "format_map"})
# printf or str.format specs whose width/precision is huge or taken from an argument.
_OVERSIZED_FORMAT = re.compile(
    r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d*\.\*|\d{7,}|\d*\.\d{7,})|\{[^{}]*:[^{}]*(?:\{|\d{7,})"
)


def _refuse_if_oversized(size: int, what: str) -> None:
    if size > MAX_RENDER_CHARS:
        raise SecurityError(f"{what} would be {size:,} long (limit {MAX_RENDER_CHARS:,})")


def _refuse_big_int(bits: int) -> None:
    if bits > _MAX_INT_BITS:
        raise SecurityError(f"arithmetic on a {bits:,}-bit number (limit {_MAX_INT_BITS:,} bits)")


def _check_format_string(fmt: str) -> None:
    if _OVERSIZED_FORMAT.search(fmt):
        raise SecurityError(
            "format string with a width or precision of 7+ digits or taken from an argument"
        )


def _check_width(width: Any, lines: int, what: str) -> None:
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _refuse_if_oversized(size * lines, what)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                _refuse_if_oversized(len(seq) * times, "repetition")
        if isinstance(left, int) and isinstance(right, int):
            _refuse_big_int(left.bit_length() + right.bit_length())
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            _refuse_big_int(right * max(abs(left).bit_length() - 1, 0))
    elif isinstance(left, str):  # "%" on a string is printf-style formatting
        _check_format_string(left)


def _check_call(func: Any, args: tuple[Any, ...]) -> None:
    method = inspect.unwrap(func)  # the sandbox wraps str.format in a safe formatter
    target = getattr(method, "__self__", None)
    if not isinstance(target, str):
        return
    name = getattr(method, "__name__", "")
    if name in _PADDING_METHODS and args:
        _check_width(args[0], 1, f"str.{name}()")
    elif name in _FORMAT_METHODS:
        _check_format_string(target)


class _GuardedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with dict keys winning over dict methods and size guards."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> NoReturn:
        # Jinja returns an Undefined here, which renders as "" unless strict: fail loudly instead.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def getattr(self, obj: Any, attribute: str) -> Any:
        # A custom field called "items" or "values" must be the field, not the dict method.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_call(obj, args)
        return super().call(context, obj, *args, **kwargs)


def _check_center(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_width(args[0] if args else kwargs.get("width", 0), 1, "center")


def _check_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    lines = str(value).count("\n") + 1
    _check_width(args[0] if args else kwargs.get("width", 0), lines, "indent")


def _check_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_format_string(str(value))


_FILTER_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "format": _check_format,
}


def _guard_filter(original: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    @functools.wraps(original)
    def guarded(value: Any, *args: Any, **kwargs: Any) -> Any:
        check(value, args, kwargs)
        return original(value, *args, **kwargs)

    return guarded


def _make_env(*, autoescape: bool) -> _GuardedSandbox:
    # ChainableUndefined: a missing custom field (contact.fields.plan) renders empty, not fails.
    env = _GuardedSandbox(autoescape=autoescape, undefined=ChainableUndefined)
    for name, check in _FILTER_CHECKS.items():
        env.filters[name] = _guard_filter(env.filters[name], check)
    return env


# Contact values must be HTML-escaped in the body, but subject and text are not HTML.
_HTML_ENV = _make_env(autoescape=True)
_TEXT_ENV = _make_env(autoescape=False)


@functools.lru_cache(maxsize=256)
def _compile(source: str, html: bool) -> Template:
    """Compile once per template source: a step renders the same template for every contact."""
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


def _join_capped(chunks: Iterable[str]) -> str:
    """Join streamed output, refusing it as soon as it passes the cap, not after building it."""
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RENDER_CHARS:
            raise SecurityError(f"output is longer than {MAX_RENDER_CHARS:,} characters")
        parts.append(chunk)
    return "".join(parts)


def _render(part: str, source: str, context: Mapping[str, Any], *, html: bool) -> str:
    try:
        return _join_capped(_compile(source, html).generate(context))
    except SecurityError as exc:
        raise RenderError(f"{part}: template refused by the sandbox: {exc}") from exc
    except TemplateSyntaxError as exc:
        raise RenderError(f"{part}: syntax error on line {exc.lineno}: {exc.message}") from exc
    except TemplateError as exc:
        raise RenderError(f"{part}: template error: {exc}") from exc
    except Exception as exc:  # a template can trigger any builtin error: 1/0, 'a' + 1, ...
        raise RenderError(f"{part}: template failed: {type(exc).__name__}: {exc}") from exc


# Controls, Unicode line separators and spaces: any run becomes one space.
_SUBJECT_BREAKS = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")


def _one_line(subject: str) -> str:
    """Make a rendered subject safe as one header line: no CR/LF can reach the headers."""
    return _SUBJECT_BREAKS.sub(" ", subject).strip()[:MAX_SUBJECT_CHARS].rstrip()


def render_email(
    subject: str, html: str, text: str | None, context: Mapping[str, Any]
) -> RenderedEmail:
    """Render the three parts; a blank text part is derived from the rendered HTML."""
    rendered_html = _render("HTML body", html, context, html=True)
    rendered_text = _render("text body", text, context, html=False) if text else ""
    if not rendered_text.strip():
        rendered_text = html_to_text(rendered_html)
    return RenderedEmail(
        subject=_one_line(_render("subject", subject, context, html=False)),
        html=rendered_html,
        text=rendered_text,
    )


# --- HTML to plain text -------------------------------------------------------------------------

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
        self._text(_WHITESPACE.sub(" ", data))

    def _close_link(self, href: str, start: int) -> None:
        if not href or href.startswith(("#", "javascript:")):
            return
        label = " ".join("".join(self.chunks[start:]).split())
        if not label:
            self._text(href)
        elif label not in (href, href.removeprefix("mailto:")):
            self._text(f" ({href})")


def html_to_text(html: str) -> str:
    """Plain-text alternative of an HTML body: readable lines, links spelled out, no wrapping."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.chunks).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()  # at most one blank line


_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


def ensure_unsubscribe_link(rendered: RenderedEmail, url: str) -> RenderedEmail:
    """Every email carries a visible unsubscribe link: a footer is added to the parts whose
    author left `{{ unsubscribe_url }}` out."""
    html_part, text_part = rendered.html, rendered.text
    if escape(url) not in html_part and url not in html_part:
        footer = (
            '<p style="font-size:12px;color:#677185;margin-top:24px">'
            f'Don\'t want these emails? <a href="{escape(url)}">Unsubscribe</a>.</p>'
        )
        found = _BODY_CLOSE.search(html_part)
        at = found.start() if found else len(html_part)
        html_part = html_part[:at] + footer + html_part[at:]
    if url not in text_part:
        text_part = f"{text_part.rstrip()}\n\n--\nUnsubscribe: {url}\n"
    return RenderedEmail(rendered.subject, html_part, text_part)
