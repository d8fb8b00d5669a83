"""Hosted forms over HTTP: the public page and its POST work without sign-in or CSRF token,
the signed-in forms page lists the workspace's own forms with embed snippets, and the
settings page refuses unsafe redirects. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import Contact, ContactSequence, Form
from app.services import accounts, forms
from tests.services.test_forms import ebook_sequence
from tests.web.client import CSRF_INPUT, Web, signed_in


@dataclass
class Seeded:
    web: Web  # signed in to Acme
    public: Web  # a visitor: no session
    form_id: str
    public_id: str
    sequence_id: str


@pytest.fixture
def seeded(app: Flask) -> Seeded:
    web = signed_in(app, "Acme", "marketer@acme.test")
    sequence = ebook_sequence(accounts.workspace_named("Acme"))
    [form] = forms.ensure_forms_for_workspace(sequence.workspace_id)
    return Seeded(web, Web(app), str(form.id), form.public_id, str(sequence.id))


def contacts() -> list[tuple[str, str | None]]:
    return [tuple(row) for row in db.session.execute(select(Contact.email, Contact.first_name))]


def test_the_public_form_needs_no_sign_in_and_carries_a_hidden_honeypot(seeded):
    page = seeded.public.get(f"/f/{seeded.public_id}")

    assert page.status_code == 200
    assert "<h1>Ebook Download</h1>" in page.text
    assert '<label for="f-email">Email' in page.text and 'id="f-first_name"' in page.text
    assert 'name="website" value="" tabindex="-1" autocomplete="off"' in page.text
    assert 'class="hp" aria-hidden="true"' in page.text
    assert CSRF_INPUT.search(page.text) is None
    assert "Sign out" not in page.text and "app.css" not in page.text


def test_posting_without_a_csrf_token_creates_and_enrolls_the_contact(seeded):
    done = seeded.public.post(
        f"/f/{seeded.public_id}", data={"email": "ada@example.com", "first_name": "Ada"}
    )

    assert done.status_code == 200, done.text
    assert "Thank you! Check your inbox in a moment." in done.text
    assert contacts() == [("ada@example.com", "Ada")]
    assert db.session.scalar(select(func.count(ContactSequence.id))) == 1


def test_an_unknown_form_is_404(seeded):
    assert seeded.public.get("/f/not-a-form").status_code == 404
    assert seeded.public.post("/f/not-a-form", data={"email": "a@b.test"}).status_code == 404


def test_invalid_input_is_shown_inline_with_the_values_kept_and_escaped(seeded):
    page = seeded.public.post(
        f"/f/{seeded.public_id}", data={"email": "nope", "first_name": "<script>x</script>"}
    )

    assert page.status_code == 422
    assert 'aria-invalid="true" aria-describedby="f-email-error"' in page.text
    assert "enter a valid email address" in page.text
    assert 'value="nope"' in page.text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text and "<script>x" not in page.text
    assert contacts() == []


def test_the_honeypot_answers_like_a_success_and_a_flood_gets_429(seeded):
    url = f"/f/{seeded.public_id}"
    bot = seeded.public.post(url, data={"email": "bot@spam.test", "website": "spam"})
    assert bot.status_code == 200 and "Thank you!" in bot.text
    assert contacts() == []

    ip = {"REMOTE_ADDR": "198.51.100.9"}
    for i in range(5):
        ok = seeded.public.post(url, data={"email": f"p{i}@example.com"}, environ_base=ip)
        assert ok.status_code == 200
    limited = seeded.public.post(url, data={"email": "p5@example.com"}, environ_base=ip)
    assert limited.status_code == 429
    assert "Please try again a little later" in limited.text
    assert len(contacts()) == 5


def row_counts() -> dict[str, int]:
    """Rows in every table of the schema."""
    db.session.expire_all()
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def test_a_thousand_honeypot_and_a_thousand_rate_limited_posts_store_no_row(seeded):
    url = f"/f/{seeded.public_id}"
    ip = {"REMOTE_ADDR": "198.51.100.9"}
    for i in range(5):
        ok = seeded.public.post(url, data={"email": f"p{i}@example.com"}, environ_base=ip)
        assert ok.status_code == 200
    before = row_counts()
    assert before["contacts"] == 5 and before["form_submissions"] == 5

    for i in range(1000):
        bot = seeded.public.post(url, data={"email": f"bot{i}@spam.test", "website": "x"})
        assert bot.status_code == 200
        limited = seeded.public.post(url, data={"email": f"q{i}@example.com"}, environ_base=ip)
        assert limited.status_code == 429

    assert row_counts() == before


def test_a_redirect_url_sends_the_visitor_on_with_303(app, seeded):
    form = db.session.get(Form, uuid.UUID(seeded.form_id))
    forms.update_form(form, {"redirect_url": "https://example.com/thanks"})
    done = seeded.public.post(f"/f/{seeded.public_id}", data={"email": "ada@example.com"})
    assert done.status_code == 303
    assert done.headers["Location"] == "https://example.com/thanks"


def test_the_forms_page_needs_sign_in(seeded):
    page = seeded.public.get("/forms")
    assert page.status_code == 302 and "/sign-in" in page.headers["Location"]
    assert seeded.public.get(f"/forms/{seeded.form_id}").status_code == 302


def test_the_forms_page_lists_links_sequences_counts_and_embed_snippets(seeded):
    seeded.public.post(f"/f/{seeded.public_id}", data={"email": "ada@example.com"})
    seeded.public.post(f"/f/{seeded.public_id}", data={"email": "b@spam.test", "website": "x"})

    page = seeded.web.get("/forms")

    assert page.status_code == 200
    link = f"http://pm.test/f/{seeded.public_id}"
    assert f'<a href="{link}" target="_blank" rel="noopener">{link}</a>' in page.text
    assert f'href="/sequences/{seeded.sequence_id}">Ebook follow-up</a>' in page.text
    assert "Submissions: <strong>1</strong> accepted</p>" in page.text
    snippets = [html.unescape(s) for s in _textareas(page.text)]
    assert snippets[0].startswith(f'<iframe src="{link}" title="Ebook Download"')
    assert snippets[1].startswith(f'<form action="{link}" method="post">')
    assert 'name="email" required' in snippets[1] and 'name="website"' in snippets[1]
    assert page.text.count(">Copy</button>") == 2
    assert 'aria-current="page">Forms</a>' in page.text


def test_forms_are_scoped_to_the_workspace(app, seeded):
    globex = signed_in(app, "Globex", "g@globex.test")

    listed = globex.get("/forms")
    assert "Ebook Download" not in listed.text and "No forms yet" in listed.text
    assert globex.get(f"/forms/{seeded.form_id}").status_code == 404
    token = globex.csrf_token("/forms")
    refused = globex.post(
        f"/forms/{seeded.form_id}", data={"csrf_token": token, "success_message": "Mine"}
    )
    assert refused.status_code == 404


def test_settings_refuse_a_javascript_redirect_and_save_good_changes(seeded):
    url = f"/forms/{seeded.form_id}"
    token = seeded.web.csrf_token(url)
    base = {
        "csrf_token": token,
        "label.email": "Work email",
        "label.first_name": "First name",
        "success_message": "Enjoy the book!",
    }

    refused = seeded.web.post(url, data={**base, "redirect_url": "javascript:alert(1)"})

    assert refused.status_code == 422
    assert 'aria-invalid="true" aria-describedby="ff-redirect_url-error"' in refused.text
    assert "enter a full http:// or https:// address" in refused.text
    assert 'value="javascript:alert(1)"' in refused.text
    form = db.session.scalar(select(Form))
    assert forms.settings_of(form)["redirect_url"] == ""
    assert form.fields[0]["label"] == "Email"

    saved = seeded.web.post(
        url,
        data={
            **base,
            "redirect_url": "",
            "required.first_name": "on",
            "new.name": "company",
            "new.label": "Company",
            "new.type": "text",
        },
    )
    assert saved.status_code == 303
    db.session.expire_all()
    form = db.session.scalar(select(Form))
    assert [(f["name"], f["label"], f["required"]) for f in form.fields] == [
        ("email", "Work email", True),
        ("first_name", "First name", True),
        ("company", "Company", False),
    ]
    assert forms.settings_of(form)["success_message"] == "Enjoy the book!"
    public = seeded.public.get(f"/f/{seeded.public_id}")
    assert '<label for="f-company">Company' in public.text


def test_a_bad_new_field_name_is_shown_beside_its_input(seeded):
    url = f"/forms/{seeded.form_id}"
    page = seeded.web.post(
        url,
        data={
            "csrf_token": seeded.web.csrf_token(url),
            "label.email": "Email",
            "label.first_name": "",
            "success_message": "Thanks",
            "new.name": "Bad Name",
            "new.label": "Bad",
        },
    )
    assert page.status_code == 422
    assert 'id="ff-new.name-error"' in page.text and 'id="ff-label.first_name-error"' in page.text
    form = db.session.scalar(select(Form))
    assert [f["label"] for f in form.fields] == ["Email", "First name"]


def test_the_sequence_settings_panel_shows_the_hosted_form_link(seeded):
    panel = seeded.web.get(f"/sequences/{seeded.sequence_id}/settings")
    link = f"http://pm.test/f/{seeded.public_id}"
    assert panel.status_code == 200
    assert f'Hosted form: <a href="{link}"' in panel.text


def _textareas(text: str) -> list[str]:
    return re.findall(r'<textarea id="snippet-[^"]+"[^>]*>(.*?)</textarea>', text, re.S)


def test_behind_a_trusted_proxy_the_limit_is_per_forwarded_client(app, seeded):
    from app import trust_proxies

    app.config["PROXY_HOPS"] = 1
    trust_proxies(app)
    url = f"/f/{seeded.public_id}"
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for i in range(6):  # six visitors behind the same proxy: each has its own allowance
        client = {"X-Forwarded-For": f"203.0.113.{i}"}
        answer = seeded.public.post(
            url, data={"email": f"v{i}@example.com"}, environ_base=proxy, headers=client
        )
        assert answer.status_code == 200
    same = {"X-Forwarded-For": "203.0.113.0"}
    for i in range(4):
        seeded.public.post(
            url, data={"email": f"w{i}@example.com"}, environ_base=proxy, headers=same
        )
    limited = seeded.public.post(
        url, data={"email": "w9@example.com"}, environ_base=proxy, headers=same
    )
    assert limited.status_code == 429
