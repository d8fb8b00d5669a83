"""An email written as blocks (heading, text, button, image, divider, footer): the blocks'
model, their checks, and the MJML they become.

An email step whose config has `blocks` has a generated `body`: the blocks are turned into
MJML here, MJML into email-safe responsive HTML by `services.email_design` (mrml), and the
result is stored as the step's `body`, so everything that sends or previews an email reads
the body as it always did. Text is escaped; template tags (`{{ contact.first_name }}`,
`{% if ... %}`) are kept exactly as written, so they render in the sandbox at send time.
Text blocks understand two marks only: `**bold**` and `[a link](https://...)`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from app.core import limits
from app.core.format.values import FieldError, Model, OneLine
from app.core.text_rules import multi_line

_TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https://[^\s()]+)\)")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
HTTPS = "https://"


def _https(url: str) -> str:
    """A link or image address: empty while drafting, else https:// (nothing else is
    opened from a block); variables may follow: `https://x.test/?id={{ contact.id }}`."""
    if url and not url.startswith(HTTPS):
        raise ValueError(f"must start with {HTTPS}")
    return url


def _colour(text: str) -> str:
    if _COLOUR.fullmatch(text) is None:
        raise ValueError("must be a colour such as '#1f6feb'")
    return text


Url = Annotated[str, Field(max_length=limits.URL), AfterValidator(_https)]
Paragraphs = Annotated[str, Field(max_length=limits.BLOCK_TEXT), AfterValidator(multi_line)]


class Heading(Model):
    type: Literal["heading"]
    text: OneLine = ""
    level: Literal[1, 2, 3] = 1


class Text(Model):
    type: Literal["text"]
    text: Paragraphs = ""


class Button(Model):
    type: Literal["button"]
    label: OneLine = ""
    url: Url = ""


class Image(Model):
    type: Literal["image"]
    src: Url = ""
    alt: OneLine = ""
    """Required before sending: screen readers and image-blocking clients read it."""
    width: int | None = Field(default=None, ge=16, le=600)
    """In pixels; the image fills the column (600 px at most) when left out."""
    href: Url | None = None


class Divider(Model):
    type: Literal["divider"]


class Footer(Model):
    type: Literal["footer"]
    text: Paragraphs = ""
    """Above the unsubscribe link the footer always carries."""


BLOCK_TYPES: dict[str, type[Model]] = {
    "heading": Heading,
    "text": Text,
    "button": Button,
    "image": Image,
    "divider": Divider,
    "footer": Footer,
}
"""Every block type, in the order the editor offers them."""
BLOCK_LABELS = {
    "heading": "Heading",
    "text": "Text",
    "button": "Button",
    "image": "Image",
    "divider": "Divider",
    "footer": "Footer",
}
Block = Annotated[Heading | Text | Button | Image | Divider | Footer, Discriminator("type")]
_ONE_BLOCK: TypeAdapter[Any] = TypeAdapter(Block)

FONTS = {
    "Arial": "Arial, Helvetica, sans-serif",
    "Georgia": "Georgia, 'Times New Roman', serif",
    "Helvetica": "Helvetica, Arial, sans-serif",
    "Trebuchet MS": "'Trebuchet MS', Arial, sans-serif",
    "Verdana": "Verdana, Geneva, sans-serif",
}
"""Fonts every mail client has, with their fallbacks: no web font is loaded."""
DEFAULT_COLOUR = "#1f6feb"


class Style(Model):
    brand_colour: Annotated[str, AfterValidator(_colour)] = DEFAULT_COLOUR
    """Buttons and links."""
    font: Literal[tuple(FONTS)] = "Arial"  # type: ignore[valid-type]


def _named_blocks(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """The blocks, each checked alone so a problem names its block ("block 3 (button): url
    must start with https://") at its path (`blocks[2].url`)."""
    if not isinstance(value, list):
        return handler(value)
    for index, raw in enumerate(value[: limits.BLOCKS + 1]):
        try:
            _ONE_BLOCK.validate_python(raw)
        except ValidationError as exc:
            raise _block_error(index, raw, exc) from None
    return handler(value)


def _block_error(index: int, raw: Any, exc: ValidationError) -> FieldError:
    first = exc.errors()[0]
    block_type = raw.get("type") if isinstance(raw, dict) else None
    name = f"block {index + 1}"
    if block_type in BLOCK_TYPES:
        name += f" ({block_type})"
    loc = list(first["loc"][1:])  # below the union's tag, the block's type
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        expected = ", ".join(BLOCK_TYPES)
        return FieldError((index, "type"), f"{name}: the type must be one of {expected}")
    if first["type"] in ("model_type", "model_attributes_type"):
        return FieldError((index,), f"{name}: should be a mapping of keys such as 'type'")
    key = loc[-1] if loc else "type"
    if first["type"] == "missing":
        message = "is required"
    elif first["type"] == "extra_forbidden":
        message = "is not a key of this block"
    elif first["type"] in ("value_error", "assertion_error"):
        message = str(first["ctx"]["error"])
    else:
        message = first["msg"]
        for word in ("Input ", "Value ", "String "):
            message = message.removeprefix(word)
        message = message[:1].lower() + message[1:]
    return FieldError((index, *loc), f"{name}: {key} {message}")


def valid_blocks(blocks: Iterable[Any]) -> list[Any]:
    """Those of `blocks` that are valid, in order (what "Edit HTML" keeps of a list being
    edited)."""
    valid = []
    for block in blocks:
        try:
            _ONE_BLOCK.validate_python(block)
        except ValidationError:
            continue
        valid.append(block)
    return valid


Blocks = Annotated[list[Block], Field(max_length=limits.BLOCKS), WrapValidator(_named_blocks)]


# --- What is left to fill in ------------------------------------------------------------------

_NEEDED: dict[str, tuple[tuple[str, str], ...]] = {
    "heading": (("text", "write the heading"),),
    "text": (("text", "write the text"),),
    "button": (("label", "give the button a label"), ("url", "give the button a link")),
    "image": (("src", "give the image's address"), ("alt", "describe the image (alt text)")),
    "footer": (),
    "divider": (),
}


@dataclass(frozen=True)
class Gap:
    """A block field still empty in a draft: the canvas flags it and it blocks launching."""

    path: str
    message: str


def gaps(blocks: Iterable[Any]) -> list[Gap]:
    """What the author has still to fill in, block by block (a stored draft's blocks are
    dicts; unknown shapes are the model's business, not reported here)."""
    found = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        block_type = block.get("type")
        for key, what in _NEEDED.get(str(block_type), ()):
            if not str(block.get(key) or "").strip():
                name = f"block {index + 1} ({block_type})"
                found.append(Gap(f"blocks[{index}].{key}", f"{name}: {what}"))
    return found


# --- MJML ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mjml:
    """MJML source whose template tags stand in as placeholders (mrml neither escapes nor
    reflows them); `restore` puts the tags back into the HTML made from it."""

    source: str
    tags: tuple[str, ...]
    marker: str

    def restore(self, compiled: str) -> str:
        pattern = re.compile(re.escape(self.marker) + r"(\d+)_")
        return pattern.sub(lambda found: self.tags[int(found.group(1))], compiled)


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


class _Writer:
    """Escapes author text for MJML, keeping template tags aside."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.tags: list[str] = []

    def _hold(self, text: str, escape: Callable[[str], str]) -> str:
        out, last = [], 0
        for found in _TEMPLATE_TAG.finditer(text):
            out.append(escape(text[last : found.start()]))
            self.tags.append(found.group())
            out.append(f"{self.marker}{len(self.tags) - 1}_")
            last = found.end()
        out.append(escape(text[last:]))
        return "".join(out)

    def escaped(self, text: str) -> str:
        """One line of text or an attribute's value."""
        return self._hold(text, _escape)

    def paragraphs(self, text: str, link_colour: str) -> str:
        """Blank lines part paragraphs, a line break stays one; **bold** and [links](https://)."""
        held = self._hold(text.strip(), _escape)
        held = _BOLD.sub(r"<strong>\1</strong>", held)
        held = _LINK.sub(
            lambda m: f'<a href="{m.group(2)}" style="color:{link_colour}">{m.group(1)}</a>', held
        )
        return "".join(
            f'<p style="margin:0 0 12px">{part.replace(chr(10), "<br>")}</p>'
            for part in _PARAGRAPH_BREAK.split(held)
        )


HEADING_SIZES = {1: "28px", 2: "22px", 3: "18px"}
TEXT_COLOUR = "#1f2328"
MUTED_COLOUR = "#677185"


def to_mjml(blocks: Sequence[Model], style: Style | None = None) -> Mjml:
    """The MJML of an email's blocks: one 600 px column on a light page, the style's font
    for everything and its colour for buttons and links. Blocks still unfinished (a button
    without a link, an image without an address) are left out until they are complete."""
    style = style or Style()
    words = " ".join(str(block.model_dump()) for block in blocks)
    marker = "pmtag"
    while marker in words:
        marker += "x"
    writer = _Writer(marker)
    parts = [_block_mjml(block, writer, style) for block in blocks]
    font = html.escape(FONTS[style.font], quote=True)
    source = (
        '<mjml lang="en"><mj-head><mj-attributes>'
        f'<mj-all font-family="{font}"/>'
        f'<mj-text font-size="16px" line-height="1.5" color="{TEXT_COLOUR}"/>'
        "</mj-attributes></mj-head>"
        '<mj-body background-color="#f4f5f7"><mj-section background-color="#ffffff">'
        f"<mj-column>{''.join(parts)}</mj-column></mj-section></mj-body></mjml>"
    )
    return Mjml(source, tuple(writer.tags), marker)


def _block_mjml(block: Model, writer: _Writer, style: Style) -> str:
    colour = style.brand_colour
    if isinstance(block, Heading):
        if not block.text.strip():
            return ""
        size = HEADING_SIZES[block.level]
        return (
            f'<mj-text font-size="{size}" line-height="1.25" font-weight="700">'
            f'<h{block.level} style="margin:0;font-size:{size}">{writer.escaped(block.text)}'
            f"</h{block.level}></mj-text>"
        )
    if isinstance(block, Text):
        if not block.text.strip():
            return ""
        return f"<mj-text>{writer.paragraphs(block.text, colour)}</mj-text>"
    if isinstance(block, Button):
        if not (block.label.strip() and block.url):
            return ""
        return (
            f'<mj-button href="{writer.escaped(block.url)}" background-color="{colour}" '
            f'color="#ffffff" font-size="16px" font-weight="600" inner-padding="12px 24px">'
            f"{writer.escaped(block.label)}</mj-button>"
        )
    if isinstance(block, Image):
        if not block.src:
            return ""
        extra = f' width="{block.width}px"' if block.width else ""
        if block.href:
            extra += f' href="{writer.escaped(block.href)}"'
        src, alt = writer.escaped(block.src), writer.escaped(block.alt)
        return f'<mj-image src="{src}" alt="{alt}"{extra}/>'
    if isinstance(block, Divider):
        return '<mj-divider border-width="1px" border-color="#d0d7de"/>'
    if isinstance(block, Footer):
        text = writer.paragraphs(block.text, MUTED_COLOUR) if block.text.strip() else ""
        unsubscribe = writer.escaped("{{ unsubscribe_url }}")
        return (
            f'<mj-text font-size="12px" color="{MUTED_COLOUR}" align="center">{text}'
            f'<p style="margin:0"><a href="{unsubscribe}" style="color:{MUTED_COLOUR}">'
            "Unsubscribe</a></p></mj-text>"
        )
    raise TypeError(f"no MJML for block {block!r}")
