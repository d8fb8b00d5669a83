"""Gallery cards: the server-drawn SVG of a graph and the facts printed under it."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from typing import Any

from app.core.format.parse import parse_definition
from app.core.gallery_facts import gallery_facts
from app.core.thumbnail import HEIGHT, WIDTH, render_thumbnail
from tests.helpers import ROOT, onboarding_definition

SVG = "{http://www.w3.org/2000/svg}"
DEMO = ROOT / "app" / "seed_data" / "demo_fast_track.yaml"
HOSTILE = "</title><script>alert('x')</script> & \"quotes\""


def drawn(svg: str) -> ET.Element:
    """Parsing it as XML proves it is well-formed whatever the author typed."""
    return ET.fromstring(svg)


def boxes(root: ET.Element) -> list[tuple[float, float, float, float]]:
    return [
        tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))
        for rect in root.iter(f"{SVG}rect")
    ]


def email(step_id: str, name: str | None = None, subject: str = "Hi") -> dict[str, Any]:
    step: dict[str, Any] = {
        "id": step_id,
        "type": "email",
        "config": {"subject": subject, "body": "<p>Hi</p>"},
    }
    if name:
        step["name"] = name
    return step


def delay(step_id: str, **config: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "delay", "config": config}


def chain(*ids: str) -> list[dict[str, Any]]:
    return [{"source": a, "target": b} for a, b in itertools.pairwise(ids)]


def test_one_box_per_step_and_one_edge_per_connection_inside_the_frame() -> None:
    definition = parse_definition(onboarding_definition())
    root = drawn(render_thumbnail(definition))
    assert root.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    assert len(boxes(root)) == 5
    assert len([p for p in root.iter(f"{SVG}path") if p.get("class") == "thumb-edge"]) == 4
    for x, y, w, h in boxes(root):
        assert x >= 0 and x + w <= WIDTH and y >= 0 and y + h <= HEIGHT
    # The seed's five steps sit in one row on the canvas; the picture folds them after the
    # third: left to right, then back from right to left on a second row.
    placed = [(x, y) for x, y, _, _ in boxes(root)]
    first, second = placed[:3], placed[3:]
    assert len({y for _, y in first}) == 1 and len({y for _, y in second}) == 1
    assert second[0][1] > first[0][1]
    assert [x for x, _ in first] == sorted(x for x, _ in first)
    assert [x for x, _ in second] == sorted((x for x, _ in second), reverse=True)
    assert second[0][0] == first[-1][0], "the chain turns down under its last box"


def test_a_short_chain_stays_in_one_row() -> None:
    definition = onboarding_definition()
    definition["steps"] = definition["steps"][:3]
    definition["connections"] = definition["connections"][:2]
    root = drawn(render_thumbnail(parse_definition(definition)))
    assert len({y for _, y, _, _ in boxes(root)}) == 1


def test_boxes_take_the_builders_colour_for_their_type() -> None:
    root = drawn(render_thumbnail(parse_definition(DEMO.read_text())))
    colours = {
        group.get("class").split()[-1]: group.find(f"{SVG}rect").get("stroke")
        for group in root.iter(f"{SVG}g")
    }
    assert colours == {
        "thumb-email": "#1f6feb",
        "thumb-wait_until": "#bf3989",
        "thumb-action": "#1a7f37",
    }


def test_labelled_paths_show_their_label_and_plain_ones_do_not() -> None:
    root = drawn(render_thumbnail(parse_definition(DEMO.read_text())))
    labels = sorted(t.text for t in root.iter(f"{SVG}text"))
    assert labels == ["met", "timeout"]


def test_author_text_is_escaped_everywhere() -> None:
    document = {
        "name": HOSTILE,
        "steps": [
            email("e1", name=HOSTILE),
            {
                "id": "s",
                "type": "split",
                "config": {
                    "paths": [{"label": "<b>a</b>", "percent": 50}, {"label": "b&", "percent": 50}]
                },
            },
            email("e2"),
            email("e3"),
        ],
        "connections": [
            {"source": "e1", "target": "s"},
            {"source": "s", "target": "e2", "label": "<b>a</b>"},
            {"source": "s", "target": "e3", "label": "b&"},
        ],
    }
    svg = render_thumbnail(parse_definition(document))
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&lt;b&gt;a&lt;/b&gt;" in svg and "b&amp;" in svg
    root = drawn(svg)
    assert root.get("aria-label") == f"Flow of {HOSTILE}"
    assert sorted(t.text for t in root.iter(f"{SVG}text")) == ["<b>a</b>", "b&"]
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert f"{HOSTILE} (email)" in titles


def test_steps_without_positions_are_laid_out_without_overlapping() -> None:
    document = {
        "name": "No positions",
        "steps": [email("a"), delay("d", duration="1 day"), email("b")],
        "connections": chain("a", "d", "b"),
    }
    root = drawn(render_thumbnail(document))
    placed = boxes(root)
    assert len(placed) == 3
    assert len({(x, y) for x, y, _, _ in placed}) == 3
    assert [x for x, *_ in placed] == sorted(x for x, *_ in placed)


def test_facts_of_the_seed_onboarding() -> None:
    facts = gallery_facts(parse_definition(onboarding_definition()))
    assert facts.email_count == 3
    assert facts.email_names == (
        "Welcome & Getting Started",
        "Key Features Overview",
        "Pro Tips & Best Practices",
    )
    assert facts.duration == "about 5 days"
    assert facts.duration_seconds == 5 * 86400


def test_duration_follows_the_longest_path_counting_wait_timeouts() -> None:
    document = {
        "name": "Branchy",
        "steps": [
            email("intro", subject="Meet us"),
            {
                "id": "wait",
                "type": "wait_until",
                "config": {"conditions": [{"event": "login", "timeout": "3 days"}]},
            },
            delay("long", duration="1 week"),
            email("slow", name="Slow path"),
            email("fast", name="Fast path"),
        ],
        "connections": [
            {"source": "intro", "target": "wait"},
            {"source": "wait", "target": "fast", "label": "met"},
            {"source": "wait", "target": "long", "label": "timeout"},
            {"source": "long", "target": "slow"},
        ],
    }
    facts = gallery_facts(document)
    assert facts.duration == "about 10 days"
    # Unnamed emails go by their subject; flow order puts the met path's email first.
    assert facts.email_names == ("Meet us", "Fast path", "Slow path")


def test_a_loop_back_through_a_wait_is_counted_once() -> None:
    document = {
        "name": "Loop",
        "steps": [email("a"), delay("d", duration="2 hours")],
        "connections": [{"source": "a", "target": "d"}, {"source": "d", "target": "a"}],
    }
    assert gallery_facts(parse_definition(document)).duration == "about 2 hours"


def test_delays_until_a_contact_date_are_timed_from_it() -> None:
    document = {
        "name": "Webinar",
        "steps": [
            email("invite"),
            delay("week_before", until="field", field="webinar_at", offset="-7 days"),
            email("reminder"),
            delay("day_after", until="field", field="webinar_at", offset="+1 day"),
            delay("then", duration="12 hours"),
            email("replay"),
        ],
        "connections": chain("invite", "week_before", "reminder", "day_after", "then", "replay"),
    }
    facts = gallery_facts(parse_definition(document))
    assert facts.duration == "about 8 days, timed from the contact's webinar_at"
    assert facts.duration_seconds == 8 * 86400 + 12 * 3600


def test_waits_until_a_weekday_and_sequences_without_waits_say_so() -> None:
    weekday = {
        "name": "Monday",
        "steps": [email("a"), delay("m", until="weekday", weekday="monday", time="09:00")],
        "connections": chain("a", "m"),
    }
    assert gallery_facts(parse_definition(weekday)).duration == "waits until Monday 09:00"
    instant = {"name": "Now", "steps": [email("a")], "connections": []}
    facts = gallery_facts(parse_definition(instant))
    assert facts.duration == "no waiting: every step runs at once"
    assert facts.duration_seconds == 0
