"""Tidy up's layout: top to bottom, paths side by side, never a later step above an earlier one."""

from __future__ import annotations

from itertools import combinations, pairwise

from app.core.draft import DraftConnection
from app.core.layout import COLUMN_WIDTH, ROW_HEIGHT, auto_layout, layout_grid

CARD_WIDTH, CARD_HEIGHT = 220, 100


def chain(*ids: str) -> list[DraftConnection]:
    return [DraftConnection(a, b) for a, b in pairwise(ids)]


def assert_no_overlap(positions: dict[str, tuple[int, int]]) -> None:
    for (a, (ax, ay)), (b, (bx, by)) in combinations(positions.items(), 2):
        apart = abs(ax - bx) >= CARD_WIDTH or abs(ay - by) >= CARD_HEIGHT
        assert apart, f"{a} and {b} overlap"


def test_a_chain_runs_top_to_bottom_in_one_column() -> None:
    positions = auto_layout(["a", "b", "c"], chain("a", "b", "c"), {})
    assert len({positions[s][0] for s in "abc"}) == 1
    ys = [positions[s][1] for s in "abc"]
    assert ys == [ys[0], ys[0] + ROW_HEIGHT, ys[0] + 2 * ROW_HEIGHT]


def test_branch_paths_sit_side_by_side_in_port_order_whatever_the_connection_order() -> None:
    connections = [
        DraftConnection("start", "b"),
        DraftConnection("b", "no", "false"),
        DraftConnection("b", "yes", "true"),
    ]
    positions = auto_layout(["start", "b", "no", "yes"], connections, {"b": ["true", "false"]})
    assert positions["yes"][1] == positions["no"][1] == positions["b"][1] + ROW_HEIGHT
    assert positions["no"][0] - positions["yes"][0] == COLUMN_WIDTH
    assert positions["b"][0] == (positions["yes"][0] + positions["no"][0]) // 2


def test_every_connection_runs_downwards_even_when_paths_merge_after_different_lengths() -> None:
    # Cold outreach with the author's order scrambled: the end card was added early, and the
    # 'no reply' path is three steps longer than the 'replied' one before both end.
    steps = ["end", "email_1", "wait", "thanks", "delay_2", "email_3", "delay_3", "email_2"]
    connections = [
        DraftConnection("email_1", "wait"),
        DraftConnection("wait", "thanks", "met"),
        DraftConnection("wait", "delay_2", "timeout"),
        DraftConnection("delay_2", "email_2"),
        DraftConnection("email_2", "delay_3"),
        DraftConnection("delay_3", "email_3"),
        DraftConnection("email_3", "end"),
        DraftConnection("thanks", "end"),
    ]
    positions = auto_layout(steps, connections, {"wait": ["met", "timeout"]})
    for conn in connections:
        assert positions[conn.target][1] > positions[conn.source][1], conn
    assert positions["email_1"][1] == min(y for _, y in positions.values())
    assert positions["end"][1] == max(y for _, y in positions.values())
    assert_no_overlap(positions)


def test_loops_and_islands_are_placed_without_overlap() -> None:
    connections = [
        *chain("a", "b", "c"),
        DraftConnection("c", "b"),  # a loop back up
        DraftConnection("x", "y"),
        DraftConnection("y", "x"),  # an island that is only a loop
        DraftConnection("lone", "a"),
    ]
    positions = auto_layout(["a", "b", "c", "x", "y", "lone"], connections, {})
    assert set(positions) == {"a", "b", "c", "x", "y", "lone"}
    assert positions["lone"][1] < positions["a"][1] < positions["b"][1] < positions["c"][1]
    assert positions["x"][1] < positions["y"][1]
    assert_no_overlap(positions)


def test_many_paths_under_many_branches_never_overlap() -> None:
    steps = ["top", "l", "r", "ll", "lr", "rl", "rr", "merge"]
    labels = {"top": ["true", "false"], "l": ["true", "false"], "r": ["true", "false"]}
    connections = [
        DraftConnection("top", "l", "true"),
        DraftConnection("top", "r", "false"),
        DraftConnection("l", "ll", "true"),
        DraftConnection("l", "lr", "false"),
        DraftConnection("r", "rl", "true"),
        DraftConnection("r", "rr", "false"),
        *(DraftConnection(leaf, "merge") for leaf in ("ll", "lr", "rl", "rr")),
    ]
    grid = layout_grid(steps, connections, labels)
    assert [grid[s][1] for s in ("ll", "lr", "rl", "rr")] == [0, 1, 2, 3]
    assert grid["top"] == (0, 1.5)
    assert grid["merge"][0] == 3
    assert_no_overlap(auto_layout(steps, connections, labels))


def test_nothing_to_place() -> None:
    assert auto_layout([], [], {}) == {}
