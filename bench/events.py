"""Benchmark: the events API under gunicorn against a bare WSGI app on the same machine.

In one invocation, on a throwaway PostgreSQL database:
- the reference: a plain WSGI function (one psycopg connection per worker process) under
  gunicorn with the production settings (README: `gunicorn -w 4`, sync workers), storing a
  single event with one INSERT and a batch of 100 with one COPY;
- the project: `gunicorn 'app:create_app()'` with the same settings, POST /api/events with
  a real API token, one event per request and then batches of 100, for contacts that exist
  (by email) and some new ones (one in ten), every event with its own client id.

The load comes from client processes, each running several concurrent requests (asyncio,
raw HTTP/1.1; gunicorn's sync workers close every connection, so each request connects).
Both servers run side by side, and each measure is split into `--slices` turns taken by
the reference and the project in turn: this VM's speed drifts by a third within an hour,
and measured one after the other, the first to run was the faster whatever it ran.
Printed per run: requests/s, events/s, p50/p99 latency, the project/reference ratio, and
the SQL statements one request issues (counted in-process with the test client).

    .venv/bin/python bench/events.py [--seconds 10] [--slices 4] [--workers 4] [--clients 2]
        [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from flask_migrate import upgrade
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Contact  # noqa: E402
from app.services import accounts, sequences  # noqa: E402
from bench.harness import counted_statements, say, throwaway_database  # noqa: E402

KNOWN = 10_000  # contacts the workspace has before the run
BATCH = 100
NEW_EVERY = 10  # one event in ten names a contact the workspace does not have yet
REFERENCE_TABLE = """
CREATE TABLE reference_events (
    id bigserial PRIMARY KEY, workspace_id uuid NOT NULL, email varchar(320) NOT NULL,
    type varchar(64) NOT NULL, properties jsonb NOT NULL, occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL
)"""
TRIGGERED = {  # an active sequence on another event: the workspace has triggers to check
    "name": "Trial follow-up",
    "trigger": {"type": "api_event", "event": "trial_started"},
    "steps": [{"id": "e1", "type": "email", "config": {"subject": "Hi", "body": "<p>Hi</p>"}}],
    "connections": [],
}


# --- the reference: a bare WSGI app, as little as storing an event can be ------------------

_reference_conn: psycopg.Connection | None = None


def reference(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """POST one event (one INSERT, autocommit) or a list of them (one COPY); 202 with the
    count."""
    global _reference_conn
    if _reference_conn is None:
        _reference_conn = psycopg.connect(os.environ["REFERENCE_DSN"], autocommit=True)
    if environ["REQUEST_METHOD"] != "POST":  # the readiness probe
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length))
    events = body if isinstance(body, list) else [body]
    now = datetime.now(UTC)
    workspace = os.environ["REFERENCE_WORKSPACE"]
    rows = [
        (
            workspace,
            e["contact"]["email"],
            e["event"],
            json.dumps(e.get("properties") or {}),
            e.get("occurred_at") or now,
            now,
        )
        for e in events
    ]
    columns = "workspace_id, email, type, properties, occurred_at, recorded_at"
    with _reference_conn.cursor() as cur:
        if len(rows) == 1:
            cur.execute(
                f"INSERT INTO reference_events ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",
                rows[0],
            )
        else:
            with cur.copy(f"COPY reference_events ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    answer = json.dumps({"accepted": len(rows)}).encode()
    start_response(
        "202 Accepted",
        [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))],
    )
    return [answer]


# --- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(app: str, workers: int, env: dict[str, str]) -> Iterator[int]:
    """`gunicorn -w N APP` (sync workers, no threads: the README's production command) on a
    free port; yields the port once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            app,
        ],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1"):
                        break
            except OSError:
                time.sleep(0.1)
        time.sleep(5 if workers else 0)  # every worker has loaded the app, not just the first
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- load -----------------------------------------------------------------------------------


def event_body(client: int, n: int, size: int) -> bytes:
    """A single event (size 1) or a list of `size`; every event has its own client id."""
    events = []
    for k in range(size):
        i = n * size + k
        email = (
            f"new-{client}-{i}@bench.example"
            if i % NEW_EVERY == 0
            else f"person{(i * 7919) % KNOWN}@bench.example"
        )
        events.append(
            {
                "id": f"c{client}-{i}",
                "contact": {"email": email},
                "event": "page_viewed",
                "properties": {"path": f"/pricing/{i % 50}", "plan": "pro"},
            }
        )
    return json.dumps(events[0] if size == 1 else events).encode()


def http_request(port: int, body: bytes, token: str) -> bytes:
    return (
        f"POST /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


async def _load(
    client: int, port: int, token: str, size: int, warmup: float, seconds: float
) -> tuple[int, int, list[float]]:
    """Concurrent requests until the end; (answered 202, failed, latencies after warm-up)."""
    start = time.perf_counter()
    end = start + warmup + seconds
    counter = iter(range(10**9))
    ok = failed = 0
    latencies: list[float] = []

    async def loop() -> None:
        nonlocal ok, failed
        while (began := time.perf_counter()) < end:
            request = http_request(port, event_body(client, next(counter), size), token)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            answer = await reader.read()
            writer.close()
            done = time.perf_counter()
            if began < start + warmup:
                continue
            if answer.startswith(b"HTTP/1.1 202"):
                ok += 1
                latencies.append(done - began)
            else:
                failed += 1
                if failed == 1:
                    say(f"  unexpected answer: {answer[:300]!r}")

    await asyncio.gather(*(loop() for _ in range(CONCURRENCY)))
    return ok, failed, latencies


CONCURRENCY = 4


def _client(args: tuple[Any, ...], ready: Any, go: Any, results: Any) -> None:
    global CONCURRENCY
    CONCURRENCY = args[-1]
    ready.wait()
    go.wait()
    results.put(asyncio.run(_load(*args[:-1])))


@dataclass(frozen=True)
class Slice:
    """What one load slice got: requests answered 202, over how long, their latencies."""

    ok: int
    seconds: float
    latencies: list[float]


@dataclass(frozen=True)
class Figures:
    requests_per_s: float
    events_per_s: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, slices: list[Slice], size: int) -> Figures:
        ok = sum(s.ok for s in slices)
        seconds = sum(s.seconds for s in slices)
        latencies = sorted(x for s in slices for x in s.latencies)
        return cls(
            ok / seconds,
            ok * size / seconds,
            1000 * latencies[len(latencies) // 2],
            1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        )

    def line(self, label: str) -> str:
        return (
            f"  {label:<10} {self.requests_per_s:8,.0f} req/s {self.events_per_s:9,.0f} events/s"
            f"   p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms"
        )


def measure(
    port: int, token: str, size: int, clients: int, concurrency: int, seconds: float, run: int
) -> Slice:
    """Load the server from `clients` processes of `concurrency` requests each."""
    context = multiprocessing.get_context("spawn")
    results, ready, go = context.Queue(), context.Barrier(clients + 1), context.Event()
    procs = [
        context.Process(
            target=_client,
            args=(
                (run * 100 + c, port, token, size, 2.0, seconds, concurrency),
                ready,
                go,
                results,
            ),
        )
        for c in range(clients)
    ]
    for proc in procs:
        proc.start()
    ready.wait()
    go.set()
    answers = [results.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    failed = sum(a[1] for a in answers)
    assert failed == 0, f"{failed} requests failed"
    return Slice(sum(a[0] for a in answers), seconds, [x for a in answers for x in a[2]])


# --- the run ---------------------------------------------------------------------------------


def prepare(url: str) -> tuple[str, str]:
    """The schema, a workspace with KNOWN contacts, a triggered sequence and an API token;
    returns (token, workspace id)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "EMBEDDED_SCHEDULER": False})
    with app.app_context():
        upgrade()
        workspace = accounts.create_workspace("Bench")
        flow = sequences.create_sequence(workspace, sequences.parse_input(TRIGGERED))
        sequences.set_status(flow, "activate", datetime.now(UTC))
        rows = [
            {
                "id": uuid.uuid4(),
                "tenant_id": workspace.tenant_id,
                "workspace_id": workspace.id,
                "email": f"person{i}@bench.example",
                "fields": {},
                "tags": [],
            }
            for i in range(KNOWN)
        ]
        db.session.execute(insert(Contact), rows)
        db.session.execute(text(REFERENCE_TABLE))
        token = accounts.create_token(workspace, "Bench")
        workspace_id = str(workspace.id)
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        statements_per_request(app, token)
        db.session.remove()
        db.engine.dispose()
    return token, workspace_id


def statements_per_request(app: Any, token: str) -> None:
    """The SQL statements one request issues, in-process (the test client)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    for size in (1, BATCH):
        for n in range(3):  # warm: the token is looked up, the connection opened
            body = json.loads(event_body(999_001 + size, n, size))
            client.post("/api/events", json=body, headers=headers)
        with counted_statements() as seen:
            for n in range(3, 13):
                body = json.loads(event_body(999_001 + size, n, size))
                assert client.post("/api/events", json=body, headers=headers).status_code == 202
        say(f"  statements per request of {size} event(s): {len(seen) / 10:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn -w (README: 4)")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--concurrency", type=int, default=4, help="requests at once per client")
    parser.add_argument(
        "--slices", type=int, default=4, help="turns each side takes (the measure split up)"
    )
    args = parser.parse_args()
    load = (args.clients, args.concurrency, args.seconds / args.slices)
    say(
        f"Events API, gunicorn -w {args.workers} (sync), {args.clients} x {args.concurrency} "
        f"concurrent clients, {args.seconds:.0f} s per measure in {args.slices} slices "
        f"taken in turn with the reference's, {os.cpu_count()} cores"
    )
    with throwaway_database() as url:
        token, workspace_id = prepare(url)
        dsn = "postgresql://" + url.split("://", 1)[1]
        reference_env = {"REFERENCE_DSN": dsn, "REFERENCE_WORKSPACE": workspace_id}
        project_env = {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-only",
            "EMBEDDED_SCHEDULER": "0",
            "REDIS_URL": "",
        }
        with (
            gunicorn("bench.events:reference", args.workers, reference_env) as reference_port,
            gunicorn("app:create_app()", args.workers, project_env) as project_port,
        ):
            for size, label in ((1, "single event per request"), (BATCH, f"batches of {BATCH}")):
                ref: list[Slice] = []
                mine: list[Slice] = []
                for k in range(args.slices):  # in turn: a drifting machine slows both alike
                    ref.append(measure(reference_port, token, size, *load, 10 * size + k))
                    mine.append(measure(project_port, token, size, *load, 5000 + 10 * size + k))
                ref_figures, mine_figures = Figures.of(ref, size), Figures.of(mine, size)
                say(f"{label}:")
                say(ref_figures.line("reference"))
                say(mine_figures.line("project"))
                ratio = mine_figures.events_per_s / ref_figures.events_per_s
                say(f"  ratio      {ratio:.0%} of the reference")


if __name__ == "__main__":
    main()
