"""Waking the engine's passes the moment there is work, not at their next interval.

Why: with passes every 5 s, an enrollment falling due waited up to 5 s for the processor
and its email up to 5 s more for the dispatcher. The goal (issue 19) is p99 <= 1 s from
due time, or from an event that ends a wait, to the SMTP server's acceptance.

Worker mode (REDIS_URL: gunicorn, `rq worker`s, one `rq cron jobs.cron`):

- **The processor keeps polling.** `rq cron` starts a processor job every second
  (app.schedule). After its first pass the job polls the due index every POLL_SECONDS
  (`keep_polling`: one indexed query, a pass only when something is due) for up to
  LOOP_SECONDS. A newer processor job takes the polling over (a Redis key names the
  poller), so one job polls at a time while the cron keeps a fresh one coming and restarts
  it after a crash. It yields when jobs wait behind it in the queue: it enqueues itself
  again at the back and stops, so even a single worker runs everything in turn.
- **Wake-ups chain the passes.** A processor pass that queued email wakes the dispatcher;
  the commit that wakes a waiting enrollment (an API event, an intervention, an
  enrollment) wakes the processor (`waits.nudge_processor`). While a job of the pass polls,
  `wake` kicks it instead: the poller listens on a Redis channel between polls, and a
  PUBLISH that reaches a listener makes it look at once. Enqueueing a job instead made
  every event a new processor job that took the polling over: at 50 events a second both
  workers kept handing the polling on, and the dispatcher's jobs queued behind theirs
  (bench/latency.py's event path). With no listener, `wake` enqueues the pass's RQ job
  unless one is already pending: a Redis key set with NX, deleted by `started` when a job
  begins (its claims then see everything committed before), so a burst of events adds at
  most one waiting job, and the key's expiry forgets a lost one. A kick that races a
  poller's end is not lost for long: the next job polls within the cron's second.
- **Overlap is safe.** Every pass claims with SKIP LOCKED and guards its status changes, so
  any number of workers may run passes at once; a doubled job costs an empty claim.

Embedded mode (no Redis): the scheduler thread registers its `wake` on the app
(`LOCAL_WAKER`); a wake-up runs the pass on the thread's next loop. With neither (tests
driving time with `tick`), a wake-up does nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis import Redis
from redis.client import PubSub
from redis.exceptions import RedisError
from rq import Queue

from app.config import current_settings

log = logging.getLogger(__name__)

QUEUE = "default"
"""The queue every periodic pass and wake-up goes to."""
TASKS_MODULE = "jobs.tasks"
"""Where the RQ entry points live, named by path so the app never imports `jobs`."""
JOB_TIMEOUT_SECONDS = 600
RESULT_TTL_SECONDS = 60
PENDING_SECONDS = 10
"""How long a pending wake-up stops further ones; after that a lost job is forgotten."""
POLL_SECONDS = 0.1
"""How often a polling processor job asks the due index: the latency it adds at most."""
LOOP_SECONDS = 2.0
"""How long one processor job polls: longer than the cron interval (1 s), so the next job
takes over before it stops, and short enough for a worker's warm shutdown."""
MAX_KICKS_DRAINED = 1000
"""Kicks a poller takes in one look: a flood of wake-ups cannot hold it from polling."""
YIELD_AFTER_POLLS = 2
"""Polls in a row that saw jobs waiting in the queue before the poller makes way for them."""
LOCAL_WAKER = "penguinmails.waker"
"""The key in `app.extensions` of the embedded scheduler's `wake(name)`."""

_clients: dict[str, Redis] = {}


def task_path(name: str) -> str:
    """The RQ entry point of the pass `name`, as RQ enqueues it."""
    return f"{TASKS_MODULE}.{name}"


def redis_for(url: str) -> Redis:
    """One client (with its connection pool) per URL and process: a wake-up per request
    must not open a connection per request. redis-py resets the pool in a forked child."""
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = Redis.from_url(url)
    return client


def wake(name: str) -> None:
    """Run the pass `name` now rather than at its interval; never raises (the periodic run
    still comes, so a Redis outage only delays the work)."""
    url = current_settings().redis_url
    if not url:
        local = current_app.extensions.get(LOCAL_WAKER)
        if local is not None:
            local(name)
        return
    conn = redis_for(url)
    try:
        if not conn.publish(_kick_channel(name), 1):  # else a job polling for it looks now
            _enqueue(conn, name)
    except RedisError as exc:
        log.warning("could not wake %s: %s; it runs at its next interval", name, exc)


def _enqueue(conn: Redis, name: str) -> None:
    """Enqueue the pass's job unless one is pending already."""
    if conn.set(_pending_key(name), 1, nx=True, ex=PENDING_SECONDS):
        Queue(QUEUE, connection=conn).enqueue(
            task_path(name), result_ttl=RESULT_TTL_SECONDS, job_timeout=JOB_TIMEOUT_SECONDS
        )


def started(name: str) -> None:
    """A job of the pass `name` begins: a wake-up from now on must enqueue another, since
    this job's claims may not see what is committed after them."""
    url = current_settings().redis_url
    if url:
        try:
            redis_for(url).delete(_pending_key(name))
        except RedisError as exc:
            log.warning("could not clear the pending wake-up of %s: %s", name, exc)


def keep_polling(
    name: str,
    run_pass: Callable[[datetime], Any],
    next_due: Callable[[], datetime | None],
) -> int:
    """Run `run_pass(now)` whenever `next_due()` says something is due, polling every
    POLL_SECONDS for LOOP_SECONDS, until a newer job of `name` takes over or jobs wait
    behind this one (then wake `name` again, at the back of the queue, and stop).
    Returns the passes run. Worker mode only; without Redis, returns at once."""
    url = current_settings().redis_url
    if not url:
        return 0
    conn, me, key = redis_for(url), uuid.uuid4().hex.encode(), _poller_key(name)
    queue_key = Queue(QUEUE, connection=conn).key
    deadline, passes, crowded = time.monotonic() + LOOP_SECONDS, 0, 0
    try:
        with conn.pubsub(ignore_subscribe_messages=True) as kicks:
            kicks.subscribe(_kick_channel(name))
            conn.set(key, me, px=int((LOOP_SECONDS + 1) * 1000))
            while time.monotonic() < deadline:
                _wait_for_kick(kicks)
                pipe = conn.pipeline(transaction=False)
                poller, waiting = pipe.get(key).llen(queue_key).execute()
                if poller != me:
                    return passes  # a newer job polls now (kicks reach it too)
                crowded = crowded + 1 if waiting else 0
                if crowded >= YIELD_AFTER_POLLS:
                    conn.delete(key)
                    _enqueue(conn, name)  # at the back of the queue
                    return passes
                due = next_due()
                now = datetime.now(UTC)
                if due is not None and due <= now:
                    run_pass(now)
                    passes += 1
    except RedisError as exc:
        log.warning("%s stopped polling: %s; the next job polls again", name, exc)
    return passes


def _wait_for_kick(kicks: PubSub) -> None:
    """Until a wake-up's kick or POLL_SECONDS (the client times it: a Redis server times
    blocking commands only to its `hz`, 100 ms by default); kicks sent meanwhile are one."""
    if kicks.get_message(timeout=POLL_SECONDS) is not None:
        for _ in range(MAX_KICKS_DRAINED):
            if kicks.get_message(timeout=0.0) is None:
                break


def _pending_key(name: str) -> str:
    return f"penguinmails:wake:{name}"


def _poller_key(name: str) -> str:
    return f"penguinmails:poller:{name}"


def _kick_channel(name: str) -> str:
    return f"penguinmails:kick:{name}"
