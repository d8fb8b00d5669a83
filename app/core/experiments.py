"""A/B tests and holdouts: sticky assignment, the winner test, intervals and lift.

Pure: no database, no clock. Assignment is permuted-block randomisation over each
enrollment run's draw number (`contact_sequences.draw`, handed out in order by the
sequence at enrollment): the runs are cut into blocks as long as the weights' smallest
whole ratio (50/50: 2; a 20% holdout: 5), and each block is a shuffle, seeded by SHA-256
(stable across processes and machines, unlike Python's `hash`), of exactly the weights'
shares. So every block is split exactly by weight, which one gets what within a block is
random, and the same run always lands in the same variant or group without storing a
draw. A run without a draw number (enrolled before draws existed) hashes its id instead.

The winner test is a two-proportion z-test of the best variant against each other one,
one-sided, Bonferroni-corrected for the number of comparisons: closed-form, deterministic
(the same counts always give the same decision, which an audit can recompute), and sound
at the sample sizes a test waits for (`min_sends`, 200 by default). A Bayesian
probability-to-beat-all would need sampling or numerical integration for 3 to 5 variants
and a prior to defend; the z-test's p-value is the figure marketers already know.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, reduce
from statistics import NormalDist
from typing import Any, Literal

_STANDARD = NormalDist()

State = Literal["collecting", "decided", "stopped"]


def bucket(seed: str) -> float:
    """A uniform number in [0, 1) fixed by `seed`."""
    digest = hashlib.sha256(seed.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick_variant(weighted: Sequence[tuple[str, int]], seed: str) -> str:
    """The variant `seed` falls into, each taking its weight's share of the range."""
    total = sum(weight for _, weight in weighted)
    point = bucket(seed) * total
    for key, weight in weighted:
        if point < weight:
            return key
        point -= weight
    return weighted[-1][0]


MAX_BLOCK = 100
"""Longest block; weights whose smallest whole ratio is longer (e.g. 33/67) are drawn by
hash alone, which keeps the shares only on average."""


def block_pick(weighted: Sequence[tuple[str, int]], draw: int, salt: str) -> str:
    """The key at position `draw` of the shuffled blocks of `weighted` (see the module)."""
    divisor = reduce(math.gcd, (weight for _, weight in weighted))
    shares = tuple((key, weight // divisor) for key, weight in weighted)
    size = sum(share for _, share in shares)
    if size > MAX_BLOCK:
        return pick_variant(weighted, f"{salt}:{draw}")
    block, position = divmod(draw, size)
    return _shuffled_block(shares, salt, block)[position]


@lru_cache(maxsize=4096)
def _shuffled_block(shares: tuple[tuple[str, int], ...], salt: str, block: int) -> list[str]:
    slots = [key for key, share in shares for _ in range(share)]
    random.Random(bucket(f"{salt}:{block}")).shuffle(slots)
    return slots


def in_holdout(percent: int, draw: int, salt: str) -> bool:
    """Whether run number `draw` is in a `percent` holdout (0: nobody)."""
    if percent <= 0:
        return False
    return block_pick([("held", percent), ("sent", 100 - percent)], draw, salt) == "held"


def variant_for(
    weighted: Sequence[tuple[str, int]], draw: int | None, enrollment_id: str | None, step_id: str
) -> str:
    """An enrollment run's variant at an email step: by its draw number, or by a hash of the
    enrollment for a run that has none. Sticky on a second visit in the same run."""
    if draw is None:
        return pick_variant(weighted, f"variant:{enrollment_id}:{step_id}")
    return block_pick(weighted, draw, f"variant:{step_id}")


# --- statistics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One variant's trials (sends) and successes (the metric's events) so far."""

    key: str
    sent: int
    successes: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.sent if self.sent else None


@dataclass(frozen=True)
class Rule:
    """When a test may decide: each variant has `min_sends`, the best beats every other at
    `confidence`; after `max_duration` (None: never) `fallback` applies (best | keep_split)."""

    min_sends: int = 200
    confidence: float = 0.95
    max_duration: timedelta | None = None
    fallback: str = "best"


@dataclass(frozen=True)
class Decision:
    state: State
    winner: str | None
    reason: str  # collecting | significant | fallback_best | fallback_keep_split
    figures: dict[str, Any] = field(default_factory=dict)


def interval(successes: int, trials: int, confidence: float) -> tuple[float, float] | None:
    """Wilson score interval of a rate: stays inside [0, 1] and behaves at 0 or few trials."""
    if trials <= 0:
        return None
    z = _STANDARD.inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    scale = 1 + z * z / trials
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def one_sided_p(better: Arm, other: Arm) -> float:
    """P-value of 'better's rate is higher than other's' (pooled two-proportion z-test)."""
    pooled = (better.successes + other.successes) / (better.sent + other.sent)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / better.sent + 1 / other.sent))
    if spread == 0:
        return 1.0
    z = ((better.rate or 0.0) - (other.rate or 0.0)) / spread
    return 1 - _STANDARD.cdf(z)


def decide(arms: Sequence[Arm], rule: Rule, started_at: datetime | None, now: datetime) -> Decision:
    """Where the test stands at `now`; `started_at` is its first send (None: none yet)."""
    figures = _figures(arms, rule)
    enough = bool(arms) and all(arm.sent >= rule.min_sends for arm in arms)
    best = _best(arms)
    p_value = figures.get("p_value")
    if enough and best is not None and p_value is not None and p_value < 1 - rule.confidence:
        return Decision("decided", best.key, "significant", figures)
    timed_out = (
        rule.max_duration is not None
        and started_at is not None
        and now >= started_at + rule.max_duration
    )
    if not timed_out:
        return Decision("collecting", None, "collecting", figures)
    if rule.fallback == "best" and best is not None:
        return Decision("decided", best.key, "fallback_best", figures)
    return Decision("stopped", None, "fallback_keep_split", figures)


def _best(arms: Sequence[Arm]) -> Arm | None:
    """The highest rate; a tie goes to the variant listed first."""
    sent = [arm for arm in arms if arm.sent]
    return max(sent, key=lambda arm: arm.rate or 0.0) if sent else None


def _figures(arms: Sequence[Arm], rule: Rule) -> dict[str, Any]:
    """Rates with intervals per variant and, when every variant has sends, the adjusted
    p-value of the best against the runner-up (the weakest of its comparisons)."""
    figures: dict[str, Any] = {
        "method": "two-proportion z-test, one-sided, Bonferroni-corrected",
        "confidence": rule.confidence,
        "min_sends": rule.min_sends,
        "variants": [
            {
                "key": arm.key,
                "sent": arm.sent,
                "successes": arm.successes,
                "rate": _round(arm.rate),
                "interval": _round_pair(interval(arm.successes, arm.sent, rule.confidence)),
            }
            for arm in arms
        ],
    }
    best = _best(arms)
    if best is None or len(arms) < 2 or any(arm.sent == 0 for arm in arms):
        return figures
    others = [arm for arm in arms if arm is not best]
    worst_p = max(one_sided_p(best, other) for other in others)
    figures["best"] = best.key
    figures["p_value"] = min(1.0, worst_p * len(others))
    return figures


def lift(
    treated: tuple[int, int], holdout: tuple[int, int], confidence: float = 0.95
) -> dict[str, Any] | None:
    """The difference in conversion rate, treated minus holdout, with a Wald interval of the
    difference, and the relative lift; None until both groups have members."""
    (won_t, n_t), (won_h, n_h) = treated, holdout
    if n_t == 0 or n_h == 0:
        return None
    p_t, p_h = won_t / n_t, won_h / n_h
    z = _STANDARD.inv_cdf(0.5 + confidence / 2)
    spread = z * math.sqrt(p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h)
    difference = p_t - p_h
    return {
        "treated_rate": _round(p_t),
        "holdout_rate": _round(p_h),
        "difference": _round(difference),
        "interval": _round_pair((difference - spread, difference + spread)),
        "relative": _round(difference / p_h) if p_h else None,
        "confidence": confidence,
    }


def _round(value: float | None) -> float | None:
    return round(value, 6) if value is not None else None


def _round_pair(pair: tuple[float, float] | None) -> list[float] | None:
    return [round(pair[0], 6), round(pair[1], 6)] if pair is not None else None
