"""Interventions from the pages: the enrollment's buttons (the partial) apply what its state
allows and record the signed-in user and the reason; moving and re-sending ask first
without htmx; another workspace's enrollment is 404 for every action; the bulk page
previews how many a filter's enrollments an action changes and applies it; the audit page
lists the changes newest first, filtered and paged. SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from flask import render_template_string
from sqlalchemy import select, update

from app.extensions import db
from app.models import ContactSequence, EnrollmentChange, OutboundMessage
from app.services import accounts
from app.services.scheduling import run_dispatcher, run_processor
from tests.api.test_enrollment_interventions import waiting
from tests.conftest import ApiClient
from tests.web.client import PASSWORD, Web

USER = "ops@acme.test"
HTMX = {"HX-Request": "true"}


def operator(app, name: str = "Acme", user: str = USER) -> tuple[Web, ApiClient]:
    """A workspace with a signed-in user and an API token."""
    workspace = accounts.create_workspace(name)
    accounts.create_user(user, workspace, PASSWORD)
    api = ApiClient(app.test_client(), accounts.create_token(workspace), workspace.id)
    web = Web(app)
    assert web.sign_in(user, PASSWORD).status_code == 302
    return web, api


def enrollment(row: dict) -> ContactSequence:
    db.session.expire_all()
    return db.session.get_one(ContactSequence, uuid.UUID(row["id"]))


def changes() -> list[EnrollmentChange]:
    db.session.expire_all()
    return list(db.session.scalars(select(EnrollmentChange).order_by(EnrollmentChange.id)))


def partial(app, found: ContactSequence) -> str:
    with app.test_request_context(f"/enrollments/{found.id}"):
        return render_template_string(
            '{% include "enrollments/_interventions.html" %}', enrollment=found
        )


def offered(html: str) -> list[str]:
    return re.findall(r'data-action="([a-z-]+)"', html)


def post(web: Web, path: str, headers: dict | None = None, **data: str):
    token = web.csrf_token("/audit")
    return web.post(path, data={"csrf_token": token, **data}, headers=headers or {})


def test_the_partial_offers_what_the_state_allows_and_each_button_applies_it(app):
    web, api = operator(app)
    row = waiting(api)
    base = f"/enrollments/{row['id']}"

    html = partial(app, enrollment(row))
    assert offered(html) == ["pause", "skip-wait", "move", "exit"]
    assert 'name="csrf_token"' in html and '<option value="email_2">' in html

    paused = post(web, f"{base}/pause", reason="on holiday", next="/enrollments?status=paused")
    assert paused.status_code == 302 and paused.location == "/enrollments?status=paused"
    assert enrollment(row).status == "paused"
    assert offered(partial(app, enrollment(row))) == ["resume", "move", "exit"]
    assert "Paused: it stays on its step" in web.get("/audit").text  # the flash

    assert post(web, f"{base}/resume").location == base  # back to the enrollment's page
    assert post(web, f"{base}/skip-wait", reason="asked").status_code == 302
    assert enrollment(row).skip_wait is True
    moved = post(web, f"{base}/move", HTMX, step="email_1", reason="welcome again")
    assert moved.status_code == 302 and enrollment(row).status == "active"

    assert [(c.action, c.actor, c.detail) for c in changes()] == [
        ("pause", USER, "on holiday"),
        ("resume", USER, None),
        ("skip_wait", USER, "asked"),
        ("move", USER, "welcome again"),
    ]
    assert changes()[-1].to_step == "email_1"


def test_the_enrollment_page_shows_the_buttons_and_a_pause_comes_back_to_it(app):
    web, api = operator(app)
    row = waiting(api)
    base = f"/enrollments/{row['id']}"

    assert offered(web.get(base).text) == ["pause", "skip-wait", "move", "exit"]
    back = post(web, f"{base}/pause", reason="on holiday")

    assert back.location == base
    page = web.get(base).text
    assert "Paused: it stays on its step" in page
    assert offered(page) == ["resume", "move", "exit"]


def test_a_refused_action_or_a_bad_step_says_why_and_changes_nothing(app):
    web, api = operator(app)
    row = waiting(api)
    base = f"/enrollments/{row['id']}"

    post(web, f"{base}/resume")
    assert "Nothing was done: this enrollment is active." in web.get("/audit").text
    post(web, f"{base}/move", HTMX, step="nope")
    assert "step &#39;nope&#39; is not in the sequence" in web.get("/audit").text
    post(web, f"{base}/pause", reason="x" * 501)
    assert "at most 500 characters" in web.get("/audit").text
    assert changes() == [] and enrollment(row).status == "active"


def test_exit_with_a_reason_from_the_partial_shows_and_records_who_and_why(app):
    web, api = operator(app)
    row = waiting(api)

    asked = post(web, f"/enrollments/{row['id']}/exit", reason="bought already")
    assert asked.status_code == 200 and 'value="bought already"' in asked.text  # confirm page
    post(web, f"/enrollments/{row['id']}/exit", reason="bought already", confirmed="yes")

    assert enrollment(row).exit_reason == "removed by ops@acme.test: bought already"
    assert [(c.action, c.actor, c.detail) for c in changes()] == [("exit", USER, "bought already")]


def test_moving_or_resending_without_htmx_asks_first_on_a_confirmation_page(app):
    web, api = operator(app)
    row = waiting(api)
    path = f"/enrollments/{row['id']}/move"

    asked = post(web, path, step="email_2", reason="skip ahead")
    assert asked.status_code == 200 and "Move this enrollment to step" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text and 'value="skip ahead"' in asked.text
    assert changes() == []

    done = post(web, path, step="email_2", reason="skip ahead", confirmed="yes")
    assert done.status_code == 302 and [c.to_step for c in changes()] == ["email_2"]


def test_resending_a_failed_email_from_the_page_queues_it_and_brings_the_run_back(app):
    web, api = operator(app)
    row = waiting(api)
    db.session.execute(update(OutboundMessage).values(status="failed", last_error="550 no"))
    db.session.execute(
        update(ContactSequence).values(
            status="failed", exit_reason="email 'Sales Follow-up 1' could not be sent: 550 no"
        )
    )
    db.session.commit()
    assert offered(partial(app, enrollment(row))) == ["resend"]

    post(web, f"/enrollments/{row['id']}/resend", HTMX, reason="mailbox fixed")

    assert db.session.scalar(select(OutboundMessage.status)) == "queued"
    assert enrollment(row).status == "active"
    assert [(c.action, c.detail, c.to_step) for c in changes()] == [
        ("resend", "mailbox fixed", "email_1")
    ]


@pytest.mark.parametrize("action", ["pause", "resume", "skip-wait", "move", "resend", "exit"])
def test_every_action_on_another_workspaces_enrollment_is_404(app, action):
    _, api = operator(app)
    row = waiting(api)
    spy, _ = operator(app, "Globex", "spy@globex.test")

    response = post(spy, f"/enrollments/{row['id']}/{action}", HTMX, step="email_2")

    assert response.status_code == 404
    assert enrollment(row).status == "active" and changes() == []


def test_skipping_the_wait_from_the_page_sends_the_next_email_at_the_next_tick(app, smtp_sink):
    web, api = operator(app)
    row = waiting(api)

    post(web, f"/enrollments/{row['id']}/skip-wait", reason="customer asked")
    now = datetime.now(UTC)
    run_processor(now)
    run_dispatcher(now)

    subjects = sorted(m["Subject"] for m in smtp_sink.wait_for(2))
    assert subjects == ["Sales Follow-up 1", "Sales Follow-up 2"]
    assert [(c.action, c.actor) for c in changes()] == [("skip_wait", USER)]


def test_the_bulk_page_previews_how_many_an_action_changes_and_applies_it(app):
    web, api = operator(app)
    first = waiting(api)
    sequence = first["sequence_id"]
    for address in ("b@x.test", "c@x.test", "d@x.test"):
        assert api.post("/api/contacts", json={"email": address}).status_code in (200, 201)
    body = {"contacts": [{"email": a} for a in ("b@x.test", "c@x.test", "d@x.test")]}
    assert api.post(f"/api/sequences/{sequence}/enroll", json=body).json["enrolled"] == 3
    db.session.execute(
        update(ContactSequence)
        .where(ContactSequence.id == uuid.UUID(first["id"]))
        .values(status="completed")
    )
    db.session.commit()
    other = waiting(api)  # another sequence's enrollment: not in the filter

    page = web.get(f"/enrollments/bulk?sequence_id={sequence}&action=pause")
    assert page.status_code == 200
    assert "4</strong> enrollments match this filter" in page.text
    assert "This will pause 3 enrollments." in page.text
    assert "Left as they are: 1 completed." in page.text
    assert changes() == []  # a preview changes nothing

    token = web.csrf_token("/audit")
    applied = web.post(
        "/enrollments/bulk",
        data={"csrf_token": token, "sequence_id": sequence, "action": "pause", "why": "holiday"},
    )
    assert applied.status_code == 302
    assert applied.location == f"/enrollments?sequence_id={sequence}"
    assert "Paused 3 enrollments; 1 left as they were (1 completed)." in web.get("/audit").text
    assert [(c.action, c.actor, c.detail) for c in changes()] == [("pause", USER, "holiday")] * 3
    assert enrollment(other).status == "active"


def test_a_bulk_move_needs_one_sequence_and_a_live_step(app):
    web, api = operator(app)
    row = waiting(api)

    unfiltered = web.get("/enrollments/bulk?action=move&to_step=email_2")
    assert unfiltered.status_code == 422
    assert "Filter by one sequence first" in unfiltered.text
    unknown = web.get(f"/enrollments/bulk?sequence_id={row['sequence_id']}&action=move&to_step=x")
    assert unknown.status_code == 422 and "step &#39;x&#39; is not in the sequence" in unknown.text
    good = web.get(
        f"/enrollments/bulk?sequence_id={row['sequence_id']}&action=move&to_step=email_2"
    )
    assert "This will move 1 enrollment to step 'email_2'." in good.text


def test_the_bulk_page_refuses_another_workspaces_sequence_and_names_a_bad_filter(app):
    _, api = operator(app)
    row = waiting(api)
    spy, _ = operator(app, "Globex", "spy@globex.test")
    assert spy.get(f"/enrollments/bulk?sequence_id={row['sequence_id']}").status_code == 404
    token = spy.csrf_token("/audit")
    posted = spy.post(
        "/enrollments/bulk",
        data={"csrf_token": token, "sequence_id": row["sequence_id"], "action": "exit"},
    )
    assert posted.status_code == 404 and enrollment(row).status == "active"
    bad = spy.get("/enrollments/bulk?status=sleeping")
    assert bad.status_code == 422 and "status must be one of" in bad.text


def test_the_audit_page_lists_the_workspaces_changes_newest_first_filtered_and_paged(
    app, monkeypatch
):
    web, api = operator(app)
    row = waiting(api)
    base = f"/enrollments/{row['id']}"
    for action in ("pause", "resume", "pause", "resume", "skip-wait"):
        post(web, f"{base}/{action}", reason=f"{action} please")
    spy, spy_api = operator(app, "Globex", "spy@globex.test")
    post(spy, f"/enrollments/{waiting(spy_api)['id']}/pause", reason="not yours")

    page = web.get("/audit")
    assert page.status_code == 200 and 'href="/audit"' in page.text  # the nav link
    actions = re.findall(r'data-action="([a-z_]+)"', page.text)
    assert actions == ["skip_wait", "resume", "pause", "resume", "pause"]
    assert f'href="/enrollments/{row["id"]}"' in page.text
    assert "skip-wait please" in page.text and "not yours" not in page.text

    only = web.get("/audit?action=pause&kind=intervention")
    assert re.findall(r'data-action="([a-z_]+)"', only.text) == ["pause", "pause"]

    monkeypatch.setattr("app.web.audit.PAGE_SIZE", 2)
    seen, path = [], "/audit"
    while path:
        text = web.get(path).text
        seen += re.findall(r'data-change="(\d+)"', text)
        older = re.search(r'href="([^"]+)" rel="next"', text)
        path = older.group(1).replace("&amp;", "&") if older else None
    assert seen == [str(c.id) for c in reversed(changes()) if c.actor == USER]

    bad = web.get("/audit?kind=nonsense")
    assert bad.status_code == 422 and "kind must be one of" in bad.text
    assert web.get(f"/audit?sequence={spy_api.workspace_id}").status_code == 404
