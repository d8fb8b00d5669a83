"""What one engine pass does, shared by `tick`, the embedded scheduler and the RQ jobs.

Each periodic pass takes the moment once, from its caller, and returns its report: the
one-line text the embedded scheduler logs and an RQ job keeps as its result, and the counts
`job_runs` keeps running totals of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from app.config import current_settings
from app.services import goals, inbox, job_runs, retention
from app.services.ab_tests import evaluate_tests
from app.services.call_delivery import CallStats, deliver_due
from app.services.contact_import import process_pending
from app.services.dispatcher import DispatchStats, dispatch_due
from app.services.events import purge_receipts
from app.services.job_runs import PassReport
from app.services.processor import ProcessorStats, process_due
from app.services.segments import refresh_all
from app.services.tracking import purge_tracking_hits


@dataclass
class TickReport:
    now: datetime
    ab_tests: PassReport
    processor: PassReport
    dispatcher: PassReport
    calls: PassReport

    def summary(self) -> str:
        p, d, c = self.processor.counts, self.dispatcher.counts, self.calls.counts
        return (
            f"{self.now.isoformat()}: {p['enrollments']} enrollment(s) advanced, "
            f"{p['steps']} step(s), {p['emails']} email(s) queued, {p['completed']} completed, "
            f"{p['exited']} exited, {p['failed']} failed; sent {d['sent']}, captured "
            f"{d['captured']}, failed {d['failed']}, retrying {d['retrying']}, skipped "
            f"{d['skipped']}, unknown {d['unknown']}, requeued {d['requeued']}; calls delivered "
            f"{c['delivered']}, retrying {c['retrying']}, failed {c['failed']}; A/B tests "
            f"decided {self.ab_tests.counts['decided']}"
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
    falls due goes out in the same tick, and with a winner as soon as there is one. Each
    is recorded as its periodic pass, so the health page sees a tick-driven engine too."""
    passes = (evaluate_ab_tests, process_sequences, dispatch_mail, deliver_calls)
    return TickReport(now, *(job_runs.record(work.__name__, work, now) for work in passes))


def process_sequences(now: datetime) -> PassReport:
    """The sequence processor: advance every due enrollment."""
    stats = run_processor(now)
    return PassReport(
        f"advanced {stats.enrollments} enrollment(s), {stats.steps} step(s)", asdict(stats)
    )


def dispatch_mail(now: datetime) -> PassReport:
    """The mail dispatcher: send every queued message that is due."""
    stats = run_dispatcher(now)
    return PassReport(
        f"sent {stats.sent}, captured {stats.captured}, failed {stats.failed}, "
        f"unknown {stats.unknown}, requeued {stats.requeued}",
        asdict(stats),
    )


def deliver_calls(now: datetime) -> PassReport:
    """The call delivery job: make every outside call (webhook, ...) that is due."""
    stats = run_call_delivery(now)
    return PassReport(
        f"delivered {stats.delivered}, retrying {stats.retrying}, failed {stats.failed}",
        asdict(stats),
    )


def purge_event_receipts(now: datetime) -> PassReport:
    """Forget the events API's client ids older than the idempotency window (24 hours) and
    the tracking endpoints' claims older than their dedup window (a minute)."""
    purged = purge_receipts(now)
    hits = purge_tracking_hits(now)
    return PassReport(
        f"purged {purged} event receipt(s), {hits} tracking hit(s)",
        {"receipts": purged, "tracking_hits": hits},
    )


def process_contact_imports(now: datetime) -> PassReport:
    """The next chunk of the oldest unfinished CSV import of contacts."""
    rows = process_pending(now)
    return PassReport(f"imported {rows} row(s)", {"rows": rows})


def refresh_segments(now: datetime) -> PassReport:
    """Re-evaluate rule segments for everyone: rules that change with time alone."""
    changes = refresh_all(now)
    return PassReport(f"{changes} segment join(s) and leave(s)", {"changes": changes})


def monitor_goals(now: datetime) -> PassReport:
    """The goal monitor: convert goals no event announced (a field set by an import)."""
    conversions = goals.monitor(now)
    return PassReport(f"recorded {conversions} conversion(s)", {"conversions": conversions})


def evaluate_ab_tests(now: datetime) -> PassReport:
    """The A/B evaluation: decide every test whose variants have enough sends (or whose time
    is up), so later sends of the step use the winner."""
    decided = evaluate_tests(now)
    return PassReport(f"decided {decided} A/B test(s)", {"decided": decided})


def poll_inboxes(now: datetime) -> PassReport:
    """Read every connected mailbox's new messages: replies, bounces, complaints."""
    reports = inbox.poll_all(now)
    failed = sum(1 for report in reports if report.error)
    new = sum(report.new for report in reports)
    return PassReport(
        f"polled {len(reports)} mailbox(es): {new} new message(s), {failed} failed",
        {"mailboxes": len(reports), "new": new, "failed": failed},
    )


def retain_history(now: datetime) -> PassReport:
    """Retention: trim the bodies, attempts and events of finished work older than
    RETENTION_DAYS, in bounded chunks (nothing when it is 0)."""
    days = current_settings().retention_days
    if not days:
        return PassReport("off (RETENTION_DAYS is 0)", retention.Retained().counts())
    done = retention.retain(now, days)
    return PassReport(done.text(days), done.counts())
