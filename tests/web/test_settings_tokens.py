"""The Settings page's API tokens: listed by name, dates and prefix only; created and shown
once; revoked at once, only within the workspace, only with a CSRF token."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, Workspace
from app.services import accounts
from tests.web.client import Web, signed_in

TOKEN = re.compile(r"pm_[A-Za-z0-9_-]{40,}")


def api_status(app: Flask, token: str) -> tuple[int, dict]:
    """An API call in its own app context (its own database session), as in production."""
    with app.app_context():
        answer = app.test_client().get(
            "/api/sequences", headers={"Authorization": f"Bearer {token}"}
        )
    return answer.status_code, answer.json


def workspace(name: str) -> Workspace:
    found = db.session.scalar(select(Workspace).where(Workspace.name == name))
    assert found is not None
    return found


def revoke(web: Web, token_id: object, with_csrf: bool = True) -> int:
    data = {"csrf_token": web.csrf_token("/settings")} if with_csrf else {}
    return web.post(f"/settings/tokens/{token_id}/revoke", data=data).status_code


def test_the_nav_links_to_settings(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert 'href="/settings"' in web.get("/sequences").text


def test_a_token_made_on_the_settings_page_is_shown_once_and_opens_the_api(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    made = web.post(
        "/settings/tokens", data={"csrf_token": web.csrf_token("/settings"), "name": "CRM sync"}
    )
    assert made.status_code == 200
    assert made.headers["Cache-Control"] == "no-store"
    shown = TOKEN.findall(made.text)
    assert len(shown) == 1
    token = shown[0]

    assert api_status(app, token)[0] == 200
    page = web.get("/settings").text
    assert token not in page and TOKEN.search(page) is None
    row = re.search(r'<tr data-token="[^"]+">(.*?)</tr>', page, re.S)
    assert row is not None
    assert "CRM sync" in row.group(1) and f"{token[:10]}…" in row.group(1)
    assert "never" not in row.group(1)  # last used: the API call above
    stored = db.session.scalar(select(ApiToken))
    assert stored is not None and stored.token_hash != token and token not in stored.token_hash


def test_revoking_on_the_settings_page_closes_the_api_at_once(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    token = accounts.create_token(workspace("Acme"), "CI")
    assert api_status(app, token)[0] == 200
    record = db.session.scalar(select(ApiToken))

    assert revoke(web, record.id) == 302
    status, body = api_status(app, token)
    assert status == 401
    assert body["error"]["message"] == "this API token was revoked"
    page = web.get("/settings").text
    assert "Revoked" in page and "revoked" in page
    assert revoke(web, record.id) == 302  # twice is harmless
    assert api_status(app, token)[0] == 401


def test_revoking_without_the_csrf_token_is_refused(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    token = accounts.create_token(workspace("Acme"), "CI")
    record = db.session.scalar(select(ApiToken))
    assert revoke(web, record.id, with_csrf=False) == 400
    assert api_status(app, token)[0] == 200


def test_another_workspaces_tokens_are_neither_listed_nor_revocable(app):
    acme = signed_in(app, "Acme", "ops@acme.test")
    signed_in(app, "Beta", "ops@beta.test")
    theirs = accounts.create_token(workspace("Beta"), "Beta secret integration")
    record = db.session.scalar(select(ApiToken))

    assert "Beta secret integration" not in acme.get("/settings").text
    assert revoke(acme, record.id) == 404
    assert api_status(app, theirs)[0] == 200


def test_a_token_needs_a_printable_name(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    for name, message in [
        ("   ", "give the token a name"),
        ("CRM\nsync", "no control characters"),
        ("x" * 101, "at most 100 characters"),
    ]:
        answer = web.post(
            "/settings/tokens", data={"csrf_token": web.csrf_token("/settings"), "name": name}
        )
        assert answer.status_code == 422
        assert message in answer.text and TOKEN.search(answer.text) is None
    assert db.session.scalars(select(ApiToken)).all() == []
