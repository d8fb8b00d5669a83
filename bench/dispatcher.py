"""Benchmark: the dispatcher against its ceiling, prebuilt messages over the same connections.

In one invocation, per worker count (1, then --workers): a throwaway PostgreSQL database
with N queued messages (N enrollments through the processor's first email step) and an
aiosmtpd sink in its own process. The project's `dispatch_due` sends the queued messages to
the sink; the reference sends messages of the same size and shape, built once with the
`email` package from what the project sent, through `smtplib` over the same number of SMTP
connections the project uses (SMTP_CONNECTIONS per worker process, one thread each). Prints
both rates in messages per second and their ratio. A second, durable reference
(bench/durable_reference.py) sends the same prebuilt messages with the project's own
durable writes (claim, group commit, outcomes and attempts) and nothing else: the project
over it is what the product's own work per message costs.

The three take turns (`--turns`: project, reference, durable, then durable, reference,
project, and so on), each turn sending the next slice of the messages: the queued messages
(twice N: the project's and the durable reference's) are due a slice an hour apart, and
the project's turn k dispatches at hour 2k. This VM's speed drifts within a minute (the
reference alone measured 422 to 2,213 messages/s in one hour), and measured one after the
other, the ratio followed the drift more than the code.

The first email is one line of text by default; `--body-kb N` makes it a designed email of
about N KB (a style sheet in the head, then sections of a heading with a personal field,
paragraphs, a list and a link, which is tracked: 39 links at 20 KB), as newsletters are.

    .venv/bin/python bench/dispatcher.py [--messages 5000] [--workers 2] [--body-kb 20]
        [--turns 2] [--profile FILE]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import multiprocessing
import smtplib
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.config import current_settings  # noqa: E402
from app.extensions import db  # noqa: E402
from app.mail.compose import compose_message  # noqa: E402
from app.mail.rendering import RenderedEmail  # noqa: E402
from app.models import OutboundMessage  # noqa: E402
from app.services.dispatcher import dispatch_due  # noqa: E402
from app.services.processor import process_due  # noqa: E402
from bench.durable_reference import Stored, durable_process, sent_at  # noqa: E402
from bench.harness import (  # noqa: E402
    BATCH,
    DEFINITION,
    T0,
    bench_config,
    in_processes,
    in_workers,
    say,
    seed,
    smtp_sink_process,
    throwaway_database,
)


def designed_email(kb: int) -> str:
    """About `kb` KB of a newsletter's HTML, in the shape email editors write."""
    head = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>News</title><style>'
        "body { font-family: Arial, sans-serif; } .lead { font-size: 18px; color: #333; }"
        '</style></head><body><table role="presentation" width="100%"><tr><td>'
    )
    section = (
        "<h2>What is new this week, {{ contact.first_name }}</h2>"
        '<p class="lead">Our team shipped a faster editor, new templates and a calendar '
        'view. <a href="https://example.com/blog/{n}?utm_source=news">Read the story</a>.</p>'
        "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
        "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
        "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat.</p>"
        "<ul><li>Faster loading</li><li>Dark mode</li><li>Calendar view</li></ul>"
    )
    sections = []
    while len(head) + sum(map(len, sections)) < kb * 1024:
        sections.append(section.replace("{n}", str(len(sections))))
    return head + "".join(sections) + "</td></tr></table></body></html>"


def definition(body_kb: int) -> dict:
    """The benchmark's sequence, its first email a designed one of `body_kb` KB (0: as is)."""
    if not body_kb:
        return DEFINITION
    designed = copy.deepcopy(DEFINITION)
    designed["steps"][0]["config"]["body"] = designed_email(body_kb)
    return designed


def queue_slices(app: Flask, count: int, body_kb: int, slices: int) -> tuple[list[int], int]:
    """Seed `count` enrollments and queue their first email, due in `slices` slices an hour
    apart; the slices' sizes and the SMTP connections a worker opens."""
    with app.app_context():
        upgrade()
        say(f"Seeding {count:,} enrollments and queueing their first email...")
        seed(count, definition(body_kb))
        process_due(T0, BATCH)
        sizes = due_in_slices(count, slices)
        connections = current_settings().smtp_connections
        db.session.remove()
        db.engine.dispose()
    return sizes, connections


def references_from_sent(app: Flask) -> tuple[list[bytes], Stored]:
    """What the references send and store: the messages the project sent first, prebuilt,
    and what it stored of the first one."""
    with app.app_context():
        sent_first = select(OutboundMessage).where(OutboundMessage.status == "sent")
        rows = list(db.session.scalars(sent_first.limit(1_000)))
        built = prebuilt(rows, current_settings().default_from_email)
        stored = (rows[0].subject, rows[0].html, rows[0].text, rows[0].links)
        db.session.remove()
        db.engine.dispose()
    return built, stored


def prebuilt(rows: list[OutboundMessage], from_email: str) -> list[bytes]:
    """The messages the project sent (their stored subject and parts, the same headers),
    each flattened to bytes once with the `email` package, before any timing."""
    return [
        compose_message(
            rendered=RenderedEmail(row.subject, row.html, row.text),
            from_email=from_email,
            from_name=None,
            to_email=row.to_email,
            to_name=row.to_email.partition("@")[0].capitalize(),
            message_id=row.message_id,
            unsubscribe_url=f"http://127.0.0.1:5000/u/{row.id}",
            sent_at=T0,
            list_name=("Bench: email, delay, email", f"{row.sequence_id}.bench.example"),
        ).as_bytes()
        for row in rows
    ]


def _send_over_one_connection(smtp_url: str, messages: list[bytes], start, done) -> None:
    host, port = smtp_url.removeprefix("smtp://").split(":")
    with smtplib.SMTP(host, int(port)) as conn:
        conn.ehlo()
        start.wait()
        for i, message in enumerate(messages):
            conn.sendmail("bench@bench.example", [f"person{i}@bench.example"], message)
    done.put(len(messages))


def reference_process(smtp_url: str, messages: list[bytes], connections: int, ready, go, done):
    """One process of the reference: `connections` threads, one SMTP connection each."""
    start = threading.Barrier(connections + 1)
    threads = [
        threading.Thread(
            target=_send_over_one_connection,
            args=(smtp_url, messages[i::connections], start, done),
        )
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    go.wait()
    start.wait()
    for thread in threads:
        thread.join()


def reference(smtp_url: str, messages: list[bytes], processes: int, connections: int) -> float:
    """Prebuilt messages through smtplib: `processes` x `connections`; seconds taken."""
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Barrier(processes + 1), context.Event(), context.Queue()
    procs = [
        context.Process(
            target=reference_process,
            args=(smtp_url, messages[i::processes], connections, ready, go, done),
        )
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    ready.wait()
    started = time.perf_counter()
    go.set()
    sent = sum(done.get(timeout=900) for _ in range(processes * connections))
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=60)
    assert sent == len(messages), (sent, len(messages))
    return elapsed


def due_in_slices(messages: int, slices: int) -> list[int]:
    """Make the queued messages due a slice an hour apart (slice k at T0 + k hours), in the
    order they were queued; the size of each slice."""
    slice_of = db.session.execute(
        text(
            "UPDATE outbound_messages m SET next_attempt_at = :t0 + s.k * interval '1 hour' "
            "FROM (SELECT id, (row_number() OVER (ORDER BY queued_at, id) - 1) * :slices "
            "/ :messages AS k FROM outbound_messages) s WHERE m.id = s.id RETURNING s.k"
        ),
        {"t0": T0, "slices": slices, "messages": messages},
    ).scalars()
    sizes = Counter(slice_of)
    db.session.commit()
    return [sizes[k] for k in range(slices)]


@dataclass
class Turns:
    """Messages sent and seconds taken, per side, over the turns."""

    project: list[tuple[int, float]] = field(default_factory=list)
    reference: list[tuple[int, float]] = field(default_factory=list)
    durable: list[tuple[int, float]] = field(default_factory=list)

    @staticmethod
    def rate(turns: list[tuple[int, float]]) -> float:
        return sum(n for n, _ in turns) / sum(seconds for _, seconds in turns)

    def ratios(self, side: str = "project", over: str = "reference") -> list[float]:
        """Each turn's rate of one side over another's in the same turn."""
        return [
            (sent / seconds) / (other_sent / other_seconds)
            for (sent, seconds), (other_sent, other_seconds) in zip(
                getattr(self, side), getattr(self, over), strict=True
            )
        ]


def run(
    messages: int, workers: int, profile: str | None, body_kb: int, turns: int
) -> tuple[Turns, int]:
    """One run in a fresh database: what each side sent and took per turn, and the
    connections per worker. In turn k the project sends the slice due at hour 2k, the
    reference as many messages prebuilt from what the project sent first, and the durable
    reference (bench/durable_reference.py) the slice due at hour 2k + 1; every other turn
    in the opposite order."""
    queued = messages if profile else 2 * messages
    with throwaway_database() as url, smtp_sink_process() as smtp_url:
        app = create_app(bench_config(url, smtp_url))
        sizes, connections = queue_slices(app, queued, body_kb, 1 if profile else 2 * turns)
        say(f"Project: dispatch_due, {workers} worker process(es) x {connections} connection(s)")
        if profile:  # one process, in this one, under the profiler
            with app.app_context():
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.enable()
                sent = dispatch_due(T0).sent
                profiler.disable()
                elapsed = time.perf_counter() - started
                profiler.dump_stats(profile)
                db.session.remove()
            say(f"  {sent / elapsed:,.0f} messages/s; profile written to {profile}")
            return Turns(project=[(sent, elapsed)]), connections
        say(f"References: prebuilt messages, {workers} process(es) x {connections} connection(s)")
        figures, built = Turns(), []
        stored: Stored = ("", "", "", [])
        dsn = "postgresql://" + url.split("://", 1)[1]

        def project_turn(k: int) -> None:
            due = T0 + timedelta(hours=2 * k)
            sent, elapsed = in_workers(url, smtp_url, "dispatch", due, workers)
            assert sent == sizes[2 * k], (sent, sizes[2 * k])
            figures.project.append((sent, elapsed))
            say(f"  turn {k + 1}, project:   {sent / elapsed:8,.0f} messages/s")

        def reference_turn(k: int) -> None:
            wanted = [built[i % len(built)] for i in range(sizes[2 * k])]
            elapsed = reference(smtp_url, wanted, workers, connections)
            figures.reference.append((sizes[2 * k], elapsed))
            say(f"  turn {k + 1}, reference: {sizes[2 * k] / elapsed:8,.0f} messages/s")

        def durable_turn(k: int) -> None:
            due = T0 + timedelta(hours=2 * k + 1)
            args = (dsn, smtp_url, due, built, stored, connections)
            sent, elapsed = in_processes(durable_process, args, workers)
            assert sent == sizes[2 * k + 1] == sent_at(dsn, due), (sent, sizes[2 * k + 1])
            figures.durable.append((sent, elapsed))
            say(f"  turn {k + 1}, durable:   {sent / elapsed:8,.0f} messages/s")

        for k in range(turns):
            if k % 2 == 0:
                project_turn(k)
            if not built:
                built, stored = references_from_sent(app)
                say(f"  (the references' messages: {len(built[0]):,} bytes each)")
            if k % 2 == 1:
                durable_turn(k)
            reference_turn(k)
            if k % 2 == 0:
                durable_turn(k)
            else:
                project_turn(k)
    return figures, connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--body-kb", type=int, default=0, help="a designed email of this size")
    parser.add_argument("--turns", type=int, default=2, help="slices each side sends, taking turns")
    parser.add_argument("--profile", help="write a cProfile of one in-process pass here")
    args = parser.parse_args()
    if args.profile:
        run(args.messages, 1, args.profile, args.body_kb, 1)
        return
    counts = sorted({1, args.workers})
    figures = {n: run(args.messages, n, None, args.body_kb, args.turns) for n in counts}
    shape = f"designed emails of {args.body_kb} KB" if args.body_kb else "one-line emails"
    say("")
    for n, (turns, connections) in figures.items():
        ref_rate, project = Turns.rate(turns.reference), Turns.rate(turns.project)
        durable = Turns.rate(turns.durable)
        ratios, of_durable = turns.ratios(), turns.ratios(over="durable")
        say(
            f"{n} worker(s) x {connections} SMTP connection(s): reference {ref_rate:,.0f} "
            f"messages/s, project {project:,.0f} messages/s, ratio {project / ref_rate:.0%} "
            f"(turns {min(ratios):.0%}-{max(ratios):.0%}; {args.messages:,} {shape})"
        )
        say(
            f"  durable reference (the project's writes, prebuilt messages) {durable:,.0f} "
            f"messages/s, {durable / ref_rate:.0%} of the reference; the project at "
            f"{project / durable:.0%} of it (turns {min(of_durable):.0%}-{max(of_durable):.0%})"
        )


if __name__ == "__main__":
    main()
