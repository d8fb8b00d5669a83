"""What every benchmark shares: a throwaway PostgreSQL database, an SMTP sink in its own
process, the app's settings for a run, a statement counter and a printer that flushes.

Each benchmark prints its own figures; run them from the repository root (`make bench`).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.mail.smtp_pool import start_relay  # noqa: E402
from app.models import Contact, Sequence  # noqa: E402
from app.services import accounts, sequences  # noqa: E402
from app.services.dispatcher import dispatch_due  # noqa: E402
from app.services.enrollment import enroll_contacts  # noqa: E402
from app.services.processor import process_due  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = int(os.environ.get("BENCH_BATCH", "1000"))
T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
DEFINITION = {
    "name": "Bench: email, delay, email",
    "steps": [
        {
            "id": "e1",
            "type": "email",
            "config": {
                "subject": "Hi {{ contact.first_name }}",
                "body": "<p>Hello {{ contact.first_name }}</p>",
            },
        },
        {"id": "wait", "type": "delay", "config": {"duration": "1 day"}},
        {
            "id": "e2",
            "type": "email",
            "config": {"subject": "Again, {{ contact.first_name }}", "body": "<p>Welcome back</p>"},
        },
    ],
    "connections": [{"source": "e1", "target": "wait"}, {"source": "wait", "target": "e2"}],
}


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def throwaway_database():
    name = f"pm_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    netloc = ADMIN_URL.split("://", 1)[1].split("/", 1)[0]
    try:
        yield f"postgresql+psycopg://{netloc}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def on_each_database(sizes: list[int], sqlite: bool, measure: Callable[[str, int, str], None]):
    """`measure(url, size, label)` per size on a throwaway PostgreSQL database, then (with
    `sqlite`) on a throwaway SQLite file."""
    for size in sizes:
        with throwaway_database() as url:
            measure(url, size, "PostgreSQL")
    if sqlite:
        for size in sizes:
            with tempfile.TemporaryDirectory() as folder:
                measure(f"sqlite:///{folder}/bench.db", size, "SQLite")


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    """The SQL statements issued inside the block (COPY through the driver is not seen). On
    PostgreSQL they are counted at the driver: the events API runs its one statement there."""
    seen: list[str] = []
    if db.engine.dialect.name == "postgresql":
        execute = psycopg.Cursor.execute

        def counted(cursor: psycopg.Cursor, query: Any, *args: Any, **kwargs: Any) -> Any:
            seen.append(str(query))
            return execute(cursor, query, *args, **kwargs)

        psycopg.Cursor.execute = counted  # type: ignore[method-assign]
        try:
            yield seen
        finally:
            psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        return

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


class MessageIdLog:
    """An aiosmtpd handler that appends each accepted message's Message-ID to a file, one a
    line: the sink's own count, to check a run against the database (every email once)."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the sink)

    @classmethod
    def from_cli(cls, parser: Any, path: str) -> MessageIdLog:
        return cls(path)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = re.search(rb"^Message-ID:\s*(\S+)", envelope.content, re.M | re.I)
        self.file.write((found.group(1) if found else b"-").decode() + "\n")
        return "250 OK"


def message_ids(path: str) -> list[str]:
    """The Message-IDs a `smtp_sink_process(log=path)` received so far."""
    return Path(path).read_text().splitlines() if Path(path).exists() else []


@contextmanager
def smtp_sink_process(log: str | None = None):
    """An aiosmtpd sink in its own process; with `log`, it writes each Message-ID there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = ["bench.harness.MessageIdLog", log] if log else ["aiosmtpd.handlers.Sink"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", *handler, "-l", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"smtp://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def seed(count: int, definition: dict[str, Any] = DEFINITION) -> Sequence:
    workspace = accounts.create_workspace("Bench")
    sequence = sequences.create_sequence(workspace, sequences.parse_input(definition))
    sequences.set_status(sequence, "activate", T0)
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "tenant_id": workspace.tenant_id,
            "workspace_id": workspace.id,
            "email": f"person{i}@bench.example",
            "first_name": f"Person{i}",
            "fields": {},
            "tags": [],
        }
        for i in range(count)
    ]
    for start in range(0, count, 10_000):
        db.session.execute(insert(Contact), rows[start : start + 10_000])
    db.session.commit()
    contacts = list(db.session.scalars(select(Contact)))
    started = time.perf_counter()
    enroll_contacts(sequence, contacts, T0)
    say(f"  enrolled {count:,} contacts in {time.perf_counter() - started:.1f} s")
    db.session.expunge_all()
    db.session.execute(text("ANALYZE"))  # a live database has statistics; a fresh one has none
    db.session.commit()
    return sequence


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def bench_config(url: str, smtp_url: str) -> dict[str, Any]:
    """The app's settings for a run: its own database and sink, no scheduler thread."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SMTP_URL": smtp_url,
        "EMBEDDED_SCHEDULER": False,
        "SECRET_KEY": "bench-only",
    }


def _worker(url: str, smtp_url: str, job: str, now: datetime, ready, go, results) -> None:
    """One worker process: build the app, wait for the start signal, drain the work."""
    app = create_app(bench_config(url, smtp_url))
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        if job == "dispatch":  # as the production worker does when it starts
            start_relay()
        ready.wait()
        go.wait()
        if job == "process":
            results.put(process_due(now, BATCH).steps)
        else:
            results.put(dispatch_due(now).sent)


def in_workers(url: str, smtp_url: str, job: str, now: datetime, workers: int) -> tuple[int, float]:
    """Run `job` in `workers` processes at once; returns (work done, wall seconds)."""
    return in_processes(_worker, (url, smtp_url, job, now), workers)


def in_processes(
    target: Callable[..., None], args: tuple[Any, ...], workers: int
) -> tuple[int, float]:
    """`target(*args, ready, go, results)` in `workers` spawned processes, timed from the
    moment all are ready; each puts its count of work done on `results`."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Barrier(workers + 1), context.Event(), context.Queue()
    procs = [
        context.Process(target=target, args=(*args, ready, go, results)) for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    ready.wait()
    started = time.perf_counter()
    go.set()
    done = sum(results.get(timeout=900) for _ in procs)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.join(timeout=60)
    return done, elapsed
