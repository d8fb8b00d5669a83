"""The Settings page shows the workspace's webhook signing secret, made on first view, and
rotates it (with a CSRF token) so that later webhooks are signed with the new one."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Workspace
from tests.web.client import signed_in

SECRET = re.compile(r'id="webhook-secret" class="code" value="(whsec_[A-Za-z0-9_-]{40,})"')


def stored_secret(name: str) -> str | None:
    db.session.expire_all()
    return db.session.scalar(select(Workspace.webhook_secret).where(Workspace.name == name))


def test_the_webhook_secret_is_made_once_and_shown_on_settings(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    assert stored_secret("Acme") is None
    first = SECRET.search(web.get("/settings").text)
    assert first is not None and stored_secret("Acme") == first.group(1)
    again = SECRET.search(web.get("/settings").text)
    assert again is not None and again.group(1) == first.group(1)


def test_rotating_replaces_the_secret_and_needs_the_csrf_token(app):
    web = signed_in(app, "Acme", "ops@acme.test")
    old = SECRET.search(web.get("/settings").text).group(1)
    assert web.post("/settings/webhook-secret/rotate").status_code == 400
    assert stored_secret("Acme") == old

    token = web.csrf_token("/settings")
    assert (
        web.post("/settings/webhook-secret/rotate", data={"csrf_token": token}).status_code == 302
    )
    new = SECRET.search(web.get("/settings").text).group(1)
    assert new != old and stored_secret("Acme") == new


def test_each_workspace_has_its_own_secret(app):
    acme = signed_in(app, "Acme", "ops@acme.test")
    beta = signed_in(app, "Beta", "ops@beta.test")
    ours = SECRET.search(acme.get("/settings").text).group(1)
    theirs = SECRET.search(beta.get("/settings").text).group(1)
    assert ours != theirs and theirs not in acme.get("/settings").text
