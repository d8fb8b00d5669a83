"""YAML for untrusted input: plain data, and no aliases.

An alias (`*name`) repeats a node by reference, so a few hundred bytes of anchors and
aliases ("billion laughs") expand to gigabytes once the document is turned into Python
data, validated or stored. Definitions and rules never need them: a document using one is
refused before anything is built, in time proportional to its length.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError


class AliasRefused(ComposerError):
    """A YAML alias in untrusted input; a YAMLError, so callers report it as a syntax problem."""


class NoAliasLoader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) that refuses aliases where they are composed."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise AliasRefused(
                None,
                None,
                f"aliases (*{event.anchor}) are not allowed; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def load(text: str, loader: type[NoAliasLoader] = NoAliasLoader) -> Any:
    """One YAML document as plain data; YAMLError for bad syntax or an alias."""
    return yaml.load(text, Loader=loader)  # a SafeLoader subclass
