"""The template gallery page: shipped cards, "Use this template", "Save as template",
import and export as files, each scoped to the signed-in user's workspace."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import func, select
from werkzeug.http import parse_options_header

from app.core.format.parse import definition_to_dict, parse_definition
from app.extensions import db
from app.models import Sequence, SequenceStep, SequenceTemplate
from app.services import accounts, sequences
from app.services.gallery import GALLERY_DIR, SHIPPED_ORDER
from tests.helpers import onboarding_definition
from tests.web.client import Web, signed_in


@pytest.fixture
def web(app: Flask) -> Web:
    return signed_in(app, "Acme", "marketer@acme.test")


def shipped_files() -> dict[str, dict[str, Any]]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in GALLERY_DIR.glob("*.yaml")}


def graph_of(app: Flask, sequence_id: uuid.UUID) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """Steps (key, type, name, config, position) in order, and connections, as stored."""
    with app.app_context():
        document = sequences.export_definition(db.session.get_one(Sequence, sequence_id))
    steps = [
        (s["id"], s["type"], s.get("name"), s["config"], s.get("position"))
        for s in document["steps"]
    ]
    return steps, document["connections"]


def graph_of_document(document: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[Any]]:
    """The same shape for a template file, as the format reads it."""
    parsed = definition_to_dict(parse_definition(document))
    steps = [
        (s["id"], s["type"], s.get("name"), s["config"], s.get("position")) for s in parsed["steps"]
    ]
    return steps, [{"label": None, **c} for c in parsed["connections"]]


def sequence_from_redirect(response: Any) -> uuid.UUID:
    assert response.status_code == 302, response.text
    found = re.fullmatch(r"/sequences/([0-9a-f-]{36})", response.headers["Location"])
    assert found, response.headers["Location"]
    return uuid.UUID(found.group(1))


def counts(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count(Sequence.id))),
            db.session.scalar(select(func.count(SequenceStep.id))),
            db.session.scalar(select(func.count(SequenceTemplate.id))),
        )


def onboarding_sequence(app: Flask, workspace: str = "Acme") -> uuid.UUID:
    with app.app_context():
        owner = accounts.workspace_named(workspace)
        return sequences.create_sequence(owner, sequences.parse_input(onboarding_definition())).id


def test_the_gallery_shows_every_shipped_template_with_its_graph_and_facts(app, web):
    files = shipped_files()
    assert set(SHIPPED_ORDER) <= set(files)
    page = web.get("/templates")
    assert page.status_code == 200
    cards = re.findall(r'<article class="template-card" data-template="([^"]+)"', page.text)
    assert cards[:3] == ["saas_trial", "webinar_promo", "cold_outreach"]
    assert sorted(cards) == sorted(files)
    for key, document in files.items():
        card = page.text.split(f'data-template="{key}"', 1)[1].split("</article>", 1)[0]
        assert card.count("<svg") == 1
        assert card.count("<rect") == len(document["steps"])
        assert card.count('class="thumb-edge"') == len(document["connections"])
        assert f">{document['name']}</h3>" in card.replace("&amp;", "&")
        emails = [s for s in document["steps"] if s["type"] == "email"]
        assert f"{len(emails)} email" in card
        assert 'class="template-duration">about ' in card
        assert f'action="/templates/{key}/use"' in card and "Use this template" in card
    cold = page.text.split('data-template="cold_outreach"', 1)[1].split("</article>", 1)[0]
    assert "Value Prop → Follow-up 1 → Follow-up 2 → Breakup" in cold
    assert "about 14 days" in cold
    assert 'aria-current="page">Templates</a>' in page.text


def test_use_this_template_creates_a_draft_with_the_same_graph_and_opens_it(app, web):
    csrf = web.csrf_token("/templates")
    first = sequence_from_redirect(
        web.post("/templates/cold_outreach/use", data={"csrf_token": csrf})
    )
    template = shipped_files()["cold_outreach"]
    assert graph_of(app, first) == graph_of_document(template)
    with app.app_context():
        sequence = db.session.get_one(Sequence, first)
        assert (sequence.name, sequence.status, sequence.version) == ("Cold Outreach", "draft", 1)
        assert sequence.trigger_config == template["trigger"]
    builder = web.get(f"/sequences/{first}")
    assert builder.status_code == 200 and "Cold Outreach" in builder.text

    second = sequence_from_redirect(
        web.post("/templates/cold_outreach/use", data={"csrf_token": csrf})
    )
    with app.app_context():
        assert db.session.get_one(Sequence, second).name == "Cold Outreach (2)"
    assert web.post("/templates/no_such_thing/use", data={"csrf_token": csrf}).status_code == 404


def test_using_a_template_needs_the_csrf_token(app, web):
    before = counts(app)
    refused = web.post("/templates/cold_outreach/use", data={})
    assert refused.status_code == 400
    sequence_id = onboarding_sequence(app)
    save = web.post(f"/sequences/{sequence_id}/save-as-template", data={"name": "Ours"})
    assert save.status_code == 400
    assert counts(app) == (before[0] + 1, before[1] + 5, 0)


def test_save_as_template_shows_it_in_the_gallery_and_it_can_be_used(app, web):
    sequence_id = onboarding_sequence(app)
    builder = web.get(f"/sequences/{sequence_id}")
    assert f'action="/sequences/{sequence_id}/save-as-template"' in builder.text
    assert f'href="/sequences/{sequence_id}/export.yaml"' in builder.text
    csrf = web.csrf_token("/templates")
    saved = web.post(
        f"/sequences/{sequence_id}/save-as-template",
        data={"csrf_token": csrf, "name": "Our <b>onboarding</b>"},
    )
    assert saved.status_code == 302
    assert saved.headers["Location"] == "/templates#workspace-templates"
    with app.app_context():
        template = db.session.scalar(select(SequenceTemplate))
        template_id = template.id
    gallery = web.get("/templates").text
    workspace_part = gallery.split('id="workspace-templates"', 1)[1]
    assert f'data-template="{template_id}"' in workspace_part
    assert "Our &lt;b&gt;onboarding&lt;/b&gt;" in workspace_part
    assert "<b>onboarding" not in gallery
    assert "Welcome &amp; Getting Started → Key Features Overview" in workspace_part

    copy_id = sequence_from_redirect(
        web.post(f"/templates/{template_id}/use", data={"csrf_token": csrf})
    )
    assert graph_of(app, copy_id) == graph_of(app, sequence_id)
    with app.app_context():
        assert db.session.get_one(Sequence, copy_id).name == "Our <b>onboarding</b>"


def test_save_as_template_refuses_a_blank_or_taken_name_inline(app, web):
    sequence_id = onboarding_sequence(app)
    csrf = web.csrf_token("/templates")
    url = f"/sequences/{sequence_id}/save-as-template"
    assert web.post(url, data={"csrf_token": csrf, "name": "Welcome"}).status_code == 302
    taken = web.post(url, data={"csrf_token": csrf, "name": " Welcome "})
    assert taken.status_code == 422
    assert "already has a template named &#39;Welcome&#39;" in taken.text
    assert "<code>name</code>" in taken.text
    blank = web.post(url, data={"csrf_token": csrf, "name": "  "})
    assert blank.status_code == 422 and "give the template a name" in blank.text
    assert counts(app)[2] == 1


def test_an_unfinished_sequence_cannot_become_a_template(app, web):
    csrf = web.csrf_token("/sequences")
    sequence_id = sequence_from_redirect(
        web.post("/sequences", data={"csrf_token": csrf, "name": "Empty"})
    )
    refused = web.post(
        f"/sequences/{sequence_id}/save-as-template", data={"csrf_token": csrf, "name": "Empty"}
    )
    assert refused.status_code == 422
    assert "a sequence needs at least one step" in refused.text
    assert counts(app)[2] == 0


def test_another_workspace_never_sees_or_uses_a_workspace_template(app, web):
    sequence_id = onboarding_sequence(app)
    csrf = web.csrf_token("/templates")
    web.post(
        f"/sequences/{sequence_id}/save-as-template", data={"csrf_token": csrf, "name": "Ours"}
    )
    with app.app_context():
        template_id = db.session.scalar(select(SequenceTemplate.id))

    spy = signed_in(app, "Globex", "spy@globex.test")
    gallery = spy.get("/templates").text
    assert "Ours" not in gallery and str(template_id) not in gallery
    assert 'data-template="cold_outreach"' in gallery
    before = counts(app)
    spy_csrf = spy.csrf_token("/templates")
    assert (
        spy.post(f"/templates/{template_id}/use", data={"csrf_token": spy_csrf}).status_code == 404
    )
    steal = spy.post(
        f"/sequences/{sequence_id}/save-as-template", data={"csrf_token": spy_csrf, "name": "Mine"}
    )
    assert steal.status_code == 404
    assert spy.get(f"/sequences/{sequence_id}/export.yaml").status_code == 404
    assert counts(app) == before


def test_export_downloads_a_file_that_imports_back_to_the_same_graph(app, web):
    sequence_id = onboarding_sequence(app)
    exported = web.get(f"/sequences/{sequence_id}/export.json")
    assert exported.status_code == 200
    assert exported.mimetype == "application/json"
    disposition = parse_options_header(exported.headers["Content-Disposition"])
    assert disposition == ("attachment", {"filename": "new-user-onboarding.json"})
    upload = web.get("/sequences/import")
    assert 'type="file" name="file" accept=".json,.yaml,.yml' in upload.text
    csrf = web.csrf_token("/sequences/import")
    imported = web.post(
        "/sequences/import",
        data={"csrf_token": csrf, "file": (io.BytesIO(exported.data), "onboarding.json")},
        content_type="multipart/form-data",
    )
    copy_id = sequence_from_redirect(imported)
    assert graph_of(app, copy_id) == graph_of(app, sequence_id)
    with app.app_context():
        assert db.session.get_one(Sequence, copy_id).name == "New User Onboarding (2)"


def test_a_bad_import_file_lists_each_problem_and_creates_nothing(app, web):
    document = onboarding_definition()
    document["steps"][1]["config"]["duration"] = "soon"
    document["connections"].append({"source": "email_3", "target": "ghost"})
    csrf = web.csrf_token("/sequences/import")
    before = counts(app)
    refused = web.post(
        "/sequences/import",
        data={"csrf_token": csrf, "file": (io.BytesIO(yaml.safe_dump(document).encode()), "x.yml")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "<strong>x.yml</strong> was not imported" in refused.text
    assert "Step <code>wait_2d</code>" in refused.text
    assert "field <code>config.duration</code>" in refused.text
    assert "&#39;soon&#39; is not a duration" in refused.text
    wrong_type = web.post(
        "/sequences/import",
        data={"csrf_token": csrf, "file": (io.BytesIO(b"name: x"), "notes.txt")},
        content_type="multipart/form-data",
    )
    assert wrong_type.status_code == 422 and "choose a .json, .yaml or .yml file" in wrong_type.text
    assert counts(app) == before
