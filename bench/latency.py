"""Benchmark: due-to-sent latency in worker mode, against a bare polling loop's.

The real stack on this machine: a throwaway PostgreSQL database, Redis (db 14 by default,
flushed), gunicorn serving the app (2 workers), `rq worker`s (2, the production class) and
one `rq cron jobs.cron`, and an aiosmtpd sink in its own process that records when it
accepts each message and for whom.

- **Due path**: enrollments at a one-email sequence's email step fall due at --rate per
  second for --seconds; each one's latency is its message's acceptance at the sink minus
  its due time.
- **Event path**: enrollments waiting for an event (wait_until, then an email); the bench
  POSTs /api/events for them at --event-rate per second; each one's latency is the email's
  acceptance minus the moment the API answered.
- **Reference**: a bare loop that polls a table of due times every 10 ms (one DELETE ...
  RETURNING with SKIP LOCKED) and sends a prebuilt message over one SMTP connection to the
  same sink, at the same rate: what a due message costs with no engine at all.

Prints p50/p99/max of each, and of each path's stages (to the message's queueing by a
processor pass, the wait for a dispatcher pass, that pass's SMTP transaction), the ratio of
the due path's p99 to the reference's, and the verdict against the goal (p99 <= 1 s,
issue 19).

    .venv/bin/python bench/latency.py [--seconds 60] [--rate 200] [--event-rate 50]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import multiprocessing
import os
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from flask_migrate import upgrade
from rq import Worker
from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Contact  # noqa: E402
from app.services import accounts, sequences  # noqa: E402
from app.services.enrollment import enroll_contacts  # noqa: E402
from app.services.processor import process_due  # noqa: E402
from bench.harness import bench_config, say, throwaway_database  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WORKER_CLASS = "jobs.worker.InProcessWorker"
GOAL_SECONDS = 1.0
FLOOR_POLL_SECONDS = 0.01
FLOOR_MESSAGE = b"From: floor@bench.example\r\nSubject: Floor\r\n\r\nHi\r\n"
FAR_AWAY = datetime(2100, 1, 1, tzinfo=UTC)
ONE_EMAIL = {
    "name": "Bench: due",
    "steps": [{"id": "hi", "type": "email", "config": {"subject": "Due", "body": "<p>Hi</p>"}}],
    "connections": [],
}
EVENT = "bench_go"
WAIT_THEN_EMAIL = {
    "name": "Bench: event",
    "steps": [
        {
            "id": "wait",
            "type": "wait_until",
            "config": {"conditions": [{"event": EVENT, "timeout": "7 days"}]},
        },
        {"id": "go", "type": "email", "config": {"subject": "Go", "body": "<p>Go</p>"}},
        {"id": "done", "type": "end"},
    ],
    "connections": [
        {"source": "wait", "target": "go", "label": "met"},
        {"source": "wait", "target": "done", "label": "timeout"},
    ],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Recorder:
    """An aiosmtpd handler that writes `<acceptance time>\\t<recipient>` per message."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "a", buffering=1)  # noqa: SIM115 (open for the process's life)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        accepted = time.time()
        for rcpt in envelope.rcpt_tos:
            self.out.write(f"{accepted}\t{rcpt.lower()}\n")
        return "250 Message accepted for delivery"


def _sink(port: int, path: str, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Recorder(path), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


@contextmanager
def recording_sink(folder: str) -> Iterator[tuple[str, str]]:
    """An SMTP sink in its own process; yields (smtp URL, the file of acceptances)."""
    port, path = free_port(), os.path.join(folder, "accepted.tsv")
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Event(), context.Event()
    proc = context.Process(target=_sink, args=(port, path, ready, stop), daemon=True)
    proc.start()
    assert ready.wait(30), "the SMTP sink did not start"
    try:
        yield f"smtp://127.0.0.1:{port}", path
    finally:
        stop.set()
        proc.join(10)


def accepted(path: str) -> dict[str, float]:
    """Each recipient's first acceptance time at the sink."""
    seen: dict[str, float] = {}
    if os.path.exists(path):
        with open(path) as lines:
            for line in lines:
                moment, _, rcpt = line.rstrip("\n").partition("\t")
                if rcpt:
                    seen.setdefault(rcpt, float(moment))
    return seen


def wait_for(path: str, recipients: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        seen = accepted(path)
        if recipients <= seen.keys() or time.monotonic() > deadline:
            return {rcpt: seen[rcpt] for rcpt in recipients if rcpt in seen}
        time.sleep(0.2)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; infinite when nothing arrived."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.inf


def summary(latencies: list[float], expected: int) -> str:
    if not latencies:
        return "nothing arrived"
    return (
        f"p50 {percentile(latencies, 0.5) * 1000:,.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:,.0f} ms, max {max(latencies) * 1000:,.0f} ms "
        f"({len(latencies):,}/{expected:,} arrived)"
    )


# The reference: a bare polling loop


def _floor(url: str, smtp_port: int, total: int, ready: Any) -> None:
    sent = 0
    with (
        psycopg.connect(url, autocommit=True) as conn,
        smtplib.SMTP("127.0.0.1", smtp_port) as smtp,
    ):
        ready.set()
        while sent < total:
            due = conn.execute(
                "DELETE FROM bench_floor WHERE n IN (SELECT n FROM bench_floor"
                " WHERE due_at <= clock_timestamp() ORDER BY due_at LIMIT 1000"
                " FOR UPDATE SKIP LOCKED) RETURNING n"
            ).fetchall()
            for (n,) in due:
                smtp.sendmail("floor@bench.example", [f"floor{n}@bench.example"], FLOOR_MESSAGE)
            sent += len(due)
            if not due:
                time.sleep(FLOOR_POLL_SECONDS)


def reference(url: str, smtp_url: str, sink_path: str, seconds: float, rate: float) -> list[float]:
    """The bare loop's latencies, from each row's due time to its acceptance."""
    total, plain = int(seconds * rate), libpq(url)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_floor (n int PRIMARY KEY, due_at timestamptz NOT NULL)")
        conn.execute("CREATE INDEX ON bench_floor (due_at)")
        context = multiprocessing.get_context("spawn")
        ready = context.Event()
        port = int(smtp_url.rsplit(":", 1)[1])
        loop = context.Process(target=_floor, args=(plain, port, total, ready))
        loop.start()
        assert ready.wait(60), "the reference loop did not start"
        start = time.time() + 0.5
        due = {f"floor{n}@bench.example": start + n / rate for n in range(total)}
        with conn.cursor().copy("COPY bench_floor (n, due_at) FROM STDIN") as copy:
            for n in range(total):
                copy.write_row((n, datetime.fromtimestamp(start + n / rate, UTC)))
    loop.join(seconds + 60)
    seen = wait_for(sink_path, set(due), 5)
    return [seen[rcpt] - due[rcpt] for rcpt in seen]


def libpq(url: str) -> str:
    """The SQLAlchemy URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


# The stack


def seed(url: str, due_count: int, event_count: int) -> tuple[str, uuid.UUID]:
    """Both sequences and their enrollments: the due ones parked far away (the stack is not
    up yet), the event ones already waiting. Returns (API token, due sequence id)."""
    app = create_app(bench_config(url, ""))
    with app.app_context():
        upgrade()
        workspace = accounts.create_workspace("Latency")
        token = accounts.create_token(workspace)
        now = datetime.now(UTC)
        made = {}
        for key, definition, count in (
            ("due", ONE_EMAIL, due_count),
            ("event", WAIT_THEN_EMAIL, event_count),
        ):
            sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
            sequences.set_status(sequence, "activate", now)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": workspace.tenant_id,
                    "workspace_id": workspace.id,
                    "email": f"{key}{i}@bench.example",
                    "first_name": f"{key}{i}",
                    "fields": {},
                    "tags": [],
                }
                for i in range(count)
            ]
            db.session.execute(insert(Contact), rows)
            db.session.commit()
            contacts = list(
                db.session.scalars(select(Contact).where(Contact.email.like(f"{key}%")))
            )
            enroll_contacts(sequence, contacts, now)
            made[key] = sequence.id
        db.session.execute(
            text("UPDATE contact_sequences SET next_execution_at = :far WHERE sequence_id = :seq"),
            {"far": FAR_AWAY, "seq": made["due"]},
        )
        db.session.commit()
        process_due(now + timedelta(seconds=1))  # the event ones enter their wait
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token, made["due"]


@contextmanager
def stack(url: str, smtp_url: str, folder: str, workers: int, worker_class: str) -> Iterator[int]:
    """gunicorn, the rq workers and `rq cron`, each in its own process; yields the web port."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "SMTP_URL": smtp_url,
        "SECRET_KEY": "bench-only",
        "EMBEDDED_SCHEDULER": "0",
    }
    binary = Path(sys.executable).parent
    commands = [
        [str(binary / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "app:create_app()"],
        *[
            [str(binary / "rq"), "worker", "-w", worker_class, "--url", REDIS_URL, "default"]
            for _ in range(workers)
        ],
        [str(binary / "rq"), "cron", "--url", REDIS_URL, "jobs.cron"],
    ]
    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    with ExitStack() as stop:
        procs = []
        for i, command in enumerate(commands):
            log = stop.enter_context(open(os.path.join(folder, f"proc{i}.log"), "w"))
            procs.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if len(Worker.all(connection=conn)) == workers and _answers(port):
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError(f"the stack did not start: see the logs in {folder}")
            yield port
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                proc.wait(60)
            conn.flushdb()


def _answers(port: int) -> bool:
    try:
        web = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        web.request("GET", "/healthz")
        return web.getresponse().status == 200
    except OSError:
        return False


def due_path(
    url: str, sequence_id: uuid.UUID, sink: str, seconds: float, rate: float
) -> list[float]:
    """Make the parked enrollments fall due at `rate` per second from a second from now."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        rows = conn.execute(
            "UPDATE contact_sequences cs SET next_execution_at = %(start)s"
            " + make_interval(secs => r.n / %(rate)s)"
            " FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM contact_sequences"
            "       WHERE sequence_id = %(seq)s) r, contacts c"
            " WHERE cs.id = r.id AND c.id = cs.contact_id"
            " RETURNING c.email, cs.next_execution_at",
            {"start": start, "rate": float(rate), "seq": sequence_id},
        ).fetchall()
    due = {email.lower(): at.timestamp() for email, at in rows}
    seen = wait_for(sink, set(due), seconds + 60)
    print_stages(url, due, seen, "due -> processor pass")
    return [seen[rcpt] - due[rcpt] for rcpt in seen]


def print_stages(url: str, started: dict[str, float], seen: dict[str, float], first: str) -> None:
    """Where each message's time went: `first` (from `started` to its queueing by a
    processor pass), the wait for a dispatcher pass, and that pass's SMTP transaction."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        stages = conn.execute(
            "SELECT lower(m.to_email), m.queued_at, m.claimed_at FROM outbound_messages m"
            " WHERE lower(m.to_email) = ANY(%s) AND m.claimed_at IS NOT NULL",
            (list(started),),
        ).fetchall()
    processor = [queued.timestamp() - started[rcpt] for rcpt, queued, _ in stages]
    dispatcher = [claimed.timestamp() - queued.timestamp() for _, queued, claimed in stages]
    sending = [seen[rcpt] - claimed.timestamp() for rcpt, _, claimed in stages if rcpt in seen]
    for stage, figures in (
        (first, processor),
        ("queued -> dispatcher pass", dispatcher),
        ("dispatcher pass -> accepted", sending),
    ):
        say(f"  {stage}: {summary(figures, len(started))}")


def event_path(url: str, port: int, token: str, sink: str, count: int, rate: float) -> list[float]:
    """POST one event per waiting contact at `rate` per second (4 client threads)."""
    answered: dict[str, float] = {}
    start = time.monotonic() + 0.5
    failures: list[str] = []

    def post(offset: int) -> None:
        for i in range(offset, count, 4):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            email = f"event{i}@bench.example"
            body = json.dumps({"contact": {"email": email}, "event": EVENT})
            web = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            web.request("POST", "/api/events", body=body, headers=headers)
            response = web.getresponse()
            response.read()
            answered[email] = time.time()
            if response.status != 202:
                failures.append(f"{email}: {response.status}")
            web.close()

    threads = [threading.Thread(target=post, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]
    seen = wait_for(sink, set(answered), 60)
    print_stages(url, answered, seen, "API answer -> processor pass")
    return [seen[rcpt] - answered[rcpt] for rcpt in seen]


def run(seconds: float, rate: float, event_rate: float, workers: int, worker_class: str) -> None:
    due_count, event_count = int(seconds * rate), int(seconds * event_rate)
    with (
        tempfile.TemporaryDirectory() as folder,
        throwaway_database() as url,
        recording_sink(folder) as (smtp_url, sink),
    ):
        poll = FLOOR_POLL_SECONDS * 1000
        say(f"Reference: a bare loop polling every {poll:.0f} ms, {rate:g} due per second:")
        floor = reference(url, smtp_url, sink, seconds, rate)
        say(f"  due -> accepted: {summary(floor, due_count)}")
        say(f"Seeding {due_count:,} due and {event_count:,} waiting enrollments...")
        token, due_sequence = seed(url, due_count, event_count)
        with stack(url, smtp_url, folder, workers, worker_class) as port:
            say(f"Stack: gunicorn -w 2, {workers} x rq worker -w {worker_class}, rq cron")
            say(f"Due path, {rate:g} enrollments due per second for {seconds:g} s:")
            due = due_path(url, due_sequence, sink, seconds, rate)
            say(f"  due -> accepted: {summary(due, due_count)}")
            say(f"Event path, {event_rate:g} events per second for {seconds:g} s:")
            woken = event_path(url, port, token, sink, event_count, event_rate)
            say(f"  API answer -> accepted: {summary(woken, event_count)}")
    say("")
    floor99, due99 = percentile(floor, 0.99), percentile(due, 0.99)
    event99 = percentile(woken, 0.99)
    say(
        f"due-to-sent p99: project {due99 * 1000:,.0f} ms, bare loop {floor99 * 1000:,.0f} ms "
        f"(ratio {due99 / floor99:,.1f}x); goal {GOAL_SECONDS * 1000:,.0f} ms: "
        f"{'met' if due99 <= GOAL_SECONDS and len(due) == due_count else 'NOT met'}"
    )
    say(
        f"event-to-sent p99: {event99 * 1000:,.0f} ms; goal {GOAL_SECONDS * 1000:,.0f} ms: "
        f"{'met' if event99 <= GOAL_SECONDS and len(woken) == event_count else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=200, help="enrollments due per second")
    parser.add_argument("--event-rate", type=float, default=50, help="events posted per second")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default=WORKER_CLASS)
    args = parser.parse_args()
    run(args.seconds, args.rate, args.event_rate, args.workers, args.worker_class)


if __name__ == "__main__":
    main()
