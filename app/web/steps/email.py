"""The email step's panel: subject, sender name, body and text, A/B variants and the test's
settings and state; its preview."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from app.core.email_blocks import (
    BLOCK_LABELS,
    BLOCK_TYPES,
    DEFAULT_COLOUR,
    FONTS,
    Style,
    valid_blocks,
)
from app.core.steps.email import describe_test, with_variant
from app.models import Contact, Sequence
from app.services import panel_choices
from app.services.ab_tests import standings
from app.services.email_design import blocks_html, with_generated_body
from app.services.panel_choices import SampleContact
from app.services.template_budget import email_budget_problems
from app.web.form_toolkit import FormData, FormReader, dicts, drop_none, text_of
from app.web.steps.base import StepForm

PREVIEW_CONTACTS = 50
_VARIANT_FIELDS = ("subject", "from_name", "body", "text")
AB_DEFAULTS = {
    "min_sends": "200",
    "confidence": "95",
    "max_duration": "14 days",
    "fallback": "best",
    "attribution_window": "7 days",
}
"""What the A/B boxes show when a metric is first chosen (the format's defaults, in the
form's units: confidence in percent); a saved test stores every setting explicitly."""
CONVERSION = "conversion_rate"


BLOCK_FIELDS = {
    block_type: tuple(key for key in model.model_fields if key != "type")
    for block_type, model in BLOCK_TYPES.items()
}
"""The boxes of each block type in the panel, named as the block's keys."""
NEW_BLOCK = "_new_block"
"""The "Add block" type choice: not a setting, never saved (autosave skips `_` names)."""
BLOCKS_MODE, HTML_MODE = "blocks", "html"
"""The panel's two buttons that switch the email between blocks and its own HTML."""


def _to_form(config: dict[str, Any]) -> list[tuple[str, str]]:
    blocks = config.get("blocks")
    shown = [key for key in _VARIANT_FIELDS if key != "body" or not isinstance(blocks, list)]
    pairs = [(key, text_of(config.get(key))) for key in shown]
    if isinstance(blocks, list):  # the body is made from them
        pairs += _blocks_to_form(blocks, config.get("style"))
    if config.get("thread"):
        pairs.append(("thread", "on"))
    if config.get("plain_text_only"):
        pairs.append(("plain_text_only", "on"))
    for index, variant in enumerate(dicts(config.get("variants"))):
        row = f"variants.{index}"
        pairs += [(f"{row}.key", text_of(variant.get("key")))]
        pairs += [(f"{row}.weight", text_of(variant.get("weight")))]
        pairs += [(f"{row}.{part}", text_of(variant.get(part))) for part in _VARIANT_FIELDS]
    ab_test = config.get("ab_test") if isinstance(config.get("ab_test"), dict) else {}
    return pairs + _ab_test_to_form(ab_test)


def _blocks_to_form(blocks: list[Any], style: Any) -> list[tuple[str, str]]:
    """The block editor: the mode, each block's type and boxes, the style's choices."""
    pairs = [("editor", BLOCKS_MODE)]
    for index, block in enumerate(dicts(blocks)):
        block_type = text_of(block.get("type"))
        pairs.append((f"blocks.{index}.type", block_type))
        for key in BLOCK_FIELDS.get(block_type, ()):
            pairs.append((f"blocks.{index}.{key}", text_of(block.get(key))))
    style = style if isinstance(style, dict) else {}
    pairs.append(("style.brand_colour", text_of(style.get("brand_colour") or DEFAULT_COLOUR)))
    return [*pairs, ("style.font", text_of(style.get("font") or "Arial"))]


def _blocks_from_form(read: FormReader) -> list[dict[str, Any]]:
    blocks = []
    for index in read.rows("blocks"):
        row = f"blocks.{index}"
        block: dict[str, Any] = {"type": read.text(f"{row}.type")}
        for key in BLOCK_FIELDS.get(block["type"], ()):
            if key in ("level", "width"):
                block[key] = read.integer(f"{row}.{key}")
            elif key == "text":
                block[key] = read.long_text(f"{row}.{key}").strip()
            elif key == "href":
                block[key] = read.optional(f"{row}.{key}")
            else:
                block[key] = read.text(f"{row}.{key}")
        blocks.append(drop_none(block))
    return blocks


def _style_from_form(read: FormReader) -> dict[str, Any] | None:
    style = {key: read.optional(f"style.{key}") for key in ("brand_colour", "font")}
    return drop_none(style) or None


def _ab_test_to_form(ab_test: dict[str, Any]) -> list[tuple[str, str]]:
    """The test's settings; `pick_winner_after` shows as the sends it means, and a stored
    `max_duration: null` (no time limit) as an empty box."""
    pairs = [("ab_test.metric", text_of(ab_test.get("metric")))]
    if not ab_test:
        return pairs
    confidence = ab_test.get("confidence")
    shown = {
        "min_sends": ab_test.get("pick_winner_after") or ab_test.get("min_sends"),
        "confidence": _percent(confidence) if isinstance(confidence, float | int) else confidence,
        "max_duration": ab_test.get("max_duration", AB_DEFAULTS["max_duration"]),
        "fallback": ab_test.get("fallback"),
        "goal": ab_test.get("goal"),
        "attribution_window": ab_test.get("attribution_window"),
    }
    for name, value in shown.items():
        missing = value is None and name != "max_duration"
        pairs.append((f"ab_test.{name}", AB_DEFAULTS.get(name, "") if missing else text_of(value)))
    return pairs


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100, 4):g}"


def _from_form(read: FormReader) -> dict[str, Any]:
    variants = []
    for index in read.rows("variants"):
        row = f"variants.{index}"
        variant = {"key": read.text(f"{row}.key"), "weight": read.integer(f"{row}.weight")}
        variant["subject"] = read.optional(f"{row}.subject")
        variant["from_name"] = read.optional(f"{row}.from_name")
        variant["body"] = read.optional_long_text(f"{row}.body")
        variant["text"] = read.optional_long_text(f"{row}.text")
        if variant["weight"] is None:
            read.form.add_error(f"{row}.weight", "give each variant a weight, such as 50")
        variants.append(drop_none(variant))
    blocks = read.text("editor") == BLOCKS_MODE
    return drop_none(
        {
            "subject": read.text("subject"),
            "body": "" if blocks else read.long_text("body"),  # made from the blocks on save
            "blocks": _blocks_from_form(read) if blocks else None,
            "style": _style_from_form(read) if blocks else None,
            "text": read.optional_long_text("text"),
            "from_name": read.optional("from_name"),
            "thread": True if read.text("thread") else None,
            "plain_text_only": True if read.text("plain_text_only") else None,
            "variants": variants or None,
            "ab_test": _ab_test(read),
        }
    )


def _ab_test(read: FormReader) -> dict[str, Any] | None:
    """The test as set: every box shown is stored, so what ran is what the panel said.
    An empty time limit is stored as no limit; boxes the form did not show keep the
    format's defaults."""
    metric = read.optional("ab_test.metric")
    if metric is None:
        if read.text("ab_test.min_sends") or read.text("ab_test.goal"):
            read.form.add_error("ab_test.metric", "choose the metric that picks the winner")
        return None
    test: dict[str, Any] = {"metric": metric, "min_sends": read.integer("ab_test.min_sends")}
    test["confidence"] = _confidence(read)
    test["fallback"] = read.optional("ab_test.fallback")
    if metric == CONVERSION:
        test["goal"] = read.optional("ab_test.goal")
        test["attribution_window"] = read.optional("ab_test.attribution_window")
    test = drop_none(test)
    if "ab_test.max_duration" in read.form.values:  # an empty box: no time limit
        test["max_duration"] = read.optional("ab_test.max_duration")
    return test


def _confidence(read: FormReader) -> float | None:
    """The confidence box is a percentage (95 means 0.95), from 50 to 99.9."""
    text = read.text("ab_test.confidence").removesuffix("%").strip()
    if not text:
        return None
    try:
        percent = float(text)
    except ValueError:
        percent = -1.0
    if not 50 <= percent <= 99.9:
        read.form.add_error("ab_test.confidence", "give a percentage from 50 to 99.9, such as 95")
        return None
    return round(percent / 100, 6)


def _filled(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """A block just added takes the type chosen beside "Add block" (a heading starts at
    level 1); a metric just chosen shows the format's defaults in the boxes it switched on."""
    filled = MultiDict(values)
    for index in FormData(values).rows("blocks"):
        row = f"blocks.{index}"
        if not values.get(f"{row}.type"):
            chosen = values.get(NEW_BLOCK, "")
            filled[f"{row}.type"] = chosen if chosen in BLOCK_FIELDS else "text"
            if filled[f"{row}.type"] == "heading":
                filled[f"{row}.level"] = "1"
    if not values.get("ab_test.metric", "").strip():
        return filled
    for name, default in AB_DEFAULTS.items():
        if f"ab_test.{name}" not in filled:
            filled[f"ab_test.{name}"] = default
    return filled


def _choices(sequence: Sequence) -> dict[str, Any]:
    custom_fields = panel_choices.custom_fields(sequence.workspace_id)
    contacts = panel_choices.first_contacts(sequence.workspace_id, PREVIEW_CONTACTS)
    return {
        "custom_fields": custom_fields,
        "variables": _variables(custom_fields),
        "contacts": [(str(contact.id), contact_label(contact)) for contact in contacts],
        "goal_choices": [(name, name) for name in panel_choices.goal_names(sequence)],
        "ab_test_states": {
            standing.step.key: standing
            for standing in standings(sequence, datetime.now(UTC)).values()
        },
        "describe_test": describe_test,
        "block_labels": BLOCK_LABELS,
        "fonts": [(name, name) for name in FONTS],
    }


def _variables(custom_fields: list[str]) -> list[tuple[str, str]]:
    """(button label, template text) for the email form's variable picker."""
    variables = [
        ("First name", "{{ contact.first_name }}"),
        ("Last name", "{{ contact.last_name }}"),
        ("Email", "{{ contact.email }}"),
    ]
    for name in custom_fields:
        key = f".{name}" if name.isidentifier() else f"[{json.dumps(name)}]"
        variables.append((name, f"{{{{ contact.fields{key} }}}}"))
    return [*variables, ("Unsubscribe link", "{{ unsubscribe_url }}")]


def contact_label(contact: Contact | SampleContact) -> str:
    """How the preview names a recipient: `Ann Lee <ann@example.com>`, or just the address."""
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    return f"{name} <{contact.email}>" if name else contact.email


def email_preview_parts(
    values: MultiDict[str, str], stored: dict[str, Any]
) -> tuple[str, str, str | None]:
    """Subject, HTML and text to preview, with the chosen variant's overrides applied as
    a send applies them (`with_variant`).

    The posted fields are previewed as typed; a form that posts none (its fields are
    disabled while the sequence is active) previews the stored step instead.
    """
    source = values if "subject" in values else MultiDict(_to_form(dict(stored or {})))
    config = _from_form(FormReader(source))
    if "blocks" in config:
        try:
            config = with_generated_body(config)
        except ValidationError:  # a block being typed: the save shows what is wrong
            config["body"] = stored.get("body") or ""
    email = with_variant(config, values.get("preview.variant", "").strip() or None)
    return email["subject"].strip(), email["body"], email.get("text")


def _to_html(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """ "Edit HTML": the blocks' HTML goes into the body box and the blocks are dropped
    (a block or style not yet valid is left out of it)."""
    read = FormReader(values)
    style = _style_from_form(read)
    try:
        Style.model_validate(style or {})
    except ValidationError:
        style = None
    html = blocks_html(valid_blocks(_blocks_from_form(read)), style)
    kept = [(k, v) for k, v in values.items(multi=True) if not _block_editor_field(k)]
    return MultiDict([*kept, ("body", html)])


def _to_blocks(values: MultiDict[str, str]) -> MultiDict[str, str]:
    """ "Use blocks": the body box gives way to an empty block list (the panel asked first
    when the body had HTML in it)."""
    kept = [(k, v) for k, v in values.items(multi=True) if k != "body"]
    return MultiDict([*kept, *_blocks_to_form([], None)])


def _block_editor_field(name: str) -> bool:
    return name == "editor" or name.startswith(("blocks.", "style.", NEW_BLOCK))


_BLOCK_OP = re.compile(r"(add|remove|up|down):blocks(\.\d+)?")


def _saves_op(op: str) -> bool:
    """Changes to the block list are saved at once, as a typed edit is."""
    return op in (BLOCKS_MODE, HTML_MODE) or _BLOCK_OP.fullmatch(op) is not None


FORM = StepForm(
    type="email",
    to_form=_to_form,
    from_form=_from_form,
    choices=_choices,
    rows={"variants": (("key", ""), ("weight", "50"), ("subject", "")), "blocks": (("type", ""),)},
    filled=_filled,
    save_problems=email_budget_problems,
    ops={BLOCKS_MODE: _to_blocks, HTML_MODE: _to_html},
    saves_op=_saves_op,
)
