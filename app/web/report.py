"""A sequence's report page: the analytics API's numbers, laid out for a marketer, with
server-drawn charts (app/web/charts.py) and the A/B tests and holdout lift said in words."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import render_template, request
from flask_login import login_required
from markupsafe import Markup

from app.http.dates import DateRange, date_range
from app.http.numbers import ParameterError
from app.services.analytics import sequence_analytics
from app.web import charts, web_bp
from app.web.builder import owned_sequence

METRIC_NAMES = {
    "open_rate": "open rate",
    "click_rate": "click rate",
    "reply_rate": "reply rate",
    "conversion_rate": "conversion rate",
}
FUNNEL = (
    ("entered", "Entered"),
    ("sent", "Sent"),
    ("opened", "Opened"),
    ("clicked", "Clicked"),
    ("replied", "Replied"),
    ("converted", "Converted"),
    ("exited", "Exited"),
)


@web_bp.get("/sequences/<uuid:sequence_id>/report")
@login_required
def sequence_report(sequence_id: uuid.UUID) -> Any:
    sequence = owned_sequence(sequence_id)
    problem, status = None, 200
    try:
        dates = date_range(request.args.get("from"), request.args.get("to"))
    except ParameterError as exc:
        problem, status, dates = {"field": exc.field, "message": exc.description}, 400, DateRange()
    stats = sequence_analytics(sequence, dates.since, dates.until)
    labels = {s["step"]: s["name"] or s["step"] for s in stats["steps"]}
    page = render_template(
        "pages/report.html",
        sequence=sequence,
        stats=stats,
        steps=in_flow_order(stats),
        step_labels=labels,
        dates=dates,
        raw_dates={"from": request.args.get("from", ""), "to": request.args.get("to", "")},
        problem=problem,
        funnel_chart=funnel_chart(stats["funnel"]),
        funnel_columns=[*FUNNEL[:2], ("held_out", "Held out"), *FUNNEL[2:]],
        tests=[
            tested_view(step, labels[step["step"]])
            for step in in_flow_order(stats)
            if step.get("variants")
        ],
        over_time=over_time_chart(stats["conversions"]),
        holdout=holdout_view(stats["holdout"]),
    )
    return page, status


def in_flow_order(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-step entries in the order a contact meets the steps, not the author's."""
    rank = {key: index for index, key in enumerate(stats["flow_order"])}
    return sorted(stats["steps"], key=lambda step: rank.get(step["step"], len(rank)))


def funnel_chart(funnel: list[dict[str, Any]]) -> Markup:
    kinds = charts.series(FUNNEL)
    groups = [
        charts.Bars(step["name"] or step["step"], {key: step[key] for key, _ in FUNNEL})
        for step in funnel
    ]
    first = funnel[0] if funnel else None
    summary = (
        f"{len(funnel)} steps in the order contacts meet them; "
        f"{first['entered']:,} entered the first, {first['name'] or first['step']}."
        if first
        else "No steps."
    )
    return charts.grouped_bars("chart-funnel", "Funnel by step", summary, groups, kinds)


def tested_view(step: dict[str, Any], label: str) -> dict[str, Any]:
    """A step's variants for the page: the state in words and the chart of the metric (or,
    without a test, the click rate) by variant with its intervals."""
    test = step.get("ab_test")
    metric = test["metric"] if test else "click_rate"
    winner = test["winner"] if test else None
    rows = [
        charts.Estimate(
            variant["key"],
            variant[metric],
            _pair(variant["intervals"][metric]),
            variant["key"] == winner,
        )
        for variant in step["variants"]
    ]
    highest = max((r.interval[1] for r in rows if r.interval), default=0.0)
    name = METRIC_NAMES[metric]
    confidence = test["confidence"] if test else 0.95
    chart = charts.estimates(
        f"chart-variants-{step['step']}",
        f"{label}: {name} by variant",
        f"The {name} of each variant with its {confidence:.0%} interval: "
        + "; ".join(f"{r.label} {percent(r.value)}" for r in rows),
        rows,
        0.0,
        _nice_ceiling(highest),
        percent,
    )
    return {
        "step": step,
        "label": label,
        "metric": metric,
        "metric_name": name,
        "confidence": confidence,
        "words": state_words(test) if test else "Split by weight, no test",
        "chart": chart,
    }


def state_words(test: dict[str, Any]) -> str:
    """Where an A/B test stands, as a marketer reads it."""
    figures = test["figures"] or {}
    when = _when(test["decided_at"])
    p_value = figures.get("p_value")
    if test["state"] == "collecting":
        progress = test["progress"]
        words = f"Collecting: {progress['sent']:,}/{progress['needed']:,} sends per variant"
        if progress["sent"] >= progress["needed"] and p_value is not None:
            words += f", no clear winner yet ({p_words(p_value)})"
        return words
    if test["state"] == "stopped":
        if test["decided_by"] == "hand":
            return f"Stopped by hand, sends stay split (since {when})"
        return f"No winner within the time limit, sends stay split (since {when})"
    winner = test["winner"]
    rates = _versus(figures, winner, METRIC_NAMES[test["metric"]])
    if test["decided_by"] == "hand":
        return f"{winner} picked by hand: {rates}, decided {when}"
    significance = f", {p_words(p_value)}" if p_value is not None else ""
    if test["decided_by"] == "fallback":
        return f"{winner} kept as the best when time ran out: {rates}{significance}, decided {when}"
    return f"{winner} wins: {rates}{significance}, decided {when}"


def _versus(figures: dict[str, Any], winner: str, name: str) -> str:
    """'click rate 8.1% vs 4.3%': the winner's rate against the best of the others."""
    variants = figures.get("variants") or []
    own = next((v["rate"] for v in variants if v["key"] == winner), None)
    others = [v["rate"] for v in variants if v["key"] != winner and v["rate"] is not None]
    if own is None:
        return name
    return (
        f"{name} {percent(own)} vs {percent(max(others))}" if others else f"{name} {percent(own)}"
    )


def p_words(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def holdout_view(holdout: dict[str, Any]) -> dict[str, Any] | None:
    """The lift on each goal and overall, in words and as a chart; None without a holdout."""
    if not holdout["percent"] and not holdout["enrolled"]["holdout"]:
        return None
    named = [("any goal", holdout["lift"])]
    named += [(goal, entry["lift"]) for goal, entry in holdout["goals"].items()]
    sentences = [(goal, lift_words(goal, lift, holdout["percent"])) for goal, lift in named]
    rows = [
        charts.Estimate(goal, lift["difference"], _pair(lift["interval"]), strong=True)
        for goal, lift in named
        if lift is not None
    ]
    reach = max((abs(v) for r in rows if r.interval for v in r.interval), default=0.0)
    reach = _nice_ceiling(reach)
    chart = charts.estimates(
        "chart-holdout",
        "Lift against the holdout",
        "The difference in conversion rate, sequence minus holdout, with its interval: "
        + "; ".join(f"{r.label} {points(r.value)} points" for r in rows),
        rows,
        -reach,
        reach,
        points,
    )
    return {"sentences": sentences, "chart": chart if rows else None}


def lift_words(goal: str, lift: dict[str, Any] | None, held: int) -> str:
    """'Sequence lift on Booked Meeting: +4.2 points (95% CI +1.1 to +7.3) against a 20%
    holdout'."""
    if lift is None:
        return f"Sequence lift on {goal}: not yet measurable, both groups need enrollments"
    low, high = lift["interval"]
    return (
        f"Sequence lift on {goal}: {points(lift['difference'])} points "
        f"({lift['confidence']:.0%} CI {points(low)} to {points(high)}) "
        f"against a {held}% holdout"
    )


def over_time_chart(conversions: dict[str, Any]) -> Markup | None:
    days = conversions["by_day"]
    if not days:
        return None
    kinds = charts.series([(goal, goal) for goal in conversions["goals"]])
    return charts.stacked_columns(
        "chart-conversions",
        "Conversions per day",
        f"Conversions per UTC day by goal, {days[0]['day']} to {days[-1]['day']}: "
        f"{sum(day['total'] for day in days):,} in all.",
        [(day["day"], day["goals"]) for day in days],
        kinds,
    )


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def points(value: float | None) -> str:
    """A difference of rates in percentage points, signed: '+4.2'."""
    return "—" if value is None else f"{100 * value:+.1f}"


def _pair(pair: list[float] | None) -> tuple[float, float] | None:
    return (pair[0], pair[1]) if pair else None


def _nice_ceiling(value: float) -> float:
    """The scale's end: the next 5% step above `value`, at least 5%, at most 100%."""
    steps = int(value * 20) + 1
    return min(1.0, max(0.05, steps / 20))


def _when(stamp: str | None) -> str:
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp)
    return f"{moment.day} {moment:%b %H:%M} UTC"
