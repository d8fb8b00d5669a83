"""The engine health page, `GET /api/health` and `/readyz`: with the processor stopped,
the lag grows; stuck enrollments are counted for the viewer's workspace only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import ContactSequence, JobRun
from app.services import accounts, engine_health, job_runs
from app.services.job_runs import PassReport
from tests.conftest import ApiClient
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.web.client import Web, signed_in

HOUR = timedelta(hours=1)


def workspace_with_enrollments(app, name: str) -> tuple[Web, ApiClient]:
    """A signed-in user's workspace with the onboarding sequence and 3 enrollments due now."""
    web = signed_in(app, name, f"ops@{name.lower()}.test")
    workspace = accounts.workspace_named(name)
    api = ApiClient(app.test_client(), accounts.create_token(workspace), workspace.id)
    start_onboarding(api)
    return web, api


def due_since(workspace_id, moment: datetime) -> None:
    """The processor has been stopped since `moment`: the enrollments are still due."""
    db.session.execute(
        update(ContactSequence)
        .where(ContactSequence.workspace_id == workspace_id)
        .values(next_execution_at=moment)
    )
    db.session.commit()


def shown_lag(page: str, kind: str) -> int:
    found = re.search(rf'data-lag="{kind}" data-seconds="(\d+)"', page)
    assert found, page
    return int(found.group(1))


def stuck_badge(page: str) -> tuple[str, str]:
    found = re.search(
        r'id="stuck-enrollments"><span class="badge badge-(\w+)">([\d,]+\+?)</span>', page
    )
    assert found, page
    return found.group(1), found.group(2)


def test_with_the_processor_stopped_the_services_lag_grows_with_the_clock(app, api):
    _, t0 = start_onboarding(api)
    assert engine_health.lag(t0).enrollments_seconds == 0
    assert engine_health.lag(t0 + timedelta(minutes=10)).enrollments_seconds == 600
    assert engine_health.lag(t0 + HOUR).enrollments_seconds == 3600
    assert engine_health.lag(t0 + HOUR).oldest_due_enrollment_at == t0


def test_the_page_and_readyz_show_the_lag_growing_while_nothing_processes(app):
    web, api = workspace_with_enrollments(app, "Acme")
    now = datetime.now(UTC)
    due_since(api.workspace_id, now - HOUR)
    page = web.get("/health")
    assert page.status_code == 200
    first = shown_lag(page.text, "enrollments")
    assert 3600 <= first < 3700
    ready = app.test_client().get("/readyz").get_json()
    assert 3600 <= ready["lag"]["enrollments_seconds"] < 3700

    due_since(api.workspace_id, now - 3 * HOUR)  # as if two more hours went by
    assert shown_lag(web.get("/health").text, "enrollments") >= first + 7200
    assert app.test_client().get("/readyz").status_code == 200  # lag never makes it 503
    assert app.test_client().get("/readyz").get_json()["lag"]["enrollments_seconds"] >= 10800


def test_the_page_lists_every_pass_with_its_last_run_and_flags_overdue_and_failing(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    now = datetime.now(UTC)
    job_runs.record("process_sequences", lambda at: PassReport("advanced 4 enrollment(s)"), now)
    job_runs.record("monitor_goals", lambda at: PassReport("ok"), now - HOUR)  # 30 s interval

    def broken(at: datetime) -> PassReport:
        raise RuntimeError("SMTP relay refused\nsecond line with details")

    with pytest.raises(RuntimeError):
        job_runs.record("dispatch_mail", broken, now)
    page = web.get("/health").text
    rows = dict(re.findall(r'<tr data-job="(\w+)">(.*?)</tr>', page, re.S))
    assert "ok</span>" in rows["process_sequences"]
    assert "advanced 4 enrollment(s)" in rows["process_sequences"]
    assert "overdue" in rows["monitor_goals"]
    assert "failing" in rows["dispatch_mail"]
    assert "RuntimeError: SMTP relay refused" in rows["dispatch_mail"]
    assert "second line" not in page
    assert "overdue" in rows["poll_inboxes"]  # never ran
    assert 'href="/health" aria-current="page">Health</a>' in page


def test_a_pass_run_every_second_is_overdue_only_after_the_floor(app):
    now = datetime.now(UTC)
    for name, ago in (("process_sequences", 10), ("dispatch_mail", 20)):
        job_runs.record(name, lambda at: PassReport("ok"), now - timedelta(seconds=ago))
    health = {job.name: job for job in engine_health.job_health(now)}
    assert health["process_sequences"].interval_seconds == 1
    assert not health["process_sequences"].overdue, "10 s is one busy pass, not a stopped one"
    assert health["dispatch_mail"].overdue


def test_htmx_reloads_the_panel_alone_every_ten_seconds(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    page = web.get("/health")
    assert 'hx-trigger="every 10s"' in page.text and "<html" in page.text
    fragment = web.get("/health", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="health-panel"')
    assert "<html" not in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]


def test_the_page_needs_a_signed_in_user(app):
    answer = Web(app).get("/health")
    assert answer.status_code == 302 and "/sign-in" in answer.headers["Location"]


def test_stuck_enrollments_are_counted_for_the_viewers_workspace_only(app):
    acme, acme_api = workspace_with_enrollments(app, "Acme")
    globex, _ = workspace_with_enrollments(app, "Globex")
    due_since(acme_api.workspace_id, datetime.now(UTC) - 2 * HOUR)  # past 900 s: stuck

    acme_page = acme.get("/health").text
    globex_page = globex.get("/health").text
    assert re.search(r'id="stuck-enrollments"><span class="badge badge-failed">3</span>', acme_page)
    assert 'href="/enrollments?stuck=1"' in acme_page
    assert re.search(
        r'id="stuck-enrollments"><span class="badge badge-active">0</span>', globex_page
    )
    assert "/enrollments?stuck=1" not in globex_page
    # the engine's lag is engine-wide: Globex sees it, without anything of Acme's
    assert shown_lag(globex_page, "enrollments") >= 7200
    assert "acme" not in globex_page.lower()


def test_the_api_answers_the_pages_figures_for_the_tokens_workspace(app):
    _, acme_api = workspace_with_enrollments(app, "Acme")
    _, globex_api = workspace_with_enrollments(app, "Globex")
    due_since(acme_api.workspace_id, datetime.now(UTC) - 2 * HOUR)
    job_runs.record(
        "process_sequences", lambda at: PassReport("x", {"steps": 3}), datetime.now(UTC)
    )

    acme = acme_api.get("/api/health").get_json()
    globex = globex_api.get("/api/health").get_json()
    assert acme["stuck"] == {
        "enrollments": 3,
        "messages": 0,
        "after_seconds": 900,
        "count_cap": 10_000,
    }
    assert globex["stuck"]["enrollments"] == 0
    assert globex["lag"]["enrollments_seconds"] >= 7200
    jobs = {job["name"]: job for job in globex["jobs"]}
    assert jobs["process_sequences"]["runs"] == 1 and jobs["process_sequences"]["totals"] == {
        "steps": 3
    }
    assert globex["rq"] is None
    assert app.test_client().get("/api/health").status_code == 401
    assert db.session.scalar(select(JobRun.runs)) == 1


def test_stuck_counts_stop_at_the_cap_and_say_so(app, monkeypatch):
    """With the engine down for a day everything is stuck: counting stops at the cap."""
    web, api = workspace_with_enrollments(app, "Acme")
    due_since(api.workspace_id, datetime.now(UTC) - 2 * HOUR)
    monkeypatch.setattr(engine_health, "STUCK_COUNT_CAP", 2)
    assert stuck_badge(web.get("/health").text) == ("failed", "2+")
    assert api.get("/api/health").get_json()["stuck"]["enrollments"] == 2
