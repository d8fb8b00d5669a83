"""The builder's "Preview timeline": a form for a hypothetical contact and what it does,
answered (HTMX) with the simulated timeline as a table. The form's rows become the same
request the API's `POST /api/sequences/{id}/simulate` takes, checked by the same service."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_login import login_required
from werkzeug.datastructures import MultiDict

from app.core import timing
from app.services import simulation
from app.web import web_bp
from app.web.builder import owned_sequence

EVENT_ROWS = simulation.MAX_EVENTS
"""Event rows read from the form (`events-<n>.*`); the form itself offers a few."""


class FormProblem(ValueError):
    pass


@web_bp.post("/sequences/<uuid:sequence_id>/timeline")
@login_required
def timeline_preview(sequence_id: uuid.UUID) -> ResponseReturnValue:
    """The timeline for the posted form, or what is wrong with it."""
    sequence = owned_sequence(sequence_id)
    try:
        body = request_from_form(request.form)
        wanted = simulation.parse_request(body, simulation.email_step_keys(sequence))
    except FormProblem as exc:
        return render_template("builder/timeline.html", error=str(exc))
    except simulation.SimulationInputError as exc:
        return render_template("builder/timeline.html", error=exc.message)
    lines = simulation.simulate(sequence, wanted)
    return render_template("builder/timeline.html", lines=lines)


def request_from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """The API's request body from the form: fields as `key=value` lines, tags separated by
    commas, the start in the contact's zone, and each event row as "after N hours/days"."""
    zone_name = form.get("timezone", "").strip()
    contact: dict[str, Any] = {"fields": _fields(form.get("fields", "")), "tags": _tags(form)}
    if zone_name:
        contact["timezone"] = zone_name
    if form.get("first_name", "").strip():
        contact["first_name"] = form["first_name"].strip()
    zone = timing.resolve_zone(zone_name or None).zone
    try:
        start = timing.local_to_utc(datetime.fromisoformat(form.get("start", "")), zone)
    except ValueError:
        raise FormProblem("Give the start as a date and time.") from None
    return {
        "contact": contact,
        "start": start.isoformat(),
        "events": [
            event
            for index in range(EVENT_ROWS)
            if (event := _event(form, index, start)) is not None
        ],
    }


def _fields(text: str) -> dict[str, str]:
    found = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise FormProblem(f"Fields, line {number}: write it as name=value.")
        found[key.strip()] = value.strip()
    return found


def _tags(form: MultiDict[str, str]) -> list[str]:
    return [tag.strip() for tag in form.get("tags", "").split(",") if tag.strip()]


def _event(form: MultiDict[str, str], index: int, start: datetime) -> dict[str, Any] | None:
    prefix = f"events-{index}."
    kind = form.get(prefix + "event", "")
    if not kind:
        return None
    row = f"Event {index + 1}"
    try:
        after = float(form.get(prefix + "after", "0") or 0)
    except ValueError:
        raise FormProblem(f"{row}: 'after' must be a number.") from None
    if not 0 <= after <= simulation.simulation.HORIZON.days * 24:
        raise FormProblem(f"{row}: 'after' must be between 0 and the simulated horizon.")
    unit = timedelta(days=1) if form.get(prefix + "unit") == "days" else timedelta(hours=1)
    name, value = form.get(prefix + "name", "").strip(), form.get(prefix + "value", "").strip()
    event: dict[str, Any] = {"at": (start + unit * after).isoformat(), "properties": {}}
    if kind == "custom":
        if not name:
            raise FormProblem(f"{row}: name the custom event.")
        event["event"] = name
    elif kind == "field_changed":
        if not name:
            raise FormProblem(f"{row}: name the field that changes.")
        event |= {"event": kind, "properties": {"field": name, "to": value}}
    else:
        event["event"] = kind
        if kind == "clicked_link" and value:
            event["properties"] = {"url": value}
    return event
