"""The `flask` commands outside tools rely on: workspaces, users, tokens, tick, demo, serve."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask

from app.services import accounts
from app.services.scheduling import run_tick


def _parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--now") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give a time zone, e.g. 2026-12-07T14:00:00Z", param_hint="--now")
    return parsed.astimezone(UTC)


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc))


def register_cli(app: Flask) -> None:
    @app.cli.group("workspaces")
    def workspaces() -> None:
        """Manage workspaces."""

    @workspaces.command("create")
    @click.argument("name")
    @click.option("--timezone", default="UTC", help="Default zone for contacts without one.")
    def create_workspace(name: str, timezone: str) -> None:
        """Create a workspace and print its id."""
        try:
            workspace = accounts.create_workspace(name, timezone)
        except accounts.AccountError as exc:
            _fail(exc)
        click.echo(str(workspace.id))

    @app.cli.group("users")
    def users() -> None:
        """Manage users."""

    @users.command("create")
    @click.argument("email")
    @click.option("--workspace", "workspace_name", required=True)
    @click.option("--password", required=True)
    def create_user(email: str, workspace_name: str, password: str) -> None:
        """Create a user who signs in to WORKSPACE."""
        try:
            user = accounts.create_user(email, accounts.workspace_named(workspace_name), password)
        except accounts.AccountError as exc:
            _fail(exc)
        click.echo(str(user.id))

    @app.cli.group("tokens")
    def tokens() -> None:
        """Manage API tokens."""

    @tokens.command("create")
    @click.option("--workspace", "workspace_name", required=True)
    @click.option("--label", default=None)
    def create_token(workspace_name: str, label: str | None) -> None:
        """Create an API token; it is printed once, as the last line."""
        try:
            workspace = accounts.workspace_named(workspace_name)
        except accounts.AccountError as exc:
            _fail(exc)
        click.echo(accounts.create_token(workspace, label))

    @app.cli.group("sequences")
    def sequences() -> None:
        """Run the engine by hand."""

    @sequences.command("tick")
    @click.option("--now", "now_text", default=None, help="Act as of this instant (ISO 8601).")
    def tick(now_text: str | None) -> None:
        """One processor pass and one dispatch pass, then exit."""
        report = run_tick(_parse_now(now_text))
        click.echo(report.summary())

    from app.demo import register_demo_cli
    from app.serve import register_serve_cli

    register_demo_cli(app)
    register_serve_cli(app)
