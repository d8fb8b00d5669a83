"""Small helpers shared by tests: load definitions, drive the CLI clock in or out of process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from flask import Flask
from rq import Queue, SimpleWorker

from jobs.worker import PromptShutdown

ROOT = Path(__file__).resolve().parent.parent
ONBOARDING = ROOT / "app" / "seed_data" / "onboarding.yaml"


def onboarding_definition() -> dict[str, Any]:
    return yaml.safe_load(ONBOARDING.read_text())


THE_DAY_WRITTEN_FOR = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
"""The morning before the fixed instants the engine tests tick at (`wall_clock` marker)."""


def tick(app: Flask, now: datetime) -> str:
    """Run `flask sequences tick --now ...` exactly as an operator would."""
    result = app.test_cli_runner().invoke(args=["sequences", "tick", "--now", now.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def cheapest_cpu_seconds(action: Callable[[], object], tries: int = 3) -> float:
    """The least CPU time this thread spent on the action in a few tries.

    A test of how a cost grows compares two of these: another process on the cores or a VM
    running slow moves both alike, where a wall-clock bound once failed CI on a slow day.
    """
    costs = []
    for _ in range(tries):
        started = time.thread_time()
        action()
        costs.append(time.thread_time() - started)
    return min(costs)


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def tick_process(now: datetime, env: dict[str, str]) -> subprocess.Popen[str]:
    """`flask sequences tick --now ...` in its own process, as cron or an operator runs it."""
    command = [sys.executable, "-m", "flask", "--app", "app:create_app", "sequences", "tick"]
    return subprocess.Popen(
        [*command, "--now", now.isoformat()],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


RQ_WORKER = [sys.executable, "-m", "rq.cli", "worker", "-w", "jobs.worker.InProcessWorker"]
"""The worker command production runs (`rq worker -w jobs.worker.InProcessWorker`)."""


class BurstWorker(PromptShutdown, SimpleWorker):
    """An in-process rq worker (jobs run in the test's app context) that stops promptly."""


def run_burst_worker(queue: Queue) -> None:
    """Run every job on `queue` in this process, then stop."""
    BurstWorker([queue], connection=queue.connection).work(burst=True)
