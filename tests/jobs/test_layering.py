"""The app never imports `jobs`; `jobs` holds the RQ entry points only, and the periodic
schedule (app.schedule) is the one place that says which pass runs how often."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import threading
from datetime import UTC, datetime

import redis
from flask import current_app
from rq.cron import CronScheduler

from app.embedded_scheduler import EmbeddedScheduler
from app.schedule import PERIODIC_JOBS, PeriodicJob
from app.services.job_runs import PassReport
from app.services.waits import PROCESS_PASS
from jobs import tasks
from tests.helpers import ROOT

IMPORT_EVERY_APP_MODULE = """
import pkgutil, importlib, sys
import app
for module in pkgutil.walk_packages(app.__path__, "app."):
    importlib.import_module(module.name)
print(sorted(name for name in sys.modules if name == "jobs" or name.startswith("jobs.")))
"""


def imported_modules(path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_module_under_app_imports_jobs():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in imported_modules(path) if n == "jobs" or n.startswith("jobs.")
        )
        for path in (ROOT / "app").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_every_app_module_loads_nothing_from_jobs():
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERY_APP_MODULE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_jobs_holds_only_the_rq_entry_points_the_cron_config_and_the_worker_class():
    modules = {path.stem for path in (ROOT / "jobs").glob("*.py")}
    assert modules == {"__init__", "tasks", "cron", "worker"}
    for path in (ROOT / "jobs").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg in {"interval", "cron"}:
                assert not isinstance(node.value, ast.Constant), (
                    f"{path.name}: a literal {node.arg}"
                )
            assert not (isinstance(node, ast.ClassDef) and node.name == "PeriodicJob")


def test_every_scheduled_pass_has_an_rq_entry_point_of_its_name_and_no_other():
    entry_points = {
        name
        for name, func in inspect.getmembers(tasks, inspect.isfunction)
        if func.__module__ == tasks.__name__ and not name.startswith("_")
    }
    assert entry_points == {job.name for job in PERIODIC_JOBS}
    assert {job.task for job in PERIODIC_JOBS} == {f"jobs.tasks.{name}" for name in entry_points}
    assert PROCESS_PASS in {job.name for job in PERIODIC_JOBS}


def test_rq_cron_registers_each_entry_point_at_the_interval_the_app_schedule_gives():
    cron = CronScheduler(connection=redis.Redis())  # loading the config never connects
    cron.load_config_from_file("jobs.cron")
    registered = {
        (job.name, job.func_name, job.interval, job.queue_name) for job in cron.get_jobs()
    }
    assert registered == {
        (job.name, job.task, job.interval_seconds, job.queue) for job in PERIODIC_JOBS
    }


def test_the_embedded_thread_runs_each_job_in_the_app_context_and_survives_a_failure(app):
    runs: list[tuple[str, datetime]] = []
    ran_twice = threading.Event()

    def flaky_pass(now: datetime) -> PassReport:
        runs.append((current_app.name, now))
        if len(runs) == 1:
            raise RuntimeError("the first pass fails")
        ran_twice.set()
        return PassReport("ok")

    scheduler = EmbeddedScheduler(app, (PeriodicJob(flaky_pass, interval_seconds=0),))
    scheduler.start()
    try:
        assert ran_twice.wait(5), "the thread stopped after the failing pass"
    finally:
        scheduler.stop()
        scheduler.join(5)
    assert [name for name, _ in runs[:2]] == [app.name, app.name]
    assert all(now.tzinfo == UTC for _, now in runs)
