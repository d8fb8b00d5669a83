"""Why a step went the way it did, as its step log keeps it and as the timeline tells it.

A branch keeps its condition's explanation (`conditions.Explanation.to_json`), a wait_until
the condition and event that met it (or that it timed out), a random split the bucket that
chose the path. Stored as JSON in `sequence_step_logs.detail["decision"]`, bounded in size
(`conditions.trim`, `conditions.MAX_LEAVES`), and put in words only when read, so the words
can name steps and use the reader's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.core import conditions
from app.core.timing import describe_local
from app.core.waits import SeenEvent
from app.core.wording import join_words


def wait_met(condition: Mapping[str, Any], event: SeenEvent) -> dict[str, Any]:
    """The wait's condition that was met, and when (with the clicked URL, for a click)."""
    found: dict[str, Any] = {
        "kind": "wait",
        "result": "met",
        "condition": conditions.trim(condition),
        "at": event.occurred_at.isoformat(),
    }
    url = event.properties.get("url")
    if isinstance(url, str):
        found["url"] = conditions.trim(url)
    return found


def wait_timed_out(config: Mapping[str, Any]) -> dict[str, Any]:
    """A wait that timed out, with what it waited for."""
    waited = list(config.get("conditions") or [])[: conditions.MAX_LEAVES]
    return {
        "kind": "wait",
        "result": "timed_out",
        "conditions": [conditions.trim(c) for c in waited],
    }


def split(bucket: int, path: str) -> dict[str, Any]:
    return {"kind": "split", "bucket": bucket, "path": path}


def describe(decision: Mapping[str, Any], names: Mapping[str, str], zone: ZoneInfo) -> str:
    """A stored decision in words; `names` maps step keys to names, `zone` is the contact's."""
    kind = decision.get("kind")
    if kind == "condition":
        return conditions.describe(decision, names, zone)
    if kind == "wait" and decision.get("result") == "met":
        text = f"{conditions.phrase(decision.get('condition') or {}, names)}: met"
        if decision.get("at"):
            text += f", at {describe_local(datetime.fromisoformat(decision['at']), zone)}"
        if decision.get("url"):
            text += f" ({decision['url']})"
        return text
    if kind == "wait":
        waited = [conditions.phrase(c, names) for c in decision.get("conditions") or []]
        return f"timed out waiting for {join_words(waited, 'or') or 'its conditions'}"
    if kind == "split":
        return f"bucket {decision.get('bucket')} of 100: path {decision.get('path')}"
    return ""
