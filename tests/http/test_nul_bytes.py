"""A NUL character in any query, URL part, form field or JSON string is a 400 naming the
field: no name, subject, address or search means one, and PostgreSQL cannot store it."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, ContactEvent, Sequence
from app.services import accounts, forms, sequences
from tests.services.test_forms import ebook_sequence
from tests.web.client import Web, signed_in


def contact_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Contact))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "first_name": "Bob\x00"}, "first_name"),
        ({"email": "a@example.com", "fields": {"plan": "pro\x00"}}, "fields.plan"),
        ({"email": "a@example.com", "fields": {"pl\x00an": "pro"}}, "fields.pl\\0an"),
        ({"email": "a@example.com", "tags": ["ok", "v\x00ip"]}, "tags.1"),
    ],
)
def test_a_nul_in_an_api_json_string_is_a_400_naming_the_field(api, body, field):
    answer = api.post("/api/contacts", body)
    assert answer.status_code == 400
    assert answer.json["error"] == {
        "message": f"{field} must not contain a NUL character",
        "field": field,
        "step": None,
    }
    assert contact_count() == 0


def test_a_nul_in_a_sequence_definition_is_refused_before_anything_is_stored(api):
    body = {"name": "Welcome\x00", "steps": [{"id": "e", "type": "end"}]}
    answer = api.post("/api/sequences", body)
    assert answer.status_code == 400
    assert answer.json["error"]["field"] == "name"
    assert db.session.scalar(select(func.count()).select_from(Sequence)) == 0


def test_a_nul_in_the_contact_search_is_a_400_page(app):
    web = signed_in(app, "Acme", "marketer@acme.test")
    page = web.get("/contacts?q=ada%00")
    assert page.status_code == 400
    assert "q must not contain a NUL character" in page.text


def test_a_nul_in_a_public_form_field_stores_nothing(app):
    sequence = ebook_sequence(accounts.create_workspace("Acme"))
    [form] = forms.ensure_forms_for_workspace(sequence.workspace_id)
    answer = Web(app).post(
        f"/f/{form.public_id}", data={"email": "a@example.com", "first_name": "Bob\x00"}
    )
    assert answer.status_code == 400
    assert "first_name must not contain a NUL character" in answer.text
    assert contact_count() == 0


def test_a_nul_in_a_builder_step_id_is_a_400_json_answer(app):
    web = signed_in(app, "Acme", "marketer@acme.test")
    workspace = accounts.workspace_named("Acme")
    sequence = sequences.create_blank(workspace, "Onboarding", None)
    csrf = web.csrf_token("/sequences")
    answer = web.send(
        "PATCH",
        f"/sequences/{sequence.id}/graph/steps/a%00b",
        json={"position": {"x": 1, "y": 1}},
        headers={"X-CSRFToken": csrf, "X-Sequence-Version": str(sequence.version)},
    )
    assert answer.status_code == 400
    assert answer.json["error"]["field"] == "step_id"


def test_a_multipart_part_without_a_name_is_no_500(api):
    body = (
        b"--b\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n"
        b'--b\r\nContent-Disposition: form-data; name="message"\r\n\r\nnot an email\r\n--b--\r\n'
    )
    answer = api.client.post(
        "/api/inbound/email",
        data=body,
        content_type="multipart/form-data; boundary=b",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json["error"]["field"] == "message"  # read, refused as no email


A = b'{"contact": {"email": "a@example.com"}, '  # an event's start, as JSON text


def post_raw(api, path: str, body: bytes):
    headers = {**api._headers(), "Content-Type": "application/json"}
    return api.client.post(path, data=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            A + b'"event": "x", "properties": {"p": "\\ud800"}}',
            "properties.p",
        ),
        (A + b'"event": "seen\\uDFFF"}', "event"),
        (A + b'"event": "x", "id": "k\\udc00"}', "id"),
        (
            A + b'"event": "x", "properties": {"\\ud800": 1}}',
            "properties.?",
        ),
        (A + b'"event": "x\xed\xa0\x80"}', "event"),  # U+D800 as UTF-8 would spell it
    ],
)
def test_a_lone_surrogate_in_a_json_string_is_a_400_naming_the_field(api, body, field):
    """Half of a UTF-16 pair is no text: PostgreSQL cannot store it and UTF-8 cannot encode
    it (the events API's idempotency hash failed with a 500 on one)."""
    answer = post_raw(api, "/api/events", body)
    assert answer.status_code == 400
    assert answer.json["error"] == {
        "message": f"{field} must be valid Unicode text (it holds a lone surrogate)",
        "field": field,
        "step": None,
    }
    assert db.session.scalar(select(func.count()).select_from(ContactEvent)) == 0


def test_an_escaped_surrogate_pair_is_one_character_and_is_stored(api):
    body = A + b'"event": "x", "properties": {"p": "\\ud83d\\ude00"}}'
    assert post_raw(api, "/api/events", body).status_code == 202
    assert db.session.scalar(select(ContactEvent.properties)) == {"p": "\U0001f600"}
