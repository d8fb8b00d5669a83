"""Config for `rq cron jobs.cron`: registers the periodic schedule (app.schedule). Run one.

`rq cron` only enqueues; `rq worker` processes run the jobs. The jobs tolerate overlap
(row locks with SKIP LOCKED and guarded status changes), so a late or doubled run is harmless.
"""

from rq import cron

from app.schedule import PERIODIC_JOBS
from jobs import tasks

for job in PERIODIC_JOBS:
    cron.register(
        getattr(tasks, job.name),
        queue_name=job.queue,
        interval=job.interval_seconds,
        job_timeout=job.timeout_seconds,
        result_ttl=60,
        name=job.name,
    )
