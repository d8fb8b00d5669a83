"""Config for `rq cron jobs.cron`: registers the periodic schedule. Run one such process.

`rq cron` only enqueues; `rq worker` processes run the jobs. The jobs tolerate overlap
(row locks with SKIP LOCKED and guarded status changes), so a late or doubled run is harmless.
"""

from rq import cron

from jobs.schedule import PERIODIC_JOBS

for job in PERIODIC_JOBS:
    cron.register(
        job.func,
        queue_name=job.queue,
        interval=job.interval_seconds,
        job_timeout=job.timeout_seconds,
        result_ttl=60,
        name=job.name,
    )
