"""Regenerate the README's screenshots from a live demo, in Debian's Chromium.

.venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask_migrate import upgrade
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from app.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Sequence  # noqa: E402
from app.services.gallery import use_template  # noqa: E402
from app.services.publishing import publish  # noqa: E402
from app.services.scheduling import run_tick  # noqa: E402
from app.services.sequences import export_definition, parse_input  # noqa: E402
from tests.browser.chromium import CHROMIUM_ARGS  # noqa: E402
from tests.report_data import seed_ab_report  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PAGES = (
    "sequences",
    "enrollments",
    "outbox",
    "templates",
    "contacts",
    "segments",
    "forms",
    "health",
)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/demo.sqlite3",
                "EMBEDDED_SCHEDULER": False,
            }
        )
        with app.app_context():
            upgrade()
            now = datetime.now(UTC)
            workspace, _ = seed_demo(now)
            run_tick(now)
            run_tick(now + timedelta(days=2, minutes=1))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 640})
                page.goto(f"{base}/sign-in")
                page.fill("input[name=email]", DEMO_EMAIL)
                page.fill("input[name=password]", DEMO_PASSWORD)
                page.click("button[type=submit]")
                OUT.mkdir(parents=True, exist_ok=True)
                for name in PAGES:
                    page.goto(f"{base}/{name}")
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                    print(f"wrote {OUT / f'{name}.png'}")
                shoot_enrollment(page, base)
                with app.app_context():  # after the list pages, so they show the demo alone
                    tested = seed_ab_report(app, db.session.merge(workspace), now)
                shoot_report(page, f"{base}/sequences/{tested.sequence_id}/report")
                shoot_builder(page, base)
                with app.app_context():
                    trial = use_template(db.session.merge(workspace), "saas_trial", None)
                    trial_id = str(trial.id)
                shoot_builder_fit(page, f"{base}/sequences/{trial_id}")
                with app.app_context():
                    live = publish_version_2(now + timedelta(days=2, minutes=2))
                shoot_versions(page, base, live)
                browser.close()
        finally:
            server.shutdown()


def shoot_enrollment(page: Page, base: str) -> None:
    """The first listed enrollment's page: its story with decisions, emails and waits."""
    page.goto(f"{base}/enrollments")
    page.locator("a.enrollment-link").first.click()
    page.wait_for_load_state()
    page.screenshot(path=str(OUT / "enrollment.png"), full_page=True)
    print(f"wrote {OUT / 'enrollment.png'}")


def shoot_report(page: Page, url: str) -> None:
    """The report of a sequence whose A/B test has picked B, with a 20% holdout."""
    page.goto(url)
    page.wait_for_selector("#chart-funnel")
    page.screenshot(path=str(OUT / "report.png"), full_page=True)
    print(f"wrote {OUT / 'report.png'}")


def shoot_builder(page: Page, base: str) -> None:
    """The demo's draft in the builder: the whole graph, then one email's settings open."""
    page.set_viewport_size({"width": 1440, "height": 860})
    page.goto(f"{base}/sequences")
    page.click("text=Demo fast-track")
    page.wait_for_selector(".drawflow-node[data-step-id='step_1']")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / "builder.png"))
    print(f"wrote {OUT / 'builder.png'}")
    page.click(".drawflow-node[data-step-id='step_1'] .step-name")
    page.wait_for_selector("#panel-body iframe")
    page.wait_for_timeout(600)  # the live preview renders after a short debounce
    page.screenshot(path=str(OUT / "builder-email.png"))
    print(f"wrote {OUT / 'builder-email.png'}")


def shoot_builder_fit(page: Page, url: str) -> None:
    """The 9-step SaaS Trial from the gallery at Fit, 1440x900: top to bottom at 70% or
    more (readable), the rest of the flow a scroll away."""
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(url)
    page.wait_for_selector(".drawflow-node[data-step-id='offer']")
    page.click("#canvas-toolbar [data-canvas='fit']")
    page.wait_for_timeout(800)
    page.screenshot(path=str(OUT / "builder-fit.png"))
    print(f"wrote {OUT / 'builder-fit.png'}")


def publish_version_2(now: datetime) -> str:
    """Version 2 of the demo's live onboarding: Email 2's subject changed, the 3-day wait
    removed with its contacts moved to Email 3 (as a marketer would through the API)."""
    live = db.session.scalars(select(Sequence).where(Sequence.status == "active")).first()
    document = export_definition(live)
    document["steps"] = [s for s in document["steps"] if s["id"] != "wait_3d"]
    for step in document["steps"]:
        if step["id"] == "email_2":
            step["config"]["subject"] = "Three things to try this week"
    edges = [c for c in document["connections"] if "wait_3d" not in (c["source"], c["target"])]
    document["connections"] = [*edges, {"source": "email_2", "target": "email_3", "label": None}]
    choices = {"wait_3d": "email_3"}
    publish(live, parse_input(document), choices, actor=DEMO_EMAIL, note="Shorter", now=now)
    return str(live.id)


def shoot_versions(page: Page, base: str, sequence_id: str) -> None:
    """The visual diff of versions 1 and 2, then the draft of version 3 with its banner."""
    page.set_viewport_size({"width": 1440, "height": 860})
    page.goto(f"{base}/sequences/{sequence_id}/versions/1/diff/2")
    page.screenshot(path=str(OUT / "versions-diff.png"), full_page=True)
    print(f"wrote {OUT / 'versions-diff.png'}")
    page.goto(f"{base}/sequences/{sequence_id}")
    page.click("text=Edit a draft of version 3")
    page.wait_for_selector("#version-bar.is-draft")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / "builder-draft.png"))
    print(f"wrote {OUT / 'builder-draft.png'}")


if __name__ == "__main__":
    main()
