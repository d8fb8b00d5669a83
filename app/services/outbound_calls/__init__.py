"""Handlers for the outside calls steps ask for, one module per call kind, found by looking
in this package: a new kind (Slack, SMS, ...) is a new module defining `HANDLER`, no list.

The delivery job (`app.services.call_delivery`) claims due calls and hands each to the
handler of its kind; the handler builds the request once (kept on the row, so a retry
sends the same thing) and makes one attempt.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from app.services.outbound_calls.base import CallHandler


def _discover() -> dict[str, CallHandler]:
    found: dict[str, CallHandler] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name == "base" or module.name.startswith("_"):
            continue
        handler = getattr(importlib.import_module(f"{__name__}.{module.name}"), "HANDLER", None)
        if isinstance(handler, CallHandler):
            found[handler.kind] = handler
    return found


HANDLERS: Mapping[str, CallHandler] = _discover()
"""Every call handler by the kind of call it delivers."""
