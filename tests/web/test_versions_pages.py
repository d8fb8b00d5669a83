"""The pages of published versions: a live sequence's read-only builder and its draft of the
next version, the publish dialog with the impact on the contacts in flight, the versions
list, one version's canvas and the diff of two.

Runs on SQLite and PostgreSQL (the `app` fixture). The live sequence is the seed's onboarding
sequence, activated (version 1) with contacts waiting on both of its delays.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import ContactSequence, Sequence, SequenceStep, SequenceVersion
from app.services import accounts, builder, contacts, enrollment, publishing, sequences
from tests.helpers import onboarding_definition, tick
from tests.web.client import PASSWORD, Web

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=2, minutes=5)
EMAIL = "marketer@acme.test"


@dataclass
class Live:
    """The live sequence's id and a signed-in client of its workspace."""

    id: uuid.UUID
    web: Web

    def url(self, suffix: str = "") -> str:
        return f"/sequences/{self.id}{suffix}"

    def csrf(self) -> str:
        return self.web.csrf_token("/sequences")


def people(prefix: str, count: int) -> list[dict[str, str]]:
    return [{"email": f"{prefix}{i}@acme.test"} for i in range(count)]


@pytest.fixture
def live(app: Flask) -> Live:
    """Version 1 live: 3 contacts wait at 'Wait 3 days', then 2 at 'Wait 2 days'."""
    workspace = accounts.create_workspace("Acme")
    accounts.create_user(EMAIL, workspace, PASSWORD)
    sequence = sequences.create_sequence(workspace, sequences.parse_input(onboarding_definition()))
    sequences.set_status(sequence, "activate", NOW, actor="founder@acme.test")
    first = [contacts.upsert_contact(workspace, p)[0] for p in people("early", 3)]
    enrollment.enroll_contacts(sequence, first, NOW)
    tick(app, NOW)
    tick(app, LATER)
    second = [contacts.upsert_contact(workspace, p)[0] for p in people("late", 2)]
    enrollment.enroll_contacts(db.session.get(Sequence, sequence.id), second, LATER)
    tick(app, LATER)
    assert waiting(sequence.id) == {"wait_2d": 2, "wait_3d": 3}
    web = Web(app)
    assert web.sign_in(EMAIL, PASSWORD).status_code == 302
    return Live(sequence.id, web)


def waiting(sequence_id: uuid.UUID) -> dict[str, int]:
    """Active runs per step key, as stored."""
    rows = db.session.execute(
        select(SequenceStep.key, func.count())
        .join(ContactSequence, ContactSequence.current_step_id == SequenceStep.id)
        .where(ContactSequence.sequence_id == sequence_id, ContactSequence.status == "active")
        .group_by(SequenceStep.key)
    )
    return dict(rows.all())


def the_draft(live: Live) -> Sequence | None:
    db.session.expire_all()
    return db.session.scalar(select(Sequence).where(Sequence.draft_of_id == live.id))


def open_draft(live: Live) -> Sequence:
    response = live.web.post(live.url("/draft"), data={"csrf_token": live.csrf()})
    assert response.status_code == 302
    draft = the_draft(live)
    assert draft is not None
    assert response.headers["Location"] == f"/sequences/{draft.id}"
    return draft


def delete_steps(draft: Sequence, *keys: str) -> None:
    for key in keys:
        draft = db.session.get_one(Sequence, draft.id)
        builder.delete_step(draft, key, True, draft.version)


def text_of(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def live_number(live: Live) -> int | None:
    db.session.expire_all()
    return db.session.get_one(Sequence, live.id).published_version


def publish(live: Live, draft: Sequence, **fields: str) -> Any:
    data = {"csrf_token": live.csrf(), "live_version": str(live_number(live)), **fields}
    return live.web.post(f"/sequences/{draft.id}/publish", data=data)


# --- the builder of a published sequence and of its draft ------------------------------------


def test_a_live_sequence_is_read_only_and_offers_a_draft_of_the_next_version(live):
    page = live.web.get(live.url())

    assert 'data-editable="false"' in page.text
    assert "Version 1 is live." in text_of(page.text)
    assert "Edit a draft of version 2" in page.text
    assert f'href="/sequences/{live.id}/versions"' in page.text
    assert "pause it to edit" not in page.text


def test_a_paused_published_sequence_is_not_edited_in_place_either(live):
    sequences.set_status(db.session.get_one(Sequence, live.id), "pause", NOW)

    page = live.web.get(live.url())

    assert 'data-editable="false"' in page.text
    assert "Version 1 is paused." in text_of(page.text)
    assert "Edit a draft of version 2" in page.text


def test_editing_opens_one_hidden_draft_whose_builder_says_what_it_will_replace(live):
    draft = open_draft(live)
    assert (draft.status, draft.draft_base, draft.name) == ("draft", 1, "New User Onboarding")

    page = live.web.get(f"/sequences/{draft.id}")
    words = text_of(page.text)
    assert 'data-editable="true"' in page.text
    assert "Editing draft of version 2 (version 1 is live)." in words
    assert f'href="/sequences/{draft.id}/publish"' in page.text
    assert "Discard the draft" in words
    assert f'href="/sequences/{live.id}"' in page.text
    assert "/status/activate" not in page.text and "went live after" not in words

    again = live.web.post(live.url("/draft"), data={"csrf_token": live.csrf()})
    assert again.headers["Location"] == f"/sequences/{draft.id}"
    assert "Continue the draft of version 2" in live.web.get(live.url()).text
    assert db.session.scalar(select(func.count()).where(Sequence.draft_of_id == live.id)) == 1
    listing = live.web.get("/sequences").text
    assert listing.count("New User Onboarding</strong>") == 1
    assert "draft of v2" in text_of(listing)


def test_the_draft_warns_when_another_version_went_live_after_it_was_started(live):
    draft = open_draft(live)
    sequence = db.session.get_one(Sequence, live.id)
    definition = sequences.export_definition(sequence)
    definition["description"] = "Published through the API meanwhile"
    publishing.publish(
        sequence, sequences.parse_input(definition), {}, actor=None, note=None, now=NOW
    )

    words = text_of(live.web.get(f"/sequences/{draft.id}").text)

    assert "Editing draft of version 3 (version 2 is live)." in words
    assert (
        "Version 2 went live after this draft was started from version 1: "
        "publishing this draft replaces version 2."
    ) in words


def test_discarding_the_draft_deletes_it_and_goes_back_to_the_live_sequence(live):
    draft = open_draft(live)

    response = live.web.post(f"/sequences/{draft.id}/discard", data={"csrf_token": live.csrf()})

    assert response.headers["Location"] == f"/sequences/{live.id}"
    assert the_draft(live) is None
    assert "Discarded the draft of version 2" in live.web.get(live.url()).text
    assert live_number(live) == 1


def test_draft_buttons_need_the_csrf_token(live):
    assert live.web.post(live.url("/draft")).status_code == 400
    assert the_draft(live) is None
    draft = open_draft(live)
    delete_steps(draft, "wait_2d")

    refused = [
        live.web.post(f"/sequences/{draft.id}/discard"),
        live.web.post(
            f"/sequences/{draft.id}/publish",
            data={"live_version": "1", "choice:wait_2d": "exit"},
        ),
        live.web.post(live.url("/versions/1/restore")),
    ]

    assert [r.status_code for r in refused] == [400, 400, 400]
    assert the_draft(live) is not None and live_number(live) == 1
    assert "wait_2d" not in {s.key for s in the_draft(live).steps}


# --- the publish dialog ----------------------------------------------------------------------


def test_the_publish_dialog_counts_the_contacts_on_each_step_before_anything_changes(live):
    draft = open_draft(live)
    delete_steps(draft, "wait_2d")
    wait = next(s for s in the_draft(live).steps if s.key == "wait_3d")
    builder.update_step(
        the_draft(live),
        "wait_3d",
        name=wait.name,
        config={"duration": "5 days"},
        version=the_draft(live).version,
    )

    page = live.web.get(f"/sequences/{draft.id}/publish")

    words = text_of(page.text)
    assert page.status_code == 200
    assert "2 contacts wait at 'Wait 2 days' removed :" in words
    assert "move them to 'Key Features Overview'" in words
    assert "exit the sequence" in words and "finish on version 1" in words
    assert "publishing waits for it" not in words  # an error only once a publish is refused
    assert (
        "3 contacts at 'Wait 3 days' stay, retimed: Wait 3 days → Wait 5 days: "
        "due times recomputed from when each contact entered."
    ) in words
    assert "removed 'Wait 2 days' (delay)" in words
    assert "changed 'Wait 3 days' (delay) : config.duration" in words
    assert "changed 'Welcome & Getting Started' (email) : next" in words
    assert '<button type="submit">Publish version 2</button>' in page.text
    assert live_number(live) == 1 and waiting(live.id) == {"wait_2d": 2, "wait_3d": 3}


def test_publishing_without_a_choice_is_refused_inline_and_loses_nothing(live):
    draft = open_draft(live)
    delete_steps(draft, "wait_2d", "wait_3d")

    response = publish(live, draft, **{"choice:wait_2d": "email_2", "note": "Shorter <b>"})

    assert response.status_code == 422
    words = text_of(response.text)
    assert "Choose where these 3 contacts go: publishing waits for it." in words
    assert "Choose where these 2 contacts go" not in words
    assert '<option value="email_2" selected>' in response.text
    assert "Shorter &lt;b&gt;</textarea>" in response.text
    assert live_number(live) == 1 and the_draft(live) is not None
    assert waiting(live.id) == {"wait_2d": 2, "wait_3d": 3}
    assert db.session.scalar(select(func.count()).select_from(SequenceVersion)) == 1


def test_publishing_moves_the_contacts_as_chosen_and_says_so(live):
    draft = open_draft(live)
    delete_steps(draft, "wait_2d", "wait_3d")

    response = publish(
        live, draft, **{"choice:wait_2d": "email_2", "choice:wait_3d": "exit", "note": "Faster"}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/sequences/{live.id}/versions"
    assert live_number(live) == 2 and the_draft(live) is None
    page = text_of(live.web.get(live.url("/versions")).text)
    assert (
        "Version 2 is live: 2 contacts moved to 'Key Features Overview'; 3 contacts exited."
    ) in page
    version = db.session.scalars(select(SequenceVersion).where(SequenceVersion.number == 2)).one()
    assert (version.published_by, version.note) == (EMAIL, "Faster")


def test_an_unfinished_draft_lists_its_problems_by_step_name_and_cannot_be_published(live):
    draft = open_draft(live)
    email = next(s for s in draft.steps if s.key == "email_2")
    builder.update_step(
        draft,
        "email_2",
        name=email.name,
        config={**email.config, "subject": ""},
        version=draft.version,
    )

    page = live.web.get(f"/sequences/{draft.id}/publish")
    refused = publish(live, the_draft(live))

    words = text_of(page.text)
    assert "Finish the draft first" in words
    assert "Key Features Overview (config.subject)" in words
    assert 'disabled title="Finish the draft first"' in page.text
    assert refused.status_code == 422 and "Finish the draft first" in refused.text
    assert live_number(live) == 1 and the_draft(live) is not None


def test_a_version_published_since_the_dialog_opened_is_shown_before_publishing(live):
    draft = open_draft(live)
    sequence = db.session.get_one(Sequence, live.id)
    definition = sequences.export_definition(sequence)
    publishing.publish(
        sequence, sequences.parse_input(definition), {}, actor=None, note=None, now=NOW
    )

    response = live.web.post(
        f"/sequences/{draft.id}/publish", data={"csrf_token": live.csrf(), "live_version": "1"}
    )

    assert response.status_code == 409
    assert "Version 2 went live since this page was opened" in response.text
    assert live_number(live) == 2 and the_draft(live) is not None


def test_the_publish_dialog_is_only_for_drafts_of_a_next_version(live):
    assert live.web.get(live.url("/publish")).status_code == 404
    assert live.web.post(live.url("/discard"), data={"csrf_token": live.csrf()}).status_code == 404


# --- versions, one version, diff, restore ----------------------------------------------------


def published_twice(live: Live) -> Sequence:
    """Version 2: 'Wait 2 days' removed (its contacts moved on), a step added, a subject
    changed, a step renamed to markup, and the description changed."""
    draft = open_draft(live)
    delete_steps(draft, "wait_2d")
    draft = db.session.get_one(Sequence, draft.id)
    email = next(s for s in draft.steps if s.key == "email_3")
    builder.update_step(
        draft,
        "email_3",
        name="<b>Pro</b>",
        config={**email.config, "subject": "Pro tips"},
        version=draft.version,
    )
    draft = db.session.get_one(Sequence, draft.id)
    key, _ = builder.add_step(draft, "goal", (1500, 120), draft.version)
    draft = db.session.get_one(Sequence, draft.id)
    builder.update_step(
        draft, key, name="Converted", config={"goal": "Paid"}, version=draft.version
    )
    draft = db.session.get_one(Sequence, draft.id)
    builder.connect(draft, "email_3", key, None, draft.version)
    draft = db.session.get_one(Sequence, draft.id)
    draft.description = "Onboarding, shorter"
    db.session.commit()
    response = publish(live, the_draft(live), **{"choice:wait_2d": "email_2", "note": "v2"})
    assert response.status_code == 302, text_of(response.text)
    return db.session.get_one(Sequence, live.id)


def test_the_versions_page_lists_versions_newest_first_with_their_runs(live):
    published_twice(live)

    page = live.web.get(live.url("/versions"))

    rows = re.findall(r'<tr data-version="(\d+)">(.*?)</tr>', page.text, re.S)
    assert [number for number, _ in rows] == ["2", "1"]
    newest, oldest = (text_of(row) for _, row in rows)
    assert newest.startswith("2 live ") and "marketer@acme.test v2 5 active" in newest
    assert "founder@acme.test First version" in oldest and "live" not in oldest
    assert f'href="/sequences/{live.id}/versions/1/diff/2"' in page.text
    assert f'action="/sequences/{live.id}/versions/1/restore"' in page.text
    assert f'href="/sequences/{live.id}/versions"' in live.web.get("/sequences").text


def test_the_diff_page_draws_added_removed_and_changed_steps_with_their_fields(live):
    published_twice(live)

    page = live.web.get(live.url("/versions/1/diff/2")).text

    cards = dict(re.findall(r'data-step="([^"]+)" data-status="([^"]+)"', page))
    assert cards == {
        "email_1": "changed",
        "email_2": "same",
        "wait_3d": "same",
        "email_3": "changed",
        "goal_1": "added",
        "wait_2d": "removed",
    }
    changed = page[page.index('data-step="email_3"') :].split("</div>\n", 4)
    assert "<code>name</code>" in changed[3] and "<code>config.subject</code>" in changed[3]
    assert "&lt;b&gt;Pro&lt;/b&gt;" in page and "<b>Pro</b>" not in page
    assert 'class="vedge vedge-removed" data-source="email_1" data-target="wait_2d"' in page
    assert 'class="vedge vedge-added" data-source="email_3" data-target="goal_1"' in page
    assert "legend-added" in page and "legend-removed" in page
    assert "settings sequence: description" in text_of(page)


def test_a_version_page_draws_that_version_alone(live):
    published_twice(live)

    page = live.web.get(live.url("/versions/1")).text

    assert set(re.findall(r'data-status="([^"]+)"', page)) == {"same"}
    assert 'data-step="wait_2d"' in page and 'data-step="goal_1"' not in page
    assert live.web.get(live.url("/versions/3")).status_code == 404
    assert live.web.get(live.url("/versions/99999999999/diff/1")).status_code == 404


def test_restore_as_draft_makes_the_draft_of_the_next_version_from_the_old_one(live):
    published_twice(live)

    response = live.web.post(live.url("/versions/1/restore"), data={"csrf_token": live.csrf()})

    draft = the_draft(live)
    assert draft is not None and response.headers["Location"] == f"/sequences/{draft.id}"
    assert {s.key for s in draft.steps} == {"email_1", "wait_2d", "email_2", "wait_3d", "email_3"}
    assert (draft.draft_base, live_number(live)) == (2, 2)
    assert "Editing draft of version 3 (version 2 is live)." in text_of(
        live.web.get(f"/sequences/{draft.id}").text
    )


def test_another_workspace_gets_404_on_every_version_page(app, live):
    draft = open_draft(live)
    other = accounts.create_workspace("Globex")
    accounts.create_user("spy@globex.test", other, PASSWORD)
    spy = Web(app)
    assert spy.sign_in("spy@globex.test", PASSWORD).status_code == 302
    csrf = spy.csrf_token("/sequences")

    answers = [
        spy.get(live.url("/versions")),
        spy.get(live.url("/versions/1")),
        spy.get(live.url("/versions/1/diff/1")),
        spy.get(f"/sequences/{draft.id}/publish"),
        spy.post(f"/sequences/{draft.id}/publish", data={"csrf_token": csrf, "live_version": "1"}),
        spy.post(f"/sequences/{draft.id}/discard", data={"csrf_token": csrf}),
        spy.post(live.url("/draft"), data={"csrf_token": csrf}),
        spy.post(live.url("/versions/1/restore"), data={"csrf_token": csrf}),
    ]

    assert [a.status_code for a in answers] == [404] * len(answers)
    assert the_draft(live) is not None and live_number(live) == 1
