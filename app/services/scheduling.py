"""What one engine pass does, shared by `tick`, the embedded scheduler and the RQ jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app

from app.services.call_delivery import CallStats, deliver_due
from app.services.dispatcher import DispatchStats, dispatch_due
from app.services.processor import ProcessorStats, process_due


@dataclass
class TickReport:
    now: datetime
    processor: ProcessorStats
    dispatcher: DispatchStats
    calls: CallStats

    def summary(self) -> str:
        p, d, c = self.processor, self.dispatcher, self.calls
        return (
            f"{self.now.isoformat()}: {p.enrollments} enrollment(s) advanced, {p.steps} step(s), "
            f"{p.emails} email(s) queued, {p.completed} completed, {p.exited} exited, "
            f"{p.failed} failed; sent {d.sent}, captured {d.captured}, failed {d.failed}, "
            f"retrying {d.retrying}, skipped {d.skipped}, unknown {d.unknown}, "
            f"requeued {d.requeued}; calls delivered {c.delivered}, retrying {c.retrying}, "
            f"failed {c.failed}"
        )


def run_processor(now: datetime) -> ProcessorStats:
    return process_due(now, current_app.config["PROCESSOR_BATCH_SIZE"])


def run_dispatcher(now: datetime) -> DispatchStats:
    return dispatch_due(now, current_app.config["DISPATCH_BATCH_SIZE"])


def run_call_delivery(now: datetime) -> CallStats:
    config = current_app.config
    return deliver_due(now, config["CALL_BATCH_SIZE"], config["CALL_LEASE_SECONDS"])


def run_tick(now: datetime) -> TickReport:
    """Process, then dispatch and deliver calls, so what falls due goes out in the same tick."""
    return TickReport(now, run_processor(now), run_dispatcher(now), run_call_delivery(now))
