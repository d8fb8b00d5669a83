"""A sequence's report page: the analytics API's numbers, laid out for a marketer."""

from __future__ import annotations

import uuid
from typing import Any

from flask import render_template
from flask_login import login_required

from app.services.analytics import sequence_analytics
from app.web import web_bp
from app.web.builder import owned_sequence


@web_bp.get("/sequences/<uuid:sequence_id>/report")
@login_required
def sequence_report(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    stats = sequence_analytics(sequence)
    return render_template(
        "pages/report.html",
        sequence=sequence,
        stats=stats,
        steps=in_flow_order(stats),
        step_labels={s["step"]: s["name"] or s["step"] for s in stats["steps"]},
    )


def in_flow_order(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-step entries in the order a contact meets the steps, not the author's."""
    rank = {key: index for index, key in enumerate(stats["flow_order"])}
    return sorted(stats["steps"], key=lambda step: rank.get(step["step"], len(rank)))
