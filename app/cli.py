"""The `flask` commands outside tools rely on: workspaces, users, tokens, tick, inbox poll,
sending domains, demo, serve."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask

from app.models import ApiToken
from app.services import accounts, inbox, sending_domains
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


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


def token_row(token: ApiToken) -> list[str]:
    state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "active"
    return [
        token.prefix,
        str(token.id),
        token.workspace.name,
        token.name,
        f"created {_when(token.created_at)}",
        f"last used {_when(token.last_used_at)}",
        state,
    ]


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
    @click.option("--name", "--label", "name", default="API token", help="Shown in lists.")
    def create_token(workspace_name: str, name: str) -> None:
        """Create an API token; it is printed once, as the last line."""
        try:
            click.echo(accounts.create_token(accounts.workspace_named(workspace_name), name))
        except accounts.AccountError as exc:
            _fail(exc)

    @tokens.command("list")
    @click.option("--workspace", "workspace_name", default=None, help="Only this workspace's.")
    def list_tokens(workspace_name: str | None) -> None:
        """One line per token: prefix, id, workspace, name, created, last used, state."""
        try:
            workspace = accounts.workspace_named(workspace_name) if workspace_name else None
        except accounts.AccountError as exc:
            _fail(exc)
        for token in accounts.list_tokens(workspace.id if workspace else None):
            click.echo("\t".join(token_row(token)))

    @tokens.command("revoke")
    @click.argument("prefix_or_id")
    def revoke_token(prefix_or_id: str) -> None:
        """Revoke a token at once, by its prefix (pm_...) or its id."""
        try:
            token = accounts.find_token(prefix_or_id)
        except accounts.AccountError as exc:
            _fail(exc)
        done = accounts.revoke_token(token, datetime.now(UTC))
        click.echo(f"{'revoked' if done else 'already revoked'}: {token.prefix} {token.name}")

    @app.cli.group("sequences")
    def sequences() -> None:
        """Run the engine by hand."""

    @sequences.command("tick")
    @click.option("--now", "now_text", default=None, help="Act as of this instant (ISO 8601).")
    def tick(now_text: str | None) -> None:
        """One A/B evaluation, processor, dispatch and call delivery pass, then exit."""
        report = run_tick(_parse_now(now_text))
        click.echo(report.summary())

    @app.cli.group("domains")
    def domains() -> None:
        """Sending domains: DKIM keys and the DNS records to publish."""

    @domains.command("add")
    @click.argument("domain")
    @click.option("--workspace", "workspace_name", required=True)
    def add_domain(domain: str, workspace_name: str) -> None:
        """Add DOMAIN with a new DKIM key; print its records, the DKIM TXT value last."""
        try:
            found = sending_domains.add_domain(accounts.workspace_named(workspace_name), domain)
        except (accounts.AccountError, sending_domains.DomainError) as exc:
            _fail(exc)
        records = sending_domains.dns_records(found)
        for record in reversed(records):  # the DKIM record, the one to copy, at the end
            click.echo(f"{record.kind.upper()} TXT {record.name}  ({record.note})")
            click.echo(record.value if record.kind == "dkim" else f"  {record.value}")

    @domains.command("check")
    @click.argument("domain")
    @click.option("--workspace", "workspace_name", required=True)
    def check_domain(domain: str, workspace_name: str) -> None:
        """Look DOMAIN's records up in DNS (DNS_RESOLVER); exit 1 unless DKIM is found."""
        try:
            workspace = accounts.workspace_named(workspace_name)
            found = sending_domains.find_domain(
                workspace.id, sending_domains.normalise_domain(domain)
            )
        except (accounts.AccountError, sending_domains.DomainError) as exc:
            _fail(exc)
        if found is None:
            _fail(ValueError(f"{domain} is not a sending domain of {workspace_name}"))
        results = sending_domains.check_domain(found, datetime.now(UTC))
        for kind in ("dkim", "spf", "dmarc"):
            click.echo(f"{kind.upper()}: {results[kind]['status']} ({results[kind]['detail']})")
        if results["dkim"]["status"] != "ok":
            raise SystemExit(1)

    @app.cli.group("inbox")
    def inbox_group() -> None:
        """Connected inboxes."""

    @inbox_group.command("poll")
    @click.option("--now", "now_text", default=None, help="Act as of this instant (ISO 8601).")
    def poll(now_text: str | None) -> None:
        """Read every connected mailbox's new messages once; one line per mailbox. Exits 1
        when a mailbox failed (after polling the others)."""
        reports = inbox.poll_all(_parse_now(now_text))
        if not reports:
            click.echo("no mailboxes connected")
        for report in reports:
            click.echo(report.summary())
        if any(report.error for report in reports):
            raise SystemExit(1)

    from app.demo import register_demo_cli
    from app.serve import register_serve_cli

    register_demo_cli(app)
    register_serve_cli(app)
