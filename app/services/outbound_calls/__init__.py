"""Handlers for the outside calls steps ask for, one module per call kind, found by looking
in this package: a new kind (Slack, SMS, ...) is a new module defining `HANDLER`, no list.

The delivery job (`app.services.call_delivery`) claims due calls and hands each to the
handler of its kind; the handler builds the request once (kept on the row, so a retry
sends the same thing) and makes one attempt.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.core.registry import discover
from app.services.outbound_calls.base import CallHandler


def _discover() -> dict[str, CallHandler]:
    return {
        handler.kind: handler for handler in discover(__name__, __path__, "HANDLER", CallHandler)
    }


HANDLERS: Mapping[str, CallHandler] = _discover()
"""Every call handler by the kind of call it delivers."""
