"""The `flask` commands an operator types: workspaces, users, tokens, tick."""

from __future__ import annotations

import uuid

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import User, Workspace
from app.services import accounts
from tests.engine.test_onboarding_e2e import start_onboarding
from tests.helpers import THE_DAY_WRITTEN_FOR

pytestmark = pytest.mark.local_time  # `tick --now` parsed, refused when naive


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=list(args))


def test_workspaces_create_prints_the_new_id(app):
    result = run(app, "workspaces", "create", "Acme")
    assert result.exit_code == 0, result.output
    printed = uuid.UUID(result.output.strip())
    workspace = db.session.scalar(select(Workspace).where(Workspace.name == "Acme"))
    assert workspace is not None and workspace.id == printed


def test_a_duplicate_workspace_name_fails_clearly(app):
    assert run(app, "workspaces", "create", "Acme").exit_code == 0
    result = run(app, "workspaces", "create", "Acme")
    assert result.exit_code != 0
    assert "a workspace named 'Acme' already exists" in result.output
    assert "Traceback" not in result.output
    assert len(db.session.scalars(select(Workspace)).all()) == 1


def test_users_create_makes_a_user_who_can_sign_in(app):
    run(app, "workspaces", "create", "Acme")
    result = run(
        app, "users", "create", "Ops@Acme.test", "--workspace", "Acme", "--password", "long-enough"
    )
    assert result.exit_code == 0, result.output
    user = db.session.get(User, uuid.UUID(result.output.strip()))
    assert user is not None and user.email == "ops@acme.test"
    assert user.workspace.name == "Acme"
    assert accounts.authenticate("ops@acme.test", "long-enough") == user
    assert accounts.authenticate("ops@acme.test", "wrong-password") is None


def test_users_create_for_an_unknown_workspace_fails_clearly(app):
    result = run(app, "users", "create", "a@b.test", "--workspace", "Nope", "--password", "x" * 12)
    assert result.exit_code != 0
    assert "no workspace named 'Nope'" in result.output
    assert db.session.scalars(select(User)).all() == []


def test_users_create_with_a_short_password_fails_clearly(app):
    run(app, "workspaces", "create", "Acme")
    result = run(app, "users", "create", "a@b.test", "--workspace", "Acme", "--password", "short")
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output


def test_a_token_from_the_cli_opens_the_api_for_its_workspace(app):
    run(app, "workspaces", "create", "Acme")
    result = run(app, "tokens", "create", "--workspace", "Acme", "--label", "ci")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("pm_")

    client = app.test_client()
    listed = client.get("/api/sequences", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert listed.json == {"sequences": []}
    wrong = client.get("/api/sequences", headers={"Authorization": f"Bearer {token}x"})
    assert wrong.status_code == 401


def test_tokens_create_for_an_unknown_workspace_fails_clearly(app):
    result = run(app, "tokens", "create", "--workspace", "Nope")
    assert result.exit_code != 0
    assert "no workspace named 'Nope'" in result.output


@pytest.mark.wall_clock(THE_DAY_WRITTEN_FOR)
def test_tick_prints_a_summary_of_what_it_did(app, api):
    start_onboarding(api)  # three contacts enrolled now, their first email due now
    result = run(app, "sequences", "tick", "--now", "2026-12-07T14:00:00Z")
    assert result.exit_code == 0, result.output
    summary = result.output.strip()
    assert summary.startswith("2026-12-07T14:00:00+00:00: 3 enrollment(s) advanced")
    assert "3 email(s) queued" in summary
    assert "captured 3" in summary  # no SMTP_URL: captured to the outbox

    again = run(app, "sequences", "tick", "--now", "2026-12-07T14:00:00Z")
    assert "0 enrollment(s) advanced" in again.output and "captured 0" in again.output


def test_tick_without_now_uses_the_clock(app):
    result = run(app, "sequences", "tick")
    assert result.exit_code == 0, result.output
    assert "0 enrollment(s) advanced" in result.output


def test_a_bad_now_fails_naming_the_option(app):
    result = run(app, "sequences", "tick", "--now", "next tuesday")
    assert result.exit_code != 0
    assert "--now" in result.output and "ISO 8601" in result.output

    naive = run(app, "sequences", "tick", "--now", "2026-12-07T14:00:00")
    assert naive.exit_code != 0
    assert "--now" in naive.output and "time zone" in naive.output
