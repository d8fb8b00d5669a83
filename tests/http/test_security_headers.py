"""Every response carries the security headers; only the hosted form may be framed, and no
template runs an inline script (the policy would block it)."""

from __future__ import annotations

import re
from pathlib import Path

from app.services import accounts, forms
from tests.services.test_forms import ebook_sequence
from tests.web.client import Web, signed_in

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"


def directives(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def assert_hardened(response, framable: bool = False) -> None:
    policy = directives(response)
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    if framable:
        assert "frame-ancestors" not in policy
        assert "X-Frame-Options" not in response.headers
    else:
        assert policy["frame-ancestors"] == "'none'"
        assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_the_api_static_files_and_errors_carry_the_headers(app, api):
    web = signed_in(app, "Beta", "marketer@beta.test")
    for response in (
        web.get("/sequences"),
        web.get("/sign-in"),
        web.get("/static/app.css"),
        web.get("/no-such-page"),
        api.get("/api/sequences"),
        api.client.get("/api/sequences"),  # 401
    ):
        assert_hardened(response)


def test_only_the_hosted_form_may_be_framed_by_other_sites(app):
    sequence = ebook_sequence(accounts.create_workspace("Acme"))
    [form] = forms.ensure_forms_for_workspace(sequence.workspace_id)
    visitor = Web(app)
    assert_hardened(visitor.get(f"/f/{form.public_id}"), framable=True)
    submitted = visitor.post(f"/f/{form.public_id}", data={"email": "a@example.com"})
    assert submitted.status_code == 200
    assert_hardened(submitted, framable=True)


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{template.name}: {tag}")
        offenders += [f"{template.name}: {m}" for m in re.findall(r"\son[a-z]+\s*=", text)]
    assert offenders == []
