"""Re-enrollment rules, decided from the earlier run's state and `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.reentry import EarlierRun, refusal

DONE = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def finished(status: str = "completed", runs: int = 1) -> EarlierRun:
    return EarlierRun(status, DONE, runs)


@pytest.mark.parametrize("status", ["active", "paused"])
@pytest.mark.parametrize("mode", ["never", "always", "after_delay"])
def test_a_contact_still_in_the_sequence_is_never_enrolled_twice(status, mode):
    rule = {"mode": mode, "delay": "1 day"} if mode == "after_delay" else {"mode": mode}
    why = refusal(rule, EarlierRun(status, None, 1), DONE + timedelta(days=400))
    assert why == f"already enrolled ({status})"


@pytest.mark.parametrize("status", ["completed", "exited", "failed"])
def test_never_refuses_any_finished_run_and_is_the_default(status):
    for rule in ({"mode": "never"}, None, {}):
        why = refusal(rule, finished(status), DONE + timedelta(days=1000))
        assert why is not None and "re-enrollment is off" in why


def test_always_allows_a_finished_run_at_once():
    assert refusal({"mode": "always"}, finished(), DONE) is None
    assert refusal({"mode": "always"}, finished("exited"), DONE) is None


def test_after_delay_allows_from_exactly_the_delay_after_the_run_ended():
    rule = {"mode": "after_delay", "delay": "90 days"}
    early = refusal(rule, finished(), DONE + timedelta(days=90) - timedelta(seconds=1))
    assert early == "may re-enroll from 2026-04-10 12:00 UTC (90 days after the last run)"
    assert refusal(rule, finished(), DONE + timedelta(days=90)) is None


def test_max_times_counts_every_run_including_the_current_one():
    rule = {"mode": "always", "max_times": 2}
    assert refusal(rule, finished(runs=1), DONE) is None
    assert refusal(rule, finished(runs=2), DONE) == "already enrolled 2 time(s); the limit is 2"
    delayed = {"mode": "after_delay", "delay": "P1D", "max_times": 3}
    assert refusal(delayed, finished(runs=3), DONE + timedelta(days=5)) is not None
