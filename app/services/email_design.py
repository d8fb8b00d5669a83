"""Emails written as blocks, made into HTML: the blocks' MJML (core/email_blocks.py) through
mrml, the Rust MJML renderer, into the responsive, table-based HTML mail clients need.

Every path that stores an email step (the builder's panel, the API, imports, gallery
templates, publishing) passes its config through `with_generated_body`, so the stored
`body` is always the blocks' HTML and nothing that sends or previews an email changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mrml
from pydantic import TypeAdapter

from app.core.email_blocks import Blocks, Style, to_mjml

_BLOCKS: TypeAdapter[Any] = TypeAdapter(Blocks)


def blocks_html(blocks: Any, style: Any = None) -> str:
    """The email's HTML for its blocks (as stored or posted; they must be valid), with its
    template tags as written; no blocks make an empty body, which the checklist flags."""
    parsed = _BLOCKS.validate_python(blocks)
    if not parsed:
        return ""
    mjml = to_mjml(parsed, Style.model_validate(style) if style is not None else None)
    return mjml.restore(mrml.to_html(mjml.source).content)


def with_generated_body(config: Mapping[str, Any]) -> dict[str, Any]:
    """An email step's config with its body made from its blocks; one without blocks (raw
    HTML) as it is."""
    if not isinstance(config.get("blocks"), list):
        return dict(config)
    return {**config, "body": blocks_html(config["blocks"], config.get("style"))}
