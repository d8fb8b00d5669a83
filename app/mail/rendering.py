"""Render user-written email templates safely.

Templates are written by users, so they run in Jinja's immutable sandbox with extra guards
against templates that build huge values, under a per-message `RenderBudget` (loop steps,
CPU time, output bytes) that stops a runaway template where it is, and every failure becomes
a `RenderError` that the dispatcher can record against one send instead of crashing a batch.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from html import escape
from typing import Any, NoReturn

from jinja2 import ChainableUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.mail.html_text import html_to_text

MAX_RENDER_CHARS = 1_000_000
"""The longest value one expression may build (a repetition, a padding, a concatenation)."""
DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_MAX_BYTES = 1_000_000
MAX_STEPS = 1_000_000
"""Loop iterations plus calls per message: far beyond any real email, ~0.5 s of CPU."""
MAX_RANGE_ITEMS = 100_000
MAX_SUBJECT_CHARS = 998  # RFC 5322 line limit: a longer subject cannot be a single header line.
_MAX_INT_BITS = 10_000  # ~3,000 digits: far beyond any email arithmetic, far below a CPU hog.


class RenderError(Exception):
    """A template could not be rendered; `reason` is meant for the person who wrote it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RenderBudgetExceeded(RenderError):
    """The template ran past its budget (loop steps, CPU time or output) and was stopped."""


class RenderBudget:
    """What one message may still spend on rendering. Checked at every loop iteration and
    call and every output chunk, so a runaway template stops within one step of its limit."""

    __slots__ = ("_bytes", "_deadline", "_steps", "max_bytes", "timeout_seconds")

    def __init__(self, timeout_seconds: float, max_bytes: int) -> None:
        self.timeout_seconds, self.max_bytes = timeout_seconds, max_bytes
        # CPU time of this thread: waiting for the GIL or the database does not count.
        self._deadline = time.thread_time() + timeout_seconds
        self._steps = 0
        self._bytes = 0

    def step(self) -> None:
        self._steps += 1
        if self._steps > MAX_STEPS:
            raise RenderBudgetExceeded(f"more than {MAX_STEPS:,} loop steps")
        # Reading the CPU clock costs as much as a step, so it is read every 16th step.
        if not self._steps & 15 and time.thread_time() > self._deadline:
            raise RenderBudgetExceeded(f"more than {self.timeout_seconds:g} s of CPU time")

    def output(self, chunk: str) -> None:
        self._bytes += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8", "replace"))
        if self._bytes > self.max_bytes:
            raise RenderBudgetExceeded(f"output is larger than {self.max_bytes:,} bytes")


_ACTIVE_BUDGET: ContextVar[RenderBudget | None] = ContextVar("render_budget", default=None)


@contextmanager
def _spending(budget: RenderBudget) -> Iterator[None]:
    token = _ACTIVE_BUDGET.set(budget)
    try:
        yield
    finally:
        _ACTIVE_BUDGET.reset(token)


def _step() -> None:
    budget = _ACTIVE_BUDGET.get()
    if budget is not None:
        budget.step()


class _Counted:
    """A loop's iterable that spends one budget step per item; keeps `len` for `loop.length`."""

    __slots__ = ("_iterable",)

    def __init__(self, iterable: Any) -> None:
        self._iterable = iterable

    def __len__(self) -> int:
        return len(self._iterable)

    def __iter__(self) -> Iterator[Any]:
        for item in self._iterable:
            _step()
            yield item


def _budget_range(*args: int) -> range:
    items = range(*args)
    if len(items) > MAX_RANGE_ITEMS:
        raise RenderBudgetExceeded(f"range of {len(items):,} items (limit {MAX_RANGE_ITEMS:,})")
    return items


class _BudgetCodeGenerator(CodeGenerator):
    """Compiles every `for` to loop over a `_Counted` iterable and every `~` to a size check."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        counter = nodes.EnvironmentAttribute("counted", lineno=node.iter.lineno)
        counted = nodes.Call(counter, [node.iter], [], None, None, lineno=node.iter.lineno)
        loop = nodes.For(
            node.target, counted, node.body, node.else_, node.test, node.recursive
        ).set_lineno(node.lineno)
        super().visit_For(loop, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """The three rendered parts of one message, ready for `compose_message`."""

    subject: str
    html: str
    text: str


# --- sandbox guards -----------------------------------------------------------------------------
# The sandbox blocks attribute tricks but not resource use: these refuse, before they run, the
# one-expression ways to build a huge value ('a' * 10**9, 9**999999, '%999999999s',
# center(10**9), a doubling concatenation), and the `RenderBudget` stops what takes many steps
# (loops, recursive macros) or writes too much.

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


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple) else 0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "+":
        _refuse_if_oversized(_size(left) + _size(right), "concatenation")
    elif operator == "*":
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


def _check_replace(text: Any, old: Any, new: Any, what: str) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        growth = (len(text) + 1 if not old else text.count(old)) * (len(new) - len(old))
        _refuse_if_oversized(len(text) + growth, what)


def _check_join(separator: Any, items: Any, what: str) -> None:
    if isinstance(separator, str) and hasattr(items, "__len__"):
        _refuse_if_oversized(len(separator) * max(len(items) - 1, 0), what)


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
    elif name == "replace" and len(args) >= 2:
        _check_replace(target, args[0], args[1], "str.replace()")
    elif name == "join" and args:
        _check_join(target, args[0], "str.join()")


class _GuardedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with dict keys winning over dict methods and size guards."""

    intercepted_binops = frozenset({"+", "*", "**", "%"})
    code_generator_class = _BudgetCodeGenerator

    def counted(self, iterable: Any) -> _Counted:
        return _Counted(iterable)

    def sized(self, value: str) -> str:
        _refuse_if_oversized(len(value), "concatenation")
        return value

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
        _step()  # a macro calling itself twice loops without any `for`
        _check_call(obj, args)
        if isinstance(obj, LoopContext) and args:  # `loop(children)` in a recursive loop
            args = (_Counted(args[0]), *args[1:])
        return super().call(context, obj, *args, **kwargs)


def _check_center(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_width(args[0] if args else kwargs.get("width", 0), 1, "center")


def _check_indent(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    lines = str(value).count("\n") + 1
    _check_width(args[0] if args else kwargs.get("width", 0), lines, "indent")


def _check_format(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_format_string(str(value))


def _check_replace_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    old, new = [*args, kwargs.get("old"), kwargs.get("new")][:2]
    _check_replace(str(value), old, new, "replace")


def _check_join_filter(value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    _check_join(args[0] if args else kwargs.get("d", ""), value, "join")


_FILTER_CHECKS: dict[str, Callable[[Any, tuple[Any, ...], dict[str, Any]], None]] = {
    "center": _check_center,
    "indent": _check_indent,
    "format": _check_format,
    "replace": _check_replace_filter,
    "join": _check_join_filter,
}


def _guard_filter(original: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0  # join/replace get eval_ctx first

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        check(args[skip], args[skip + 1 :], kwargs)
        return original(*args, **kwargs)

    return guarded


def _make_env(*, autoescape: bool) -> _GuardedSandbox:
    # ChainableUndefined: a missing custom field (contact.fields.plan) renders empty, not fails.
    env = _GuardedSandbox(autoescape=autoescape, undefined=ChainableUndefined)
    env.globals["range"] = _budget_range
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


def _join_within(chunks: Iterable[str], budget: RenderBudget) -> str:
    """Join streamed output, stopping as soon as it passes the budget, not after building it."""
    parts: list[str] = []
    for chunk in chunks:
        budget.output(chunk)
        parts.append(chunk)
    return "".join(parts)


def render_part(
    part: str, source: str, context: Mapping[str, Any], *, html: bool, budget: RenderBudget
) -> str:
    """One template (`part` names it in errors) rendered within what `budget` has left."""
    try:
        with _spending(budget):
            return _join_within(_compile(source, html).generate(context), budget)
    except RenderBudgetExceeded as exc:
        raise RenderBudgetExceeded(
            f"{part}: template is over the render budget ({exc.reason})"
        ) from None
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
    subject: str,
    html: str,
    text: str | None,
    context: Mapping[str, Any],
    *,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RenderedEmail:
    """Render the three parts within one budget for the message (CPU seconds, output bytes);
    a blank text part is derived from the rendered HTML."""
    budget = RenderBudget(timeout_seconds, max_bytes)
    rendered_html = render_part("HTML body", html, context, html=True, budget=budget)
    rendered_text = (
        render_part("text body", text, context, html=False, budget=budget) if text else ""
    )
    if not rendered_text.strip():
        rendered_text = html_to_text(rendered_html)
    rendered_subject = render_part("subject", subject, context, html=False, budget=budget)
    return RenderedEmail(
        subject=_one_line(rendered_subject),
        html=rendered_html,
        text=rendered_text,
    )


# --- The unsubscribe link ----------------------------------------------------------------------

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
