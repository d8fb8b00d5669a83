"""Thin RQ entry points (tasks) and `rq cron` config (cron); the work and schedule live in app."""
