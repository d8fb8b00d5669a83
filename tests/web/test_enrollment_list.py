"""The enrollments page: a filter form saved in the URL, counts for the filter, pages by
key, bad values shown beside their field, another workspace's ids refused."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import ContactSequence
from app.services import accounts
from tests.enrollment_rows import enroll_many, seed_sequences
from tests.web.client import signed_in

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ROW = re.compile(r'<tr data-enrollment="([0-9a-f-]+)">')


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return html.unescape(found.group(1)) if found else None


@pytest.fixture
def acme(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    seeded = seed_sequences(accounts.workspace_named("Acme"), 3)
    return web, seeded


def test_next_and_previous_page_through_every_enrollment_of_one_step_once(app, acme):
    web, seeded = acme
    enroll_many(seeded, 2000, NOW, same_time=True)
    sequence = seeded.sequences[2]
    step = seeded.steps[sequence.id][1]
    expected = set(
        db.session.scalars(
            select(ContactSequence.id).where(ContactSequence.current_step_id == step)
        )
    )
    first = web.get(f"/enrollments?sequence_id={sequence.id}&step={step}")
    assert first.status_code == 200
    pages, url = [first.text], link(first.text, "next")
    while url:
        assert f"step={step}" in url and f"sequence_id={sequence.id}" in url
        pages.append(web.get(url).text)
        url = link(pages[-1], "next")
    seen = [uuid.UUID(i) for page in pages for i in ROW.findall(page)]
    assert len(pages) == 3 and [len(ROW.findall(p)) for p in pages] == [50, 50, 33]
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected
    back = web.get(link(pages[-1], "prev")).text
    assert ROW.findall(back) == ROW.findall(pages[1])
    assert ROW.findall(web.get(link(pages[-1], "first")).text) == ROW.findall(pages[0])
    assert link(pages[0], "prev") is None and link(pages[0], "first") is None


def test_the_form_offers_the_sequences_steps_and_keeps_the_filter(app, acme):
    web, seeded = acme
    enroll_many(seeded, 30, NOW)
    sequence = seeded.sequences[0]
    page = web.get(f"/enrollments?sequence={sequence.id}&status=active&contact=n1&stuck=1").text
    assert f'<option value="{sequence.id}" selected>Flow 1</option>' in page
    assert '<option value="active" selected>Active</option>' in page
    assert 'name="contact" maxlength="200" placeholder="Email or name" value="n1"' in page
    assert 'name="stuck" value="1" checked' in page
    assert "Welcome &amp; Getting Started" in page  # the chosen sequence's steps
    assert 'name="step" disabled' not in page
    assert 'name="step" disabled' in web.get("/enrollments").text


def test_counts_show_the_total_and_each_status_for_the_filter(app, acme):
    web, seeded = acme
    enroll_many(seeded, 60, NOW)
    sequence = seeded.sequences[0]
    page = web.get(f"/enrollments?sequence_id={sequence.id}").text
    assert re.search(r'<strong id="enrollment-total">20</strong> matching', page)
    # sequence 1 has n % 3 == 0 of 60, so n % 6 is 0 (active) or 3 (exited): 10 each
    assert re.search(r'data-status="active"[^>]*>Active \(10\)', page)
    assert re.search(r'data-status="exited"[^>]*>Exited \(10\)', page)
    assert re.search(r'data-status="failed"[^>]*>Failed \(0\)', page)
    act = re.search(r'<a href="([^"]+)" id="act-on-these">Act on these 20…</a>', page)
    assert act and html.unescape(act.group(1)) == f"/enrollments/bulk?sequence_id={sequence.id}"


def test_rows_link_to_their_enrollment_page(app, acme):
    web, seeded = acme
    (only,) = enroll_many(seeded, 1, NOW)
    assert (
        f'<a href="/enrollments/{only}" class="enrollment-link">Open</a>'
        in web.get("/enrollments").text
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("version=two", "version"),
        ("status=sleeping", "status"),
        ("started_after=2026-02-30", "started_after"),
        ("step=not-an-id", "step"),
        ("cursor=forged", "cursor"),
    ],
)
def test_a_bad_value_is_shown_beside_its_field_with_422(app, acme, query, field):
    web, seeded = acme
    enroll_many(seeded, 3, NOW)
    response = web.get(f"/enrollments?{query}")
    assert response.status_code == 422
    assert f'id="filter-error" role="alert" data-field="{field}"' in response.text
    assert field in response.text and not ROW.search(response.text)
    if field != "cursor":
        assert re.search(rf'name="{field}"[^>]* aria-invalid="true"', response.text)


def test_another_workspaces_sequence_or_step_is_not_found(app, acme):
    web, _seeded = acme
    theirs = seed_sequences(accounts.create_workspace("Globex"), 1, prefix="Theirs")
    enroll_many(theirs, 3, NOW, domain="globex.test")
    sequence = theirs.sequences[0]
    assert web.get(f"/enrollments?sequence_id={sequence.id}").status_code == 404
    assert web.get(f"/enrollments?step={theirs.steps[sequence.id][0]}").status_code == 404
    everyone = web.get("/enrollments").text
    assert "globex.test" not in everyone and "Theirs 1" not in everyone
