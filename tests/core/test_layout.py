"""Automatic layout for graphs without positions: columns by depth, ports in order."""

from __future__ import annotations

from app.core.draft import DraftConnection
from app.core.layout import COLUMN_WIDTH, ROW_HEIGHT, auto_layout


def test_a_chain_runs_left_to_right() -> None:
    positions = auto_layout(
        ["a", "b", "c"], [DraftConnection("a", "b"), DraftConnection("b", "c")], {}
    )
    xs = [positions[s][0] for s in "abc"]
    assert xs == sorted(xs) and len(set(xs)) == 3
    assert len({positions[s][1] for s in "abc"}) == 1


def test_branch_paths_stack_in_port_order_whatever_the_connection_order() -> None:
    connections = [
        DraftConnection("start", "b"),
        DraftConnection("b", "no", "false"),
        DraftConnection("b", "yes", "true"),
    ]
    positions = auto_layout(["start", "b", "no", "yes"], connections, {"b": ["true", "false"]})
    assert positions["yes"][0] == positions["no"][0] == positions["b"][0] + COLUMN_WIDTH
    assert positions["no"][1] - positions["yes"][1] == ROW_HEIGHT


def test_no_two_steps_share_a_place_even_with_loops_and_islands() -> None:
    connections = [
        DraftConnection("a", "b"),
        DraftConnection("b", "c"),
        DraftConnection("c", "b"),
        DraftConnection("x", "y"),
        DraftConnection("y", "x"),
    ]
    positions = auto_layout(["a", "b", "c", "x", "y"], connections, {})
    assert set(positions) == {"a", "b", "c", "x", "y"}
    assert len(set(positions.values())) == 5


def test_nothing_to_place() -> None:
    assert auto_layout([], [], {}) == {}
