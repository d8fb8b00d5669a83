"""The RQ side of engine health (when `REDIS_URL` is set): queues, workers and failed jobs,
and putting failed jobs back on their queue.

The jobs are the engine's periodic passes (they carry no workspace's data but a moment),
so an error is shown as its last line only: the exception and its message, not the
traceback with its local values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from rq import Queue, Worker
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

FAILED_SHOWN = 50
"""Failed jobs listed per queue, newest first (the count covers them all)."""
SUMMARY_CHARS = 200


@dataclass(frozen=True)
class QueueState:
    name: str
    length: int
    failed: int


@dataclass(frozen=True)
class WorkerState:
    name: str
    state: str
    current_job: str | None  # the function it runs now


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    func: str | None
    error: str
    ended_at: datetime | None


@dataclass(frozen=True)
class RqState:
    queues: list[QueueState]
    workers: list[WorkerState]
    failed_jobs: list[FailedJob]


def connect(url: str, timeout: float = 2.0) -> Redis:
    """A connection that gives up within `timeout`, so a dead Redis cannot hang a page."""
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def _queues(conn: Redis, names: Iterable[str]) -> list[Queue]:
    """The queues Redis knows of, and the schedule's even before their first job."""
    known = {queue.name: queue for queue in Queue.all(connection=conn)}
    for name in names:
        known.setdefault(name, Queue(name, connection=conn))
    return [known[name] for name in sorted(known)]


def rq_state(conn: Redis, queue_names: Iterable[str]) -> RqState:
    queues = _queues(conn, queue_names)
    failed: list[FailedJob] = []
    states = []
    for queue in queues:
        registry = queue.failed_job_registry
        states.append(QueueState(queue.name, queue.count, registry.count))
        ids = registry.get_job_ids(0, FAILED_SHOWN - 1, desc=True)
        for job in Job.fetch_many(ids, connection=conn):
            if job is not None:
                failed.append(
                    FailedJob(job.id, queue.name, job.func_name, _error(job), job.ended_at)
                )
    workers = []
    for worker in Worker.all(connection=conn):
        current = worker.get_current_job()
        workers.append(WorkerState(worker.name, worker.get_state(), current and current.func_name))
    return RqState(states, workers, failed)


def _error(job: Job) -> str:
    """The last line of the failure's traceback: `ExceptionType: message`."""
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1].strip() if lines else "failed")[:SUMMARY_CHARS]


def requeue(conn: Redis, queue_names: Iterable[str], job_id: str) -> bool:
    """Put one failed job back at the end of its queue; False when no queue has it failed."""
    for queue in _queues(conn, queue_names):
        registry = queue.failed_job_registry
        if job_id in registry:
            try:
                registry.requeue(job_id)
            except (InvalidJobOperation, NoSuchJobError):
                return False
            return True
    return False


def requeue_all(conn: Redis, queue_names: Iterable[str]) -> int:
    """Put every failed job back on its queue; how many went back."""
    done = 0
    for queue in _queues(conn, queue_names):
        registry = queue.failed_job_registry
        for job_id in registry.get_job_ids():
            try:
                registry.requeue(job_id)
            except (InvalidJobOperation, NoSuchJobError):
                continue
            done += 1
    return done
