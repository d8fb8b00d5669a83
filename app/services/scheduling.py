"""What one engine pass does, shared by `tick`, the embedded scheduler and the RQ jobs.

Each periodic pass takes the moment once, from its caller, and returns the one-line report
that the embedded scheduler logs and an RQ job keeps as its result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.config import current_settings
from app.services import goals, inbox
from app.services.ab_tests import evaluate_tests
from app.services.call_delivery import CallStats, deliver_due
from app.services.contact_import import process_pending
from app.services.dispatcher import DispatchStats, dispatch_due
from app.services.events import purge_receipts
from app.services.processor import ProcessorStats, process_due
from app.services.segments import refresh_all
from app.services.tracking import purge_tracking_hits


@dataclass
class TickReport:
    now: datetime
    processor: ProcessorStats
    dispatcher: DispatchStats
    calls: CallStats
    decided: int = 0  # A/B tests decided at the start of the tick

    def summary(self) -> str:
        p, d, c = self.processor, self.dispatcher, self.calls
        return (
            f"{self.now.isoformat()}: {p.enrollments} enrollment(s) advanced, {p.steps} step(s), "
            f"{p.emails} email(s) queued, {p.completed} completed, {p.exited} exited, "
            f"{p.failed} failed; sent {d.sent}, captured {d.captured}, failed {d.failed}, "
            f"retrying {d.retrying}, skipped {d.skipped}, unknown {d.unknown}, "
            f"requeued {d.requeued}; calls delivered {c.delivered}, retrying {c.retrying}, "
            f"failed {c.failed}; A/B tests decided {self.decided}"
        )


def run_processor(now: datetime) -> ProcessorStats:
    return process_due(now, current_settings().processor_batch_size)


def run_dispatcher(now: datetime) -> DispatchStats:
    return dispatch_due(now, current_settings().dispatch_batch_size)


def run_call_delivery(now: datetime) -> CallStats:
    settings = current_settings()
    return deliver_due(now, settings.call_batch_size, settings.call_lease_seconds)


def run_tick(now: datetime) -> TickReport:
    """Decide the A/B tests that can be, then process, dispatch and deliver calls, so what
    falls due goes out in the same tick, and with a winner as soon as there is one."""
    decided = evaluate_tests(now)
    processed = run_processor(now)
    return TickReport(now, processed, run_dispatcher(now), run_call_delivery(now), decided)


def process_sequences(now: datetime) -> str:
    """The sequence processor: advance every due enrollment."""
    stats = run_processor(now)
    return f"advanced {stats.enrollments} enrollment(s), {stats.steps} step(s)"


def dispatch_mail(now: datetime) -> str:
    """The mail dispatcher: send every queued message that is due."""
    stats = run_dispatcher(now)
    return (
        f"sent {stats.sent}, captured {stats.captured}, failed {stats.failed}, "
        f"unknown {stats.unknown}, requeued {stats.requeued}"
    )


def deliver_calls(now: datetime) -> str:
    """The call delivery job: make every outside call (webhook, ...) that is due."""
    stats = run_call_delivery(now)
    return f"delivered {stats.delivered}, retrying {stats.retrying}, failed {stats.failed}"


def purge_event_receipts(now: datetime) -> str:
    """Forget the events API's client ids older than the idempotency window (24 hours) and
    the tracking endpoints' claims older than their dedup window (a minute)."""
    purged = purge_receipts(now)
    hits = purge_tracking_hits(now)
    return f"purged {purged} event receipt(s), {hits} tracking hit(s)"


def process_contact_imports(now: datetime) -> str:
    """The next chunk of the oldest unfinished CSV import of contacts."""
    return f"imported {process_pending(now)} row(s)"


def refresh_segments(now: datetime) -> str:
    """Re-evaluate rule segments for everyone: rules that change with time alone."""
    return f"{refresh_all(now)} segment join(s) and leave(s)"


def monitor_goals(now: datetime) -> str:
    """The goal monitor: convert goals no event announced (a field set by an import)."""
    return f"recorded {goals.monitor(now)} conversion(s)"


def evaluate_ab_tests(now: datetime) -> str:
    """The A/B evaluation: decide every test whose variants have enough sends (or whose time
    is up), so later sends of the step use the winner."""
    return f"decided {evaluate_tests(now)} A/B test(s)"


def poll_inboxes(now: datetime) -> str:
    """Read every connected mailbox's new messages: replies, bounces, complaints."""
    reports = inbox.poll_all(now)
    failed = sum(1 for report in reports if report.error)
    new = sum(report.new for report in reports)
    return f"polled {len(reports)} mailbox(es): {new} new message(s), {failed} failed"
