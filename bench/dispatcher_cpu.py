"""Benchmark: where a sent message's CPU goes, by process, for the dispatcher and its references.

`bench/dispatcher.py` prints rates; this prints what they cost. In one process, on a
throwaway PostgreSQL database with an aiosmtpd sink in its own process, in turns: a pass
of the project's `dispatch_due` over one slice of the queued messages, the prebuilt
reference over as many messages (smtplib threads, as `bench/dispatcher.py` runs it), and
the durable reference (`bench/durable_reference.py`) over the next slice. For each pass:
messages per second, how busy the machine was, and the CPU per message of this process,
its other children (the project's relay process), PostgreSQL (every server process, including
the connections that ended) and the sink; and how much of the pass the thread that runs it
was busy (the project's renders every message; the references' only start their threads).
PostgreSQL's background processes (the checkpointer, the WAL writer) count in whichever pass
they happen to run: with short passes the reference, which writes nothing, can show some.

    .venv/bin/python bench/dispatcher_cpu.py [--messages 12000] [--turns 3]
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.mail.smtp_pool import start_relay  # noqa: E402
from app.services.dispatcher import dispatch_due  # noqa: E402
from bench.dispatcher import (  # noqa: E402
    queue_slices,
    reference_process,
    references_from_sent,
)
from bench.durable_reference import durable_process  # noqa: E402
from bench.harness import (  # noqa: E402
    T0,
    bench_config,
    say,
    smtp_sink_process,
    throwaway_database,
)

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _processes() -> dict[int, list[str]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found[int(entry.name)] = _stat(int(entry.name))
            except OSError:  # it ended meanwhile
                continue
    return found


def _own(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def _reaped(fields: list[str]) -> float:
    return (int(fields[13]) + int(fields[14])) / TICK  # cutime, cstime: children waited for


class Meter:
    """CPU seconds so far, by part: this process, its children (live and ended),
    PostgreSQL's server processes (the postmaster's children, live and ended), the sink."""

    def __init__(self, dsn: str, sink_port: str) -> None:
        with psycopg.connect(dsn) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            self.postmaster = int(_stat(backend)[1])  # its parent
        self.sink = next(
            pid
            for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if f"127.0.0.1:{sink_port}".encode() in _cmdline(pid)
        )

    def read(self) -> dict[str, float]:
        processes = _processes()
        mine, postmaster = os.getpid(), self.postmaster
        cpu = os.times()
        return {
            "process": cpu.user + cpu.system,
            "children": cpu.children_user
            + cpu.children_system
            + sum(
                _own(f) for pid, f in processes.items() if int(f[1]) == mine and pid != self.sink
            ),
            "postgres": _own(processes[postmaster])
            + _reaped(processes[postmaster])
            + sum(_own(f) for f in processes.values() if int(f[1]) == postmaster),
            "sink": _own(processes[self.sink]),
        }


def _machine_ticks() -> tuple[int, int]:
    """The machine's idle (and iowait) ticks and all its ticks so far (/proc/stat)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return ticks[3] + ticks[4], sum(ticks)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def measured(meter: Meter, label: str, count: int, send: Callable[[], int]) -> None:
    """Run one pass, print its rate, the machine's load and its CPU per message by part."""
    before, (idle, total), started = meter.read(), _machine_ticks(), time.perf_counter()
    thread_started = time.thread_time()
    sent = send()
    elapsed, (idle_after, total_after) = time.perf_counter() - started, _machine_ticks()
    thread_busy = (time.thread_time() - thread_started) / elapsed
    time.sleep(0.5)  # the pass's closed connections' server processes end and are reaped
    after = meter.read()
    assert sent == count, (label, sent, count)
    spent = {part: (after[part] - before[part]) / sent * 1_000 for part in after}
    busy = 1 - (idle_after - idle) / (total_after - total)
    say(
        f"  {label:<10} {sent / elapsed:8,.0f} msg/s   machine {busy:4.0%} busy   CPU ms per "
        f"message: this process {spent['process']:.3f}, its children {spent['children']:.3f}, "
        f"PostgreSQL {spent['postgres']:.3f}, sink {spent['sink']:.3f}   the pass's own "
        f"thread busy {thread_busy:4.0%}"
    )


class _Signal:
    """A barrier or event that is already passed: the references run in this process."""

    def wait(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=12_000, help="queued, both slices")
    parser.add_argument("--turns", type=int, default=3)
    args = parser.parse_args()
    with throwaway_database() as url, smtp_sink_process() as smtp_url:
        dsn = "postgresql://" + url.split("://", 1)[1]
        app = create_app(bench_config(url, smtp_url))
        sizes, connections = queue_slices(app, args.messages, 0, 2 * args.turns)
        meter = Meter(dsn, smtp_url.rsplit(":", 1)[1])
        start_relay()  # as a worker does when it starts, before its first pass
        say(f"In this process, {connections} SMTP connection(s) each:")
        built: list[bytes] = []
        for k in range(args.turns):
            due = T0 + timedelta(hours=2 * k)
            measured(meter, "project", sizes[2 * k], partial(project_pass, app, due))
            if not built:
                built, stored = references_from_sent(app)
            wanted = [built[i % len(built)] for i in range(sizes[2 * k])]
            reference = partial(reference_pass, smtp_url, wanted, connections)
            measured(meter, "reference", sizes[2 * k], reference)
            durable_due = due + timedelta(hours=1)
            durable = partial(durable_pass, dsn, smtp_url, durable_due, built, stored, connections)
            measured(meter, "durable", sizes[2 * k + 1], durable)


def project_pass(app: Flask, due: datetime) -> int:
    with app.app_context():
        return dispatch_due(due).sent


def reference_pass(smtp_url: str, messages: list[bytes], connections: int) -> int:
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    reference_process(smtp_url, messages, connections, _Signal(), _Signal(), done)
    return sum(done.get() for _ in range(connections))


def durable_pass(*args: Any) -> int:
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    durable_process(*args, _Signal(), _Signal(), done)
    return done.get()


if __name__ == "__main__":
    main()
