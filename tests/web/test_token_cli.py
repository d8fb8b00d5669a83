"""`flask tokens create|list|revoke`: an operator names, lists and revokes API tokens."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from click.testing import Result
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken
from app.services import accounts


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def new_token(app: Flask, workspace: str, name: str) -> str:
    result = run(app, "tokens", "create", "--workspace", workspace, "--name", name)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def api(app: Flask, token: str) -> tuple[int, dict]:
    """An API call in its own app context (its own database session), as in production."""
    with app.app_context():
        answer = app.test_client().get(
            "/api/sequences", headers={"Authorization": f"Bearer {token}"}
        )
    return answer.status_code, answer.json


def test_tokens_list_shows_name_prefix_and_dates_but_never_the_token(app):
    run(app, "workspaces", "create", "Acme")
    run(app, "workspaces", "create", "Beta")
    acme = new_token(app, "Acme", "CRM sync")
    beta = new_token(app, "Beta", "Zapier")
    assert api(app, acme)[0] == 200

    listed = run(app, "tokens", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 2
    assert acme not in listed.output and beta not in listed.output
    acme_line = next(line for line in lines if "CRM sync" in line)
    prefix, _id, workspace, name, created, last_used, state = acme_line.split("\t")
    assert prefix == acme[:10] and workspace == "Acme" and name == "CRM sync"
    assert created.startswith("created 20") and last_used.startswith("last used 20")
    assert state == "active"

    only_beta = run(app, "tokens", "list", "--workspace", "Beta")
    assert "Zapier" in only_beta.output and "CRM sync" not in only_beta.output


def test_tokens_revoke_by_prefix_closes_the_api_at_once(app):
    run(app, "workspaces", "create", "Acme")
    token = new_token(app, "Acme", "CI")
    other = new_token(app, "Acme", "Backup")

    result = run(app, "tokens", "revoke", token[:10])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"revoked: {token[:10]} CI"

    status, body = api(app, token)
    assert status == 401 and body["error"]["message"] == "this API token was revoked"
    assert api(app, other)[0] == 200
    assert "\trevoked 20" in run(app, "tokens", "list").output
    again = run(app, "tokens", "revoke", token[:10])
    assert again.exit_code == 0 and "already revoked" in again.output


def test_tokens_revoke_by_id(app):
    run(app, "workspaces", "create", "Acme")
    token = new_token(app, "Acme", "CI")
    record = db.session.scalar(select(ApiToken))
    assert run(app, "tokens", "revoke", str(record.id)).exit_code == 0
    assert api(app, token)[0] == 401


def test_revoking_an_unknown_token_fails_clearly(app):
    result = run(app, "tokens", "revoke", "pm_nothing")
    assert result.exit_code != 0
    assert "no API token with the id or prefix 'pm_nothing'" in result.output
    assert "Traceback" not in result.output


def test_a_token_name_with_a_line_break_is_refused(app):
    run(app, "workspaces", "create", "Acme")
    result = run(app, "tokens", "create", "--workspace", "Acme", "--name", "a\nb")
    assert result.exit_code != 0 and "no control characters" in result.output
    assert db.session.scalars(select(ApiToken)).all() == []


def test_last_used_is_written_at_most_once_a_minute(app, monkeypatch):
    run(app, "workspaces", "create", "Acme")
    token = new_token(app, "Acme", "CI")
    for _ in range(3):
        assert api(app, token)[0] == 200

    def last_used() -> datetime:
        with app.app_context():
            value = db.session.scalar(select(ApiToken.last_used_at))
        assert value is not None
        return value

    first = last_used()
    assert datetime.now(UTC) - first < timedelta(seconds=30)
    assert api(app, token)[0] == 200
    assert last_used() == first  # within the minute: no write

    with app.app_context():
        record = db.session.scalar(select(ApiToken))
        record.last_used_at = first - timedelta(minutes=2)
        db.session.commit()
    # the process trusts a checked token for TOKEN_CACHE_SECONDS without the database
    later = time.monotonic() + accounts.TOKEN_CACHE_SECONDS + 1
    monkeypatch.setattr(accounts, "time", SimpleNamespace(monotonic=lambda: later))
    api(app, token)
    assert last_used() > first
