"""A/B tests and holdouts in the pure core: sticky draws by weight, the z-test's decision,
its fallback after the time limit, intervals and lift; and what the email step does with
them (the drawn or winning variant queued, nothing sent to the holdout)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core import experiments
from app.core.engine import Graph, Position, Step, advance
from app.core.experiments import Arm, Rule, decide

T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
AB_EMAIL = {
    "subject": "base",
    "body": "b",
    "variants": [
        {"key": "A", "weight": 50, "subject": "a"},
        {"key": "B", "weight": 50, "subject": "b"},
    ],
    "ab_test": {"metric": "click_rate", "min_sends": 200},
}


def test_a_draw_is_the_same_every_time_for_the_same_seed() -> None:
    weighted = [("A", 50), ("B", 50)]
    draws = {experiments.pick_variant(weighted, f"seed-{n}") for _ in range(3) for n in [7]}
    assert len(draws) == 1


def test_draws_split_by_weight() -> None:
    weighted = [("A", 20), ("B", 30), ("C", 50)]
    counts = Counter(experiments.pick_variant(weighted, f"run-{n}") for n in range(20_000))
    assert 0.19 < counts["A"] / 20_000 < 0.21
    assert 0.29 < counts["B"] / 20_000 < 0.31
    assert 0.49 < counts["C"] / 20_000 < 0.51


def test_a_holdout_takes_exactly_its_share_of_every_block_and_zero_takes_nobody() -> None:
    held = [experiments.in_holdout(20, draw, "holdout:s") for draw in range(1000)]
    assert sum(held) == 200
    assert all(sum(held[start : start + 5]) == 1 for start in range(0, 1000, 5))
    assert not any(experiments.in_holdout(0, draw, "holdout:s") for draw in range(1000))
    assert sum(experiments.in_holdout(15, draw, "holdout:s") for draw in range(1000)) == 150


def test_which_run_of_a_block_is_held_out_is_random() -> None:
    held_at = Counter(
        next(i for i in range(5) if experiments.in_holdout(20, block * 5 + i, "holdout:s"))
        for block in range(2000)
    )
    assert set(held_at) == {0, 1, 2, 3, 4}
    assert all(300 < count < 500 for count in held_at.values())


def test_block_draws_split_exactly_by_weight_and_are_sticky() -> None:
    weighted = [("A", 20), ("B", 30), ("C", 50)]
    picks = [experiments.block_pick(weighted, draw, "step") for draw in range(1000)]
    assert Counter(picks) == {"A": 200, "B": 300, "C": 500}
    assert picks == [experiments.block_pick(weighted, draw, "step") for draw in range(1000)]
    assert picks != [experiments.block_pick(weighted, draw, "other") for draw in range(1000)]


def test_weights_without_a_short_block_are_drawn_by_hash() -> None:
    weighted = [("A", 33), ("B", 67)]  # a block of 100 would be the shortest exact one
    counts = Counter(experiments.block_pick(weighted, draw, "s") for draw in range(10_000))
    assert counts["A"] == 3300
    odd = [("A", 101), ("B", 100)]
    counts = Counter(experiments.block_pick(odd, draw, "s") for draw in range(10_000))
    assert 4800 < counts["A"] < 5300


def test_a_test_collects_until_every_variant_has_its_minimum_sends() -> None:
    arms = [Arm("A", 150, 10), Arm("B", 300, 90)]
    decision = decide(arms, Rule(min_sends=200), T0, T0)
    assert (decision.state, decision.winner) == ("collecting", None)


def test_a_clear_difference_decides_for_the_better_variant_with_its_p_value() -> None:
    arms = [Arm("A", 300, 30), Arm("B", 300, 90)]
    decision = decide(arms, Rule(min_sends=200, confidence=0.95), T0, T0)
    assert (decision.state, decision.winner, decision.reason) == ("decided", "B", "significant")
    # pooled rate 0.2, z = 0.2 / sqrt(0.2 * 0.8 * 2 / 300) = 6.12: p far below 0.05
    assert decision.figures["p_value"] < 1e-8
    assert decision.figures["variants"][1]["rate"] == 0.3


def test_the_p_value_is_the_one_sided_two_proportion_z_test() -> None:
    better, other = Arm("B", 400, 60), Arm("A", 400, 40)
    pooled = 100 / 800
    z = (0.15 - 0.10) / math.sqrt(pooled * (1 - pooled) * (2 / 400))
    expected = 0.5 * math.erfc(z / math.sqrt(2))
    assert experiments.one_sided_p(better, other) == pytest.approx(expected, rel=1e-9)


def test_three_variants_correct_the_p_value_for_two_comparisons() -> None:
    arms = [Arm("A", 400, 40), Arm("B", 400, 60), Arm("C", 400, 40)]
    figures = decide(arms, Rule(min_sends=200), T0, T0).figures
    single = experiments.one_sided_p(arms[1], arms[0])
    assert figures["p_value"] == pytest.approx(min(1.0, 2 * single))


def test_equal_rates_keep_collecting_until_the_time_limit() -> None:
    arms = [Arm("A", 300, 30), Arm("B", 300, 30)]
    rule = Rule(min_sends=200, max_duration=timedelta(days=14))
    assert decide(arms, rule, T0, T0 + timedelta(days=13)).state == "collecting"


def test_after_the_time_limit_the_best_fallback_picks_the_higher_rate() -> None:
    arms = [Arm("A", 300, 30), Arm("B", 300, 33)]
    rule = Rule(min_sends=200, max_duration=timedelta(days=14), fallback="best")
    decision = decide(arms, rule, T0, T0 + timedelta(days=14))
    assert (decision.state, decision.winner, decision.reason) == ("decided", "B", "fallback_best")


def test_a_tie_at_the_time_limit_goes_to_the_variant_listed_first() -> None:
    arms = [Arm("A", 300, 30), Arm("B", 300, 30)]
    rule = Rule(min_sends=200, max_duration=timedelta(days=1))
    assert decide(arms, rule, T0, T0 + timedelta(days=2)).winner == "A"


def test_after_the_time_limit_keep_split_stops_without_a_winner() -> None:
    arms = [Arm("A", 300, 30), Arm("B", 300, 30)]
    rule = Rule(min_sends=200, max_duration=timedelta(days=14), fallback="keep_split")
    decision = decide(arms, rule, T0, T0 + timedelta(days=15))
    assert (decision.state, decision.winner) == ("stopped", None)


def test_the_interval_holds_the_rate_and_stays_within_zero_and_one() -> None:
    low, high = experiments.interval(30, 300, 0.95) or (0, 0)
    assert low < 0.1 < high and low > 0.06 and high < 0.15
    assert experiments.interval(0, 10, 0.95)[0] == pytest.approx(0.0, abs=1e-12)
    assert experiments.interval(10, 10, 0.95)[1] == pytest.approx(1.0)
    assert experiments.interval(0, 0, 0.95) is None


def test_lift_is_the_difference_of_rates_with_its_interval() -> None:
    found = experiments.lift((240, 800), (40, 200))
    assert found is not None
    assert (found["treated_rate"], found["holdout_rate"]) == (0.3, 0.2)
    assert found["difference"] == pytest.approx(0.1)
    low, high = found["interval"]
    spread = 1.959964 * math.sqrt(0.3 * 0.7 / 800 + 0.2 * 0.8 / 200)
    assert low == pytest.approx(0.1 - spread, abs=1e-5)
    assert high == pytest.approx(0.1 + spread, abs=1e-5)
    assert found["relative"] == pytest.approx(0.5)
    assert experiments.lift((1, 10), (0, 0)) is None


# --- the email step -------------------------------------------------------------------------


def _ab_graph() -> Graph:
    return Graph("e1", {"e1": Step("e1", "EMAIL_1", "email", AB_EMAIL, {})})


def _position(enrollment: str, **extra: object) -> Position:
    return Position("e1", None, {}, ZoneInfo("UTC"), enrollment_id=enrollment, **extra)  # type: ignore[arg-type]


def test_an_email_with_variants_queues_the_runs_sticky_draw() -> None:
    graph = _ab_graph()
    first = advance(graph, _position("enr-1", draw=7), T0).emails[0].variant
    again = advance(graph, _position("enr-1", draw=7), T0 + timedelta(days=1)).emails[0].variant
    assert first == again and first in ("A", "B")
    assert advance(graph, _position("enr-1", draw=7), T0).taken[0].variant == first


def test_runs_in_draw_order_split_exactly_by_weight() -> None:
    graph = _ab_graph()
    sent = [advance(graph, _position("e", draw=draw), T0).emails[0].variant for draw in range(600)]
    assert Counter(sent) == {"A": 300, "B": 300}


def test_a_run_without_a_draw_number_draws_by_its_enrollment() -> None:
    graph = _ab_graph()
    sent = Counter(advance(graph, _position(f"e{n}"), T0).emails[0].variant for n in range(400))
    assert set(sent) == {"A", "B"} and 150 < sent["A"] < 250


def test_once_a_winner_is_decided_every_new_send_uses_it() -> None:
    graph = _ab_graph()
    winners = {"e1": "B"}
    sent = {
        advance(graph, _position(f"e{n}", winners=winners), T0).emails[0].variant for n in range(50)
    }
    assert sent == {"B"}


def test_a_winner_no_longer_among_the_variants_is_ignored() -> None:
    graph = _ab_graph()
    sent = {
        advance(graph, _position(f"e{n}", winners={"e1": "Z"}), T0).emails[0].variant
        for n in range(50)
    }
    assert sent == {"A", "B"}


def test_an_enrollment_in_the_holdout_takes_the_email_step_without_an_email() -> None:
    outcome = advance(_ab_graph(), _position("enr-1", holdout=True), T0)
    assert outcome.emails == []
    assert [(t.outcome, t.variant) for t in outcome.taken] == [("held_out", None)]
    assert outcome.status == "completed"
