"""The report's SVG charts: images with a name and a description, author text escaped, and
the numbers drawn to one scale."""

from __future__ import annotations

import re

from app.web import charts

KINDS = charts.series([("entered", "Entered"), ("sent", "Sent")])


def test_a_chart_is_a_named_image_and_author_text_stays_text():
    drawn = charts.grouped_bars(
        "chart-funnel",
        'Funnel of "Q3 <Launch>"',
        "Steps & counts",
        [charts.Bars("<script>alert(1)</script>", {"entered": 10, "sent": 5})],
        KINDS,
    )
    assert drawn.startswith('<svg class="chart" id="chart-funnel" role="img" ')
    assert 'aria-labelledby="chart-funnel-title chart-funnel-desc"' in drawn
    assert '<title id="chart-funnel-title">Funnel of &#34;Q3 &lt;Launch&gt;&#34;</title>' in drawn
    assert '<desc id="chart-funnel-desc">Steps &amp; counts</desc>' in drawn
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn


def test_bars_share_one_scale_and_zero_gets_no_label():
    drawn = charts.grouped_bars(
        "c", "t", "d", [charts.Bars("Email", {"entered": 10, "sent": 5, "opened": 0})], KINDS
    )
    widths = [
        float(w) for w in re.findall(r'<rect x="200" y="\d+" width="([\d.]+)" height="7"', drawn)
    ]
    assert widths[0] == 2 * widths[1] > 0
    empty = charts.grouped_bars("c", "t", "d", [charts.Bars("Email", {})], KINDS)
    assert ">0<" not in empty


def test_estimates_draw_each_interval_and_a_zero_line_when_the_scale_crosses_zero():
    rows = [
        charts.Estimate("A", 0.1, (0.05, 0.18)),
        charts.Estimate("B", 0.3, (0.22, 0.4), strong=True),
        charts.Estimate("C", None, None),
    ]
    rates = charts.estimates("v", "Rates", "By variant", rows, 0.0, 0.5, lambda v: f"{v:.0%}")
    assert rates.count("<circle") == 2 and "stroke-dasharray" not in rates
    assert "<title>B: 30% (22% to 40%)</title>" in rates
    lift = charts.estimates("l", "Lift", "d", rows[:1], -0.25, 0.25, lambda v: f"{v:+.2f}")
    assert "stroke-dasharray" in lift


def test_columns_stack_each_day_by_series():
    goals = charts.series([("Paid", "Paid"), ("Booked", "Booked")])
    drawn = charts.stacked_columns(
        "c", "Per day", "d", [("2026-12-01", {"Paid": 2, "Booked": 2}), ("2026-12-02", {})], goals
    )
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill="#', drawn)]
    assert heights[2] == heights[3] > 0  # the legend's two squares come first
    assert "<title>2026-12-01, Paid: 2</title>" in drawn and ">12-02<" in drawn
