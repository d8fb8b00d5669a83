"""What one engine pass does, shared by `tick`, the embedded scheduler and the RQ jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from app.services.dispatcher import DispatchStats, dispatch_due
from app.services.processor import ProcessorStats, process_due


@dataclass
class TickReport:
    now: datetime
    processor: ProcessorStats
    dispatcher: DispatchStats

    def summary(self) -> str:
        p, d = self.processor, self.dispatcher
        return (
            f"{self.now.isoformat()}: {p.enrollments} enrollment(s) advanced, {p.steps} step(s), "
            f"{p.emails} email(s) queued, {p.completed} completed, {p.exited} exited, "
            f"{p.failed} failed; sent {d.sent}, captured {d.captured}, failed {d.failed}, "
            f"retrying {d.retrying}, skipped {d.skipped}, unknown {d.unknown}, "
            f"requeued {d.requeued}"
        )


def run_processor(now: datetime) -> ProcessorStats:
    return process_due(now, current_app.config["PROCESSOR_BATCH_SIZE"])


def run_dispatcher(now: datetime) -> DispatchStats:
    return dispatch_due(now, current_app.config["DISPATCH_BATCH_SIZE"])


def run_tick(now: datetime) -> TickReport:
    """Process then dispatch, so an email that falls due is sent in the same tick."""
    return TickReport(now, run_processor(now), run_dispatcher(now))
