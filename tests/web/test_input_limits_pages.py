"""The pages refuse what cannot be stored or sent, with the error next to the field and
nothing saved: rule segments, CSV files, search, hosted forms, the builder."""

from __future__ import annotations

import io
import time
import tracemalloc

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, ContactImport, Segment
from app.services import accounts, contact_import, forms, sequences
from tests.services.test_forms import ebook_sequence
from tests.web.client import Web, signed_in
from tests.web.test_builder_graph import Editor
from tests.web.test_contacts_pages import NOW, PASSWORD, USER, Acme, make_workspace
from tests.web.test_panels import field_error, panel_values, seed


@pytest.fixture
def acme(app: Flask) -> Acme:
    return make_workspace("Acme", USER, [{"email": "ada@example.com", "first_name": "Ada"}])


@pytest.fixture
def web(app: Flask, acme: Acme) -> Web:
    client = Web(app)
    assert client.sign_in(USER, PASSWORD).status_code == 302
    return client


@pytest.fixture
def public_form(app: Flask) -> str:
    """The public id of Acme's hosted form."""
    signed_in(app, "Acme", USER)
    sequence = ebook_sequence(accounts.workspace_named("Acme"))
    [form] = forms.ensure_forms_for_workspace(sequence.workspace_id)
    return form.public_id


@pytest.fixture
def editor(app: Flask) -> Editor:
    workspace = accounts.create_workspace("Acme")
    accounts.create_user(USER, workspace, PASSWORD)
    return Editor(app, USER, sequences.create_blank(workspace, "Onboarding", None).id)


RULE_LAUGHS = """\
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
type: tag
tag: [*e,*e,*e,*e,*e,*e,*e,*e,*e]
"""


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_a_billion_laughs_rule_segment_is_refused_at_once_with_flat_memory(web: Web) -> None:
    assert len(RULE_LAUGHS) < 300
    csrf = web.csrf_token("/segments")
    form = {"csrf_token": csrf, "name": "Laughs", "kind": "rule", "rule": RULE_LAUGHS}
    tracemalloc.start()
    started = time.perf_counter()
    try:
        response = web.post("/segments", data=form)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 422
    assert "aliases (*a) are not allowed" in response.text
    assert elapsed < 1.0 and peak < 5 * 2**20
    assert count(Segment) == 0


def test_a_rule_nested_too_deeply_or_with_too_many_conditions_is_refused(web: Web) -> None:
    csrf = web.csrf_token("/segments")
    deep = '{"not": ' * 40 + '{"type": "tag", "tag": "vip"}' + "}" * 40
    wide = '{"any": [' + ", ".join(['{"type": "tag", "tag": "vip"}'] * 300) + "]}"
    for rule, words in ((deep, "levels deep"), (wide, "conditions")):
        form = {"csrf_token": csrf, "name": "Big", "kind": "rule", "rule": rule}
        response = web.post("/segments", data=form)
        assert response.status_code == 422 and words in response.text
    assert count(Segment) == 0


def test_a_csv_with_a_nul_byte_is_refused_naming_the_row_and_column(web: Web) -> None:
    csrf = web.csrf_token("/contacts/import")
    text = "email,first_name,plan\nnew@example.com,New,trial\nbad@example.com,Bo\x00b,pro\n"
    response = web.post(
        "/contacts/import",
        data={"csrf_token": csrf, "file": (io.BytesIO(text.encode()), "people.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "row 3, column 2 (&#39;first_name&#39;) contains a NUL character" in response.text
    assert count(ContactImport) == 0


def test_csv_rows_with_line_breaks_in_names_are_skipped_and_reported(acme: Acme) -> None:
    text = 'email,first_name\nok@example.com,Ok\nbad@example.com,"Bob\nBcc: x@y.test"\n'
    job = contact_import.start_import(acme.workspace, "p.csv", text, None)
    contact_import.process_pending(NOW)
    db.session.expire_all()
    job = db.session.get(ContactImport, job.id)
    assert [(e["row"], e["field"]) for e in job.errors] == [(4, "first_name")]
    emails = set(db.session.scalars(select(Contact.email)))
    assert "ok@example.com" in emails and "bad@example.com" not in emails


@pytest.mark.parametrize("query", ["ada\x00", "\x00"])
def test_a_search_with_a_nul_character_finds_nothing_instead_of_failing(
    web: Web, query: str
) -> None:
    response = web.get("/contacts", query_string={"q": query})
    assert response.status_code in (200, 400)
    assert "ada@example.com" not in response.text


@pytest.mark.parametrize("name", ["Bob\r\nBcc: x@y.test", "Bob\u2028x", "Bob\x00"])
def test_a_hosted_form_refuses_a_name_that_would_break_a_header(
    app: Flask, public_form: str, name: str
) -> None:
    page = Web(app).post(f"/f/{public_form}", data={"email": "ada@example.com", "first_name": name})
    assert page.status_code == 422
    assert 'aria-describedby="f-first_name-error"' in page.text
    assert count(Contact) == 0


@pytest.mark.parametrize("email", ["x@y.test,victim@z.test", "a@[127.0.0.1]", "<b>@x.com"])
def test_a_hosted_form_refuses_an_address_that_is_not_one_mailbox(
    app: Flask, public_form: str, email: str
) -> None:
    page = Web(app).post(f"/f/{public_form}", data={"email": email})
    assert page.status_code == 422 and count(Contact) == 0


@pytest.mark.parametrize("x", [2**31, "1e309", "NaN", -(10**7)])
def test_a_canvas_position_out_of_bounds_is_refused_naming_position(editor: Editor, x) -> None:
    response = editor.send("POST", "/steps", {"type": "email", "position": {"x": x, "y": 0}})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "position"


@pytest.mark.parametrize("from_name", ["Acme\r\nBcc: x@y.test", "Acme\u2028x"])
def test_a_sender_name_with_a_line_break_is_refused_inline_and_not_saved(app, from_name) -> None:
    seeded_panel = seed(app)
    values = panel_values(seeded_panel.web.get(seeded_panel.url("settings")).text)
    response = seeded_panel.web.submit(
        seeded_panel.url("settings"), data=values | {"settings.from_name": from_name}
    )
    assert "line break" in field_error(response.text, "settings.from_name")
    assert "from_name" not in (seeded_panel.fresh().settings or {})


def test_a_contact_name_with_a_line_break_is_refused_on_the_new_contact_form(web: Web) -> None:
    csrf = web.csrf_token("/contacts")
    response = web.post(
        "/contacts/new",
        data={"csrf_token": csrf, "email": "cleo@example.com", "first_name": "Cleo\r\nBcc: x"},
    )
    assert response.status_code == 422 and "line break" in response.text
    assert db.session.scalar(select(Contact).where(Contact.email == "cleo@example.com")) is None
